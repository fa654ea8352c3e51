"""A reviewer's change of an earlier judgment, recorded rather than overwritten: the earlier answer is kept
(retracted, and pointed at by its replacement), the gate tally moves from the old answer to the new one in the same
transaction, so results and the gate count only the current answer, once."""

from django.db import transaction
from django.utils import timezone

from core.errors import ConflictError, NotFoundError
from core.models import User
from reviews.models import Campaign, Judgment, ReviewerExclusion
from reviews.services.decisions import campaign_gate_check_on_commit
from reviews.services.gate_tally import (
    gate_tally_judgment_counted,
    gate_tally_judgment_counting,
    gate_tally_judgment_uncounting,
)
from reviews.services.judgments import (
    campaign_in_transaction,
    campaign_not_active,
    judgment_context,
    judgment_validate,
)


def judgment_change_refusal(*, campaign: Campaign, judgment: Judgment) -> ConflictError | None:
    """Why this judgment cannot be changed now, or None: the history panel shows it read-only for the same reasons
    the API refuses."""
    if campaign.status != Campaign.Status.ACTIVE:
        return campaign_not_active(campaign=campaign)
    if campaign.decision:
        # the gate read these answers to decide: changing one now would move evidence the decision rests on
        return ConflictError(
            f"The gate has decided this campaign ({campaign.decision}); its judgments can no longer be changed.",
            code="gate_decided",
            extra={"decision": campaign.decision},
        )
    if judgment.discarded_at:
        return ConflictError("The campaign's lead discarded this judgment; it cannot be changed.", code="not_counted")
    if judgment.retracted_at:
        return ConflictError(
            "This is not your current answer for the item (it was changed or undone).", code="judgment_superseded"
        )
    return None


def judgment_change(
    *,
    judgment_id: int,
    reviewer: User,
    choice: str | None = None,
    labels: list | None = None,
    ranking: list | None = None,
    ratings: dict | None = None,
    rationale: str = "",
    duration_ms: int | None = None,
    client_id: str = "",
) -> tuple[Judgment, bool]:
    """Replace the reviewer's current answer for an item. Returns (new judgment, created); the same client_id again
    returns the replacement already recorded."""
    client_id = (client_id or "")[:64]
    judgment = Judgment.objects.select_related("assignment", "task").filter(pk=judgment_id, reviewer=reviewer).first()
    if judgment is None:
        raise NotFoundError("No such judgment of yours.", code="judgment_not_found")
    if client_id:
        earlier = Judgment.objects.filter(reviewer=reviewer, client_id=client_id).first()
        if earlier is not None:
            if earlier.replaces_id != judgment.pk:
                raise ConflictError("This client_id was already used for another submission.", code="client_id_reused")
            return earlier, False
    with transaction.atomic():
        campaign = campaign_in_transaction(judgment.task.campaign_id)
        if campaign is None:
            raise NotFoundError("No such judgment of yours.", code="judgment_not_found")
        if ReviewerExclusion.objects.filter(campaign=campaign, reviewer=reviewer).exists():
            raise ConflictError("You are excluded from this campaign: your judgments do not count.", code="not_counted")
        refusal = judgment_change_refusal(campaign=campaign, judgment=judgment)
        if refusal is not None:
            raise refusal
        payload = judgment_validate(
            campaign=campaign, assignment=judgment.assignment, choice=choice, labels=labels, ranking=ranking,
            ratings=ratings,
        )  # fmt: skip
        tally = gate_tally_judgment_counting(campaign_id=campaign.pk)  # locks the tally: changes take turns
        gate_tally_judgment_uncounting(campaign=campaign, judgment_id=judgment.pk, task_id=judgment.task_id)
        if not Judgment.objects.filter(pk=judgment.pk, retracted_at__isnull=True, discarded_at__isnull=True).update(
            retracted_at=timezone.now()
        ):
            raise ConflictError("This answer was changed or undone meanwhile.", code="judgment_superseded")
        replacement = Judgment.objects.create(
            assignment=judgment.assignment,
            task_id=judgment.task_id,
            reviewer=reviewer,
            replaces=judgment,
            **judgment_context(rationale=rationale, duration_ms=duration_ms),
            client_id=client_id,
            **payload,
        )
        tally.refresh_from_db()  # the uncounting saved its own copy of the row
        gate_tally_judgment_counted(
            campaign=campaign, tally=tally, judgment_id=replacement.pk, task_id=replacement.task_id
        )
        campaign_gate_check_on_commit(campaign_id=campaign.pk)
    return replacement, True
