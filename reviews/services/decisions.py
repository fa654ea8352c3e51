"""Recording the moment the gate decides: once, with the webhook that tells approvers, in one transaction."""

import logging
from datetime import datetime, timedelta

from celery import current_app
from django.db import connection, transaction
from django.utils import timezone

from core.queue import task_enqueue, task_enqueue_on_commit
from reviews.models import Campaign, Judgment
from reviews.problems import DATA_ERRORS
from reviews.services.gate_tally import TallyGate, campaign_gate_from_tally
from reviews.services.notices import campaign_decided_notify
from webhooks.services import webhook_event_publish

logger = logging.getLogger(__name__)

GATE_CHECK_TASK = "reviews.tasks.campaign_gate_check_task"


def campaign_gate_check(*, campaign_id: int, force: bool = False) -> str:
    """Evaluate the gate and store what it says on the campaign (list pages read that, never the results); the
    first time it says pass or fail, record that and announce `campaign.decided`. Returns the gate's status.
    Safe to run many times and concurrently. `force`: look again although no judgment came in (the campaign was
    paused, closed, extended, or a reviewer excluded)."""
    campaign = Campaign.objects.select_related("candidate__model", "baseline__model", "dataset_version__dataset").get(
        pk=campaign_id
    )
    if campaign.decision:
        return campaign.decision
    if hasattr(campaign, "verdict"):
        return campaign.gate_state.get("status", "pending")  # signed off: the verdict froze the evidence
    newest = Judgment.objects.filter(task__campaign=campaign).order_by("-id").values_list("id", flat=True).first() or 0
    if not force and newest and newest <= campaign.gate_checked_through:
        return "pending"  # a check after this judgment has already run
    Campaign.objects.filter(pk=campaign.pk, gate_checked_through__lt=newest).update(gate_checked_through=newest)
    try:
        # the running tally, not campaign_results: the check's cost does not grow with the judgments in
        tallied = campaign_gate_from_tally(campaign=campaign, newest=newest)
    except DATA_ERRORS as exc:  # the results list bad data as problems; this is what slipped past them
        logger.exception("campaign %s: the gate check cannot read the campaign's results", campaign.pk)
        state = {
            "status": "pending",
            "reasons": [
                (
                    f"The gate could not be checked: the campaign's data cannot be read "
                    f"({type(exc).__name__}: {exc}). It is checked again after the next judgment."
                )
            ],
            "problems": [f"{type(exc).__name__}: {exc}"],
            "checked_at": timezone.now().isoformat(),
        }
        Campaign.objects.filter(pk=campaign.pk, decision="").update(gate_state=state)
        return "pending"  # stored where the lead sees it; a retry would fail the same way
    gate = tallied.gate
    state = gate_state_of(tallied=tallied)
    if gate.status not in ("pass", "fail"):
        Campaign.objects.filter(pk=campaign.pk, decision="").update(gate_state=state)
        return gate.status
    with transaction.atomic():
        decided = Campaign.objects.filter(pk=campaign.pk, decision="").update(
            decision=gate.status,
            decided_at=timezone.now(),
            decided_after=tallied.end["judged"],
            gate_state=state,
        )
        if decided:  # only the first check to see the decision announces it
            webhook_event_publish(
                event="campaign.decided",
                payload={
                    "campaign": {"id": campaign.pk, "name": campaign.name, "kind": campaign.kind},
                    "model_version": {"model": campaign.candidate.model.name, "version": campaign.candidate.version},
                    "decision": gate.status,
                    "reasons": gate.reasons,
                    "judgments": tallied.judgments,
                    "judged_items": tallied.end["judged"],
                    "planned_items": tallied.end["planned_end"],
                    "win_rate": tallied.win_rate,
                },
            )
            campaign_decided_notify(campaign=campaign, decision=gate.status)
    return gate.status


def gate_state_of(*, tallied: TallyGate) -> dict:
    """The part of the results list pages show: small, and stored whenever the gate is checked. The same keys and
    figures as the results' gate (reviews.results.campaign_results), from the gate's running tally."""
    return {
        "status": tallied.gate.status,
        "reasons": tallied.gate.reasons,
        "judged": tallied.end["judged"],
        "planned_end": tallied.end["planned_end"],
        "horizon": tallied.end["horizon"],  # where the test was truncated when it decided: read there ever after
        "judgments": tallied.judgments,
        "win_rate": tallied.win_rate,
        "checked_at": timezone.now().isoformat(),
        "problems": tallied.problems,
    }


# A check scheduled for a campaign runs _GATE_CHECK_DELAY after the judgment that scheduled it, so it sees every
# judgment committed before then: a burst of judgments sends one message rather than one each. When that check
# is due lives on the campaign row (gate_check_due_at), so all web processes share one debounce.
_GATE_CHECK_DELAY = 1.0
# The row's due time is set a little earlier than the task's ETA, so clock drift between the web processes and the
# worker (the ETA is the sender's clock, read by the worker's) cannot let a skipped judgment miss the check.
_GATE_CHECK_MARGIN = 0.1


def campaign_gate_check_on_commit(*, campaign_id: int) -> None:
    """After a judgment commits, look at the gate in the background (the worker), not in the reviewer's request."""
    transaction.on_commit(lambda: _gate_check_schedule(campaign_id))


def campaign_gate_recheck_on_commit(*, campaign_id: int) -> None:
    """After a change that is not a judgment (paused, closed, extended, a reviewer excluded), look at the gate again."""

    task_enqueue_on_commit(GATE_CHECK_TASK, args=[campaign_id], kwargs={"force": True})


# Per campaign, the due time of the pending check this process knows of (it claimed the window, or lost the claim
# and read the winner's). A judgment this process commits before then is seen by that check, so it neither sends a
# message nor a statement: the row is claimed, or read, once per window per process rather than once per judgment.
# (Were the winner to fail to send, the judgments skipped here wait for the next judgment after the window, whose
# check sees them all; a lost message loses nothing else, as before.) Cleared by tests: ids are reused there.
known_due: dict[int, datetime] = {}


def _gate_check_schedule(campaign_id: int) -> None:
    if _gate_check_known_pending(campaign_id):
        return  # read before Celery's config: this is the common case, after nearly every judgment
    eager = current_app.conf.task_always_eager  # runs at once: no check is pending
    if not eager and not _gate_check_claim(campaign_id):
        return  # a check that will see this judgment is already scheduled, by this process or another
    try:
        task_enqueue(GATE_CHECK_TASK, args=[campaign_id], countdown=_GATE_CHECK_DELAY)
    except Exception:
        # the message did not leave: give the window back so the next judgment schedules the check
        known_due.pop(campaign_id, None)
        Campaign.objects.filter(pk=campaign_id).update(gate_check_due_at=None)
        raise


def _gate_check_known_pending(campaign_id: int) -> bool:
    due = known_due.get(campaign_id)
    return due is not None and timezone.now() < due


def _gate_check_claim(campaign_id: int) -> bool:
    """Whether this caller schedules the campaign's next check. One conditional UPDATE decides, so of several
    processes committing judgments at once exactly one wins per window; a loser reads the winner's due time, so
    this process skips both until then. Written out rather than built by the ORM (building it cost more than
    running it; figures: docs/bench-next-task.md, "Figures the code's comments point to")."""
    now = timezone.now()
    due = now + timedelta(seconds=_GATE_CHECK_DELAY - _GATE_CHECK_MARGIN)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [adapt(due), campaign_id, adapt(now)])
        if cursor.rowcount == 1:
            known_due[campaign_id] = due
            return True
        cursor.execute(_DUE_SQL, [campaign_id])
        row = cursor.fetchone()
    pending = row and Campaign._meta.get_field("gate_check_due_at").to_python(row[0])
    if isinstance(pending, datetime):
        if timezone.is_naive(pending):  # SQLite without a converter: naive UTC
            pending = timezone.make_aware(pending, connection.timezone)
        known_due[campaign_id] = pending
    return False


_DUE = Campaign._meta.get_field("gate_check_due_at").column
_CLAIM_SQL = (
    f"UPDATE {Campaign._meta.db_table} SET {_DUE} = %s "
    f"WHERE {Campaign._meta.pk.column} = %s AND ({_DUE} IS NULL OR {_DUE} <= %s)"
)
_DUE_SQL = f"SELECT {_DUE} FROM {Campaign._meta.db_table} WHERE {Campaign._meta.pk.column} = %s"
