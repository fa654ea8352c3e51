"""Recording an expert's judgment: validated against the campaign's kind, counted exactly once, undoable
for a short while by its author, and discardable (with a reason) by the campaign's lead."""

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import ApplicationError, ConflictError, ForbiddenError, NotFoundError
from core.models import User
from core.rawsql import columns, fetch_models, insert_model, sql_naming
from reviews.models import SLOTS, Assignment, Campaign, Judgment, ReviewerExclusion, Task
from reviews.selectors import campaign_user_is_lead
from reviews.services.assignments import assignment_revive
from reviews.services.decisions import campaign_gate_check_on_commit, campaign_gate_recheck_on_commit
from reviews.services.gate_tally import (
    gate_tally_judgment_counted,
    gate_tally_judgment_counting,
    gate_tally_judgment_uncounting,
)
from reviews.services.results_changes import campaign_results_changed


def _invalid(message: str, field: str) -> ApplicationError:
    return ApplicationError(message, code="invalid", extra={"field": field})


def _only(kind_field: str, given: dict[str, Any]) -> None:
    extra = [name for name, value in given.items() if name != kind_field and value not in (None, "", [], {})]
    if extra:
        raise _invalid(f"This campaign takes {kind_field}, not {', '.join(extra)}.", extra[0])


def _validated_ranking(ranking: Any, slots: list[str]) -> list[list[str]]:
    if not isinstance(ranking, list) or not ranking or not all(isinstance(group, list) and group for group in ranking):
        raise _invalid("ranking must be a list of non-empty lists of slots, best first.", "ranking")
    flat = [slot for group in ranking for slot in group]
    if sorted(flat) != sorted(slots) or len(set(flat)) != len(flat):
        raise _invalid(f"ranking must place every slot ({', '.join(slots)}) exactly once.", "ranking")
    return [sorted(group) for group in ranking]


def _validated_ratings(ratings: Any, rubric: list[dict], slots: list[str]) -> dict[str, dict[str, Any]]:
    if not isinstance(ratings, dict) or not ratings:
        raise _invalid("ratings must be an object.", "ratings")
    names = [c["name"] for c in rubric]
    if len(slots) == 1 and set(ratings) <= set(names):
        ratings = {slots[0]: ratings}  # one output: {criterion: value} is enough
    if set(ratings) != set(slots):
        raise _invalid(
            f"ratings must rate every output ({', '.join(slots)}), as {{slot: {{criterion: value}}}}.", "ratings"
        )
    for slot, scores in ratings.items():
        if not isinstance(scores, dict) or set(scores) != set(names):
            raise _invalid(f"ratings.{slot} must give every criterion: {', '.join(names)}.", "ratings")
        for criterion in rubric:
            _check_score(f"ratings.{slot}.{criterion['name']}", criterion["scale"], scores[criterion["name"]])
    return {slot: dict(ratings[slot]) for slot in slots}


def _check_score(where: str, scale: str, value: Any) -> None:
    if scale == "likert":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            raise _invalid(f"{where} must be a whole number from 1 to 5.", "ratings")
    elif value not in ("pass", "fail"):
        raise _invalid(f"{where} must be 'pass' or 'fail'.", "ratings")


def judgment_validate(
    *,
    campaign: Campaign,
    assignment: Assignment,
    choice: str | None = None,
    labels: list | None = None,
    ranking: list | None = None,
    ratings: dict | None = None,
) -> dict[str, Any]:
    """The judgment fields for this campaign's kind, or a 400 that says which field is wrong and why."""
    given = {"choice": choice, "labels": labels, "ranking": ranking, "ratings": ratings}
    slots = list(SLOTS[: len(assignment.slot_order)])
    if campaign.kind == Campaign.Kind.PAIRWISE:
        _only("choice", given)
        if choice not in Judgment.Choice.values:
            raise _invalid(f"choice must be one of {', '.join(Judgment.Choice.values)}.", "choice")
        return {"choice": choice}
    if campaign.kind == Campaign.Kind.RANKING:
        _only("ranking", given)
        return {"ranking": _validated_ranking(ranking, slots)}
    if campaign.kind == Campaign.Kind.RATING:
        _only("ratings", given)
        return {"ratings": _validated_ratings(ratings, campaign.rubric, slots)}
    _only("labels", given)
    if not isinstance(labels, list) or not labels:
        raise _invalid("labels must be a non-empty list.", "labels")
    unknown = [label for label in labels if label not in campaign.labels]
    if unknown:
        raise _invalid(f"Unknown labels {unknown}; this campaign's labels are {campaign.labels}.", "labels")
    if not campaign.multi_label and len(set(labels)) > 1:
        raise _invalid("This campaign takes exactly one label per item.", "labels")
    return {"labels": sorted(set(labels), key=campaign.labels.index)}


def judgment_context(*, rationale: str, duration_ms: int | None) -> dict[str, Any]:
    """What a judgment keeps beside its answer, as it keeps it: the comment cut to its limit, a duration only when
    positive (a browser's clock can run backwards)."""
    return {
        "rationale": (rationale or "")[:5000],
        "duration_ms": duration_ms if duration_ms and duration_ms > 0 else None,
    }


def campaign_not_active(*, campaign: Campaign | None) -> ConflictError:
    """Why a paused or closed campaign takes no judgment. A closed one's verdict froze the evidence (a late judgment
    would make the results disagree with it); a paused one's lead stopped the work for now: the browser keeps the
    judgment and sends it again once the campaign is resumed."""
    if campaign is not None and campaign.status == Campaign.Status.PAUSED:
        return ConflictError(
            f"This campaign is paused ({campaign.status_reason or 'by the lead'}); it takes no judgment "
            "until it is resumed.",
            code="campaign_not_active",
            extra={"status": campaign.status, "reason": campaign.status_reason},
        )
    reason = campaign.status_reason if campaign is not None else ""
    return ConflictError(
        f"This campaign is closed ({reason or 'signed off'}); it takes no more judgments.",
        code="campaign_closed",
        extra={"status": "closed", "reason": reason},
    )


_CAMPAIGN_SQL = sql_naming("SELECT {{columns}} FROM {Campaign} c WHERE c.{Campaign.id} = %s", Campaign=Campaign)


def campaign_in_transaction(campaign_id: int) -> Campaign | None:
    """Read the campaign inside the judgment's transaction, so a judgment and a sign-off cannot interleave:
    on PostgreSQL a key-share row lock (judgments don't block one another; a sign-off, a pause or close, an
    exclusion take FOR UPDATE, which waits for them and they for it); on SQLite the transaction already holds the
    write lock (callers write first). Not FOR SHARE: that also conflicts with the plain UPDATEs the gate check and
    its scheduling make to the row about once a second, and each queued every submission behind it (the tail of
    submit's latency, docs/bench-next-task.md)."""
    lock = " FOR KEY SHARE" if connection.vendor == "postgresql" else ""
    sql = _CAMPAIGN_SQL.format(columns=columns(Campaign, "c")) + lock
    return next(iter(fetch_models(Campaign, sql, [campaign_id])), None)


def _verdict_key(judgment: Judgment, assignment: Assignment) -> str:
    """A de-blinded summary of the judgment, to tell whether reviewers agree on an item."""
    if judgment.choice in ("A", "B"):
        return str(assignment.version_in(judgment.choice))
    if judgment.ranking:
        return repr([sorted(assignment.version_in(slot) for slot in group) for group in judgment.ranking])
    if judgment.ratings:
        return repr(sorted((assignment.version_in(slot), sorted(s.items())) for slot, s in judgment.ratings.items()))
    return judgment.choice or repr(judgment.labels)


def _raise_priority_if_reviewers_disagree(task_id: int) -> None:
    """Disagreement-first sampling: an item reviewers disagree on jumps the queue for its remaining judgments."""
    rows = Judgment.objects.counted().filter(task_id=task_id).select_related("assignment")
    if len({_verdict_key(j, j.assignment) for j in rows}) > 1:
        # never a known-answer item: its place after all ordinary work is what keeps it out of the ordinary claim's way
        Task.objects.ordinary().filter(pk=task_id, assigned_count__lt=F("capacity")).update(priority=-1)


# Submit is, with get-next, the reviewers' hottest path: its statements are written out rather than built by
# the ORM for each request (that took most of the request's CPU; docs/bench-next-task.md).
_ASSIGNMENT_SQL = sql_naming(
    """
SELECT {{columns}}, t.{Task.capacity}
FROM {Assignment} a JOIN {Task} t ON t.{Task.id} = a.{Assignment.task}
WHERE a.{Assignment.task} = %s AND a.{Assignment.reviewer} = %s
""",
    Assignment=Assignment,
    Task=Task,
)
# params: done, completed at, assignment id, open
_MARK_DONE_SQL = sql_naming(
    "UPDATE {A} SET {A.status} = %s, {A.completed_at} = %s WHERE {A.id} = %s AND {A.status} = %s", A=Assignment
)


if TYPE_CHECKING:

    class _AssignmentRow(Assignment):
        """What _assignment_for builds: an Assignment with its task's capacity read alongside."""

        task_capacity: int
else:
    _AssignmentRow = Assignment


def _assignment_for(*, task_id: int, reviewer: User) -> _AssignmentRow | None:
    """The reviewer's assignment for the task, whatever its status, with `task_capacity`."""
    sql = _ASSIGNMENT_SQL.format(columns=columns(Assignment, "a"))
    return next(iter(fetch_models(Assignment, sql, [task_id, reviewer.pk], extra=("task_capacity",))), None)


def _earlier_submission(*, reviewer: User, client_id: str, task_id: int) -> Judgment | None:
    """The judgment this client_id already recorded, if any: a retry gets it back. Used for another task, it is a 409."""
    earlier = Judgment.objects.filter(reviewer=reviewer, client_id=client_id).first() if client_id else None
    if earlier and earlier.task_id != int(task_id):
        raise ConflictError("This client_id was already used for another task.", code="client_id_reused")
    return earlier


def _earlier_submission_or_refusal(
    assignment: Assignment | None, *, reviewer: User, client_id: str, task_id: int
) -> tuple[Judgment, bool]:
    """No open assignment to judge: a retry of a recorded submission (its assignment is done) gets the first
    answer; anything else is refused with the reason."""
    earlier = _earlier_submission(reviewer=reviewer, client_id=client_id, task_id=task_id)
    if earlier:
        return earlier, False
    if assignment is None:
        raise NotFoundError("No such task is assigned to you.", code="task_not_found")
    if assignment.status == Assignment.Status.DONE:
        raise ConflictError("You have already judged this task.", code="already_judged")
    raise ConflictError("You skipped this task.", code="skipped")


class _FlippedFirst(Exception):
    """Another submission flipped the assignment to done before this one could."""


def judgment_submit(
    *,
    task_id: int,
    reviewer: User,
    choice: str | None = None,
    labels: list | None = None,
    ranking: list | None = None,
    ratings: dict | None = None,
    rationale: str = "",
    duration_ms: int | None = None,
    client_id: str = "",
) -> tuple[Judgment, bool]:
    """Returns (judgment, created). The same client_id again returns the judgment already recorded."""
    client_id = (client_id or "")[:64]
    assignment = _assignment_for(task_id=task_id, reviewer=reviewer)
    if assignment is None or assignment.status in (Assignment.Status.DONE, Assignment.Status.SKIPPED):
        return _earlier_submission_or_refusal(assignment, reviewer=reviewer, client_id=client_id, task_id=task_id)
    if assignment.status == Assignment.Status.EXPIRED:
        assignment_revive(assignment=Assignment.objects.select_related("task__campaign").get(pk=assignment.pk))
    try:
        with transaction.atomic():
            # Flip open -> done first: of two concurrent submissions exactly one sees rowcount 1.
            with connection.cursor() as cursor:
                cursor.execute(
                    _MARK_DONE_SQL, [Assignment.Status.DONE, timezone.now(), assignment.pk, Assignment.Status.OPEN]
                )
                if cursor.rowcount != 1:
                    raise _FlippedFirst
            campaign = campaign_in_transaction(assignment.campaign_id)
            if campaign is None or campaign.status != Campaign.Status.ACTIVE:
                raise campaign_not_active(campaign=campaign)
            payload = judgment_validate(
                campaign=campaign, assignment=assignment, choice=choice, labels=labels, ranking=ranking, ratings=ratings
            )
            tally = gate_tally_judgment_counting(campaign_id=campaign.pk)  # before the insert: ids in tally order
            judgment = insert_model(  # the ORM's create() built more than it ran (docs/bench-next-task.md)
                Judgment(
                    assignment=assignment,
                    task_id=assignment.task_id,
                    reviewer=reviewer,
                    **judgment_context(rationale=rationale, duration_ms=duration_ms),
                    client_id=client_id,
                    **payload,
                )
            )
            gate_tally_judgment_counted(
                campaign=campaign, tally=tally, judgment_id=judgment.pk, task_id=assignment.task_id
            )
            if campaign.sampling == Campaign.Sampling.DISAGREEMENT and assignment.task_capacity > 1:
                _raise_priority_if_reviewers_disagree(assignment.task_id)
            campaign_gate_check_on_commit(campaign_id=campaign.pk)
            return judgment, True
    except (_FlippedFirst, IntegrityError):
        # Another submission for this assignment committed first: the flip waited for its row lock (PostgreSQL)
        # or for the write lock (SQLite), so its judgment is committed and visible to this new statement. If it
        # was this submission's own earlier attempt (same client_id), the retry answers with what it recorded.
        earlier = _earlier_submission(reviewer=reviewer, client_id=client_id, task_id=task_id)
        if earlier:
            return earlier, False
        raise ConflictError("You have already judged this task.", code="already_judged") from None


def undo_window() -> timedelta:
    return timedelta(seconds=settings.SIGNOFF_UNDO_SECONDS)


def judgment_undo(*, judgment_id: int, reviewer: User) -> Assignment:
    """The reviewer takes back their judgment within the undo window; the task is theirs to judge again."""
    judgment = (
        Judgment.objects.select_related("assignment", "task__campaign")
        .filter(pk=judgment_id, reviewer=reviewer)
        .first()
    )
    if judgment is None or judgment.retracted_at or judgment.discarded_at:
        raise NotFoundError("No such judgment of yours to undo.", code="judgment_not_found")
    if timezone.now() - judgment.created_at > undo_window():
        raise ConflictError(
            f"Judgments can be undone for {settings.SIGNOFF_UNDO_SECONDS} seconds; this one is older.",
            code="undo_window_passed",
        )
    campaign = judgment.task.campaign
    with transaction.atomic():
        current = campaign_in_transaction(campaign.pk)
        if current is None or current.status != Campaign.Status.ACTIVE:
            raise campaign_not_active(campaign=current)
        gate_tally_judgment_uncounting(campaign=current, judgment_id=judgment.pk, task_id=judgment.task_id)
        if not Judgment.objects.filter(pk=judgment.pk, retracted_at__isnull=True).update(retracted_at=timezone.now()):
            raise NotFoundError("No such judgment of yours to undo.", code="judgment_not_found")
        Assignment.objects.filter(pk=judgment.assignment_id, status=Assignment.Status.DONE).update(
            status=Assignment.Status.OPEN,
            completed_at=None,
            lease_expires_at=timezone.now() + timedelta(seconds=campaign.lease_seconds),
        )
    judgment.assignment.refresh_from_db()
    return judgment.assignment


def campaign_lead_check(*, campaign: Campaign, user: User) -> None:
    """Refuse anyone but the campaign's lead (reviews.selectors.campaign_user_is_lead, the one rule)."""
    if not campaign_user_is_lead(campaign=campaign, user=user):
        raise ForbiddenError(
            "Only the campaign's lead (its creator) or an admin can do this.", code="not_campaign_lead"
        )


def judgment_discard(*, judgment: Judgment, actor: User, reason: str) -> Judgment:
    """The lead sets a judgment aside with a reason (kept, audited, no longer counted); the item gets room
    for another reviewer's judgment."""
    campaign = judgment.task.campaign
    campaign_lead_check(campaign=campaign, user=actor)
    if not (reason or "").strip():
        raise _invalid("Say why this judgment is discarded.", "reason")
    if campaign.status == Campaign.Status.CLOSED:  # a paused campaign's lead may still tidy its judgments
        raise ConflictError("This campaign is closed; its judgments are final.", code="campaign_closed")
    if ReviewerExclusion.objects.filter(campaign=campaign, reviewer_id=judgment.reviewer_id).exists():
        # the exclusion already took their judgments out and reopened their items: a discard would do it twice
        raise ConflictError("This reviewer is excluded: their judgments already do not count.", code="not_counted")
    with transaction.atomic():
        gate_tally_judgment_uncounting(campaign=campaign, judgment_id=judgment.pk, task_id=judgment.task_id)
        if not Judgment.objects.filter(pk=judgment.pk, discarded_at__isnull=True, retracted_at__isnull=True).update(
            discarded_at=timezone.now(), discarded_by=actor, discard_reason=reason.strip()[:2000]
        ):
            raise ConflictError("This judgment is already discarded or undone.", code="not_counted")
        Task.objects.filter(pk=judgment.task_id).update(assigned_count=F("assigned_count") - 1)
        campaign_results_changed(campaign_id=campaign.pk)
        campaign_gate_recheck_on_commit(campaign_id=campaign.pk)  # no new judgment: the debounced check would skip it
    judgment.refresh_from_db()
    return judgment
