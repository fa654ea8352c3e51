"""A campaign's life after creation: paused and resumed, closed, extended with more items, given more reviewers,
and closed when a verdict on its candidate makes its work moot."""

from django.db import transaction

from core.errors import ApplicationError, ConflictError
from core.models import User
from datasets.models import DatasetVersion, Item
from models_app.models import ModelVersion
from reviews.models import Campaign, Task
from reviews.results import campaign_versions
from reviews.selectors import users_active_by_username
from reviews.services.campaigns import campaign_plan_update, campaign_tasks_add
from reviews.services.decisions import campaign_gate_recheck_on_commit
from reviews.services.judgments import campaign_lead_check
from reviews.services.notices import campaigns_ended_notify
from reviews.services.results_changes import campaign_results_changed

# Which status may follow which; closed is final (a closed campaign's gate has decided, or never will).
# keyed by str: Campaign.status is a CharField, and a TextChoices member is equal to (and hashes as) its value
TRANSITIONS: dict[str, set[str]] = {
    Campaign.Status.ACTIVE: {Campaign.Status.PAUSED, Campaign.Status.CLOSED},
    Campaign.Status.PAUSED: {Campaign.Status.ACTIVE, Campaign.Status.CLOSED},
    Campaign.Status.CLOSED: set(),
}
REASONS: dict[str, str] = {Campaign.Status.PAUSED: "Paused by the lead", Campaign.Status.CLOSED: "Closed by the lead"}


def _locked(campaign: Campaign) -> Campaign:
    """The campaign row, locked: a judgment holds it FOR SHARE while it is recorded, so a pause waits for the
    judgments already on their way (they are kept) and every later one sees the new status."""
    return Campaign.objects.select_for_update().get(pk=campaign.pk)


@transaction.atomic
def campaign_status_set(*, campaign: Campaign, actor: User, status: str, reason: str = "") -> Campaign:
    campaign_lead_check(campaign=campaign, user=actor)
    if status not in Campaign.Status.values:
        raise ApplicationError(
            f"status must be one of {', '.join(Campaign.Status.values)}.", code="invalid", extra={"field": "status"}
        )
    campaign = _locked(campaign)
    if status == campaign.status:
        return campaign
    if status not in TRANSITIONS[campaign.status]:
        raise ConflictError(
            f"A {campaign.status} campaign cannot become {status}.",
            code="invalid_transition",
            extra={"status": campaign.status},
        )
    reason = (reason or "").strip()[:400]
    campaign.status = status
    campaign.status_reason = (
        "" if status == Campaign.Status.ACTIVE else REASONS[status] + (f": {reason}" if reason else "")
    )
    campaign.save(update_fields=["status", "status_reason", "updated_at"])
    if status == Campaign.Status.CLOSED:
        campaigns_ended_notify(
            campaigns=[campaign], reason=f"{campaign.status_reason}, by {actor.username}.", actor=actor
        )
    campaign_gate_recheck_on_commit(
        campaign_id=campaign.pk
    )  # closing early decides the gate (it cannot pass without its evidence)
    return campaign


@transaction.atomic
def campaign_extend(*, campaign: Campaign, actor: User, dataset_version: DatasetVersion) -> int:
    """Add a task for every item of `dataset_version` (the campaign's dataset) whose id the campaign does not have yet,
    and move the planned end with it. A decided gate is not reopened: that takes a new campaign."""
    campaign_lead_check(campaign=campaign, user=actor)
    campaign = _locked(campaign)
    if campaign.decision:
        raise ConflictError(
            f"The gate has decided ({campaign.decision}); a decided test is not reopened. "
            "Create a new campaign for the new items.",
            code="gate_decided",
        )
    if campaign.status == Campaign.Status.CLOSED:
        raise ConflictError("This campaign is closed.", code="campaign_closed")
    if dataset_version.dataset_id != campaign.dataset_version.dataset_id:
        raise ApplicationError(
            f"The campaign reviews dataset {campaign.dataset_version.dataset.name}; "
            f"{dataset_version} is another dataset's version.",
            code="invalid",
            extra={"field": "dataset_version"},
        )
    present = set(
        Item.objects.filter(pk__in=Task.objects.filter(campaign=campaign).values("item_id")).values_list(
            "external_id", flat=True
        )
    )
    added = campaign_tasks_add(
        campaign=campaign,
        versions=campaign_versions(campaign),
        dataset_version=dataset_version,
        skip_external_ids=present,
    )
    if added:
        campaign_plan_update(campaign=campaign)
        campaign_gate_recheck_on_commit(campaign_id=campaign.pk)
    return added


@transaction.atomic
def campaign_reviewers_add(*, campaign: Campaign, actor: User, usernames: list[str]) -> list[str]:
    """Add reviewers by username; returns every reviewer of the campaign afterwards."""
    campaign_lead_check(campaign=campaign, user=actor)
    if campaign.status == Campaign.Status.CLOSED:
        raise ConflictError("This campaign is closed.", code="campaign_closed")
    users = users_active_by_username(usernames=usernames, field="add")
    not_reviewers = sorted(u.username for u in users if not u.has_role(User.Role.REVIEWER))
    if not_reviewers:
        raise ApplicationError(
            f"Only users with the reviewer role can review; not reviewers: {', '.join(not_reviewers)}.",
            code="invalid",
            extra={"field": "add"},
        )
    campaign.reviewers.add(*users)
    campaign_results_changed(campaign_id=campaign.pk)  # each reviewer has a line in the results
    return sorted(campaign.reviewers.values_list("username", flat=True))


def campaigns_close_for_candidate(
    *, candidate: ModelVersion, reason: str, except_campaign: Campaign | None = None
) -> int:
    """A verdict on `candidate` makes every other open campaign on it moot: close them, saying why. Runs in the
    verdict's transaction, so reviewers never see work that can no longer count."""
    moot = Campaign.objects.filter(candidate=candidate).exclude(status=Campaign.Status.CLOSED)
    if except_campaign is not None:
        moot = moot.exclude(pk=except_campaign.pk)
    ending = list(moot.select_related("created_by"))
    closed = Campaign.objects.filter(pk__in=[c.pk for c in ending]).update(
        status=Campaign.Status.CLOSED, status_reason=reason[:500]
    )
    campaigns_ended_notify(campaigns=ending, reason=reason)
    return closed
