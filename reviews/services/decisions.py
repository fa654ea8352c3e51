"""Recording the moment the gate decides: once, with the webhook that tells approvers, in one transaction."""
from django.db import transaction
from django.utils import timezone

from reviews.models import Campaign, Judgment
from webhooks.services import webhook_event_publish


def campaign_gate_check(*, campaign_id: int) -> str:
    """Evaluate the gate; the first time it says pass or fail, record that on the campaign and announce
    `campaign.decided`. Returns the gate's status. Safe to run many times and concurrently."""
    from reviews.results import campaign_results

    campaign = Campaign.objects.select_related("candidate__model", "baseline__model", "dataset_version__dataset").get(pk=campaign_id)
    if campaign.decision:
        return campaign.decision
    newest = Judgment.objects.filter(task__campaign=campaign).order_by("-id").values_list("id", flat=True).first() or 0
    if newest and newest <= campaign.gate_checked_through:
        return "pending"  # a check after this judgment has already run
    Campaign.objects.filter(pk=campaign.pk, gate_checked_through__lt=newest).update(gate_checked_through=newest)
    results = campaign_results(campaign=campaign)
    gate = results["gate"]
    if gate["status"] not in ("pass", "fail"):
        return gate["status"]
    with transaction.atomic():
        decided = Campaign.objects.filter(pk=campaign.pk, decision="").update(
            decision=gate["status"], decided_at=timezone.now(), decided_after=results["judgments"]
        )
        if decided:  # only the first check to see the decision announces it
            webhook_event_publish(event="campaign.decided", payload={
                "campaign": {"id": campaign.pk, "name": campaign.name, "kind": campaign.kind},
                "model_version": {"model": campaign.candidate.model.name, "version": campaign.candidate.version},
                "decision": gate["status"], "reasons": gate["reasons"], "judgments": results["judgments"],
                "win_rate": results["win_rate"],
            })
    return gate["status"]


def campaign_gate_check_on_commit(campaign_id: int) -> None:
    """After a judgment commits, look at the gate in the background (the worker), not in the reviewer's request."""
    from reviews.tasks import campaign_gate_check_task

    # a second's delay lets a burst of judgments share one check
    transaction.on_commit(lambda: campaign_gate_check_task.apply_async((campaign_id,), countdown=1))
