"""The assignment engine: hand each reviewer their next task, never past the overlap, never the same item twice,
and give abandoned work back to the pool when its lease runs out."""

import random
from collections.abc import Collection
from datetime import datetime, timedelta
from functools import cache
from typing import Literal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import ApplicationError, ConflictError, NotFoundError
from core.models import User
from core.rawsql import columns, fetch_models, insert_model, sql_naming
from reviews.claimable import claimable_params, claimable_tasks_sql
from reviews.models import SLOTS, Assignment, Campaign, Task, TaskOutput
from reviews.quality import known_answer_drawn

# The task on screen and the one prefetched behind it: more would hoard work other reviewers could do.
MAX_OPEN_PER_REVIEWER = 2
CLAIM_ATTEMPTS = 8
REAP_BATCH = 500


def _shuffled(versions: list[int], candidate_id: int) -> tuple[list[int], str]:
    random.shuffle(versions)
    candidate_slot = SLOTS[versions.index(candidate_id)] if candidate_id in versions else ""
    return versions, candidate_slot


# In SQL because get-next reads these once per judgment, and the ORM took ~4x as long to build the query as to
# run it. Up to MAX_OPEN_PER_REVIEWER + 1 rows: what to hand back, and whether the reviewer may claim more.
_OPEN_SQL = """
SELECT {{columns}} FROM {Assignment} a
WHERE a.{Assignment.campaign} = %s AND a.{Assignment.reviewer} = %s AND a.{Assignment.status} = %s
ORDER BY a.{Assignment.id} LIMIT %s
"""


@cache
def _open_sql() -> str:
    return sql_naming(_OPEN_SQL, Assignment=Assignment).format(columns=columns(Assignment, "a"))


def _open_assignments(campaign: Campaign, reviewer: User) -> list[Assignment]:
    params = [campaign.pk, reviewer.pk, Assignment.Status.OPEN, MAX_OPEN_PER_REVIEWER + 1]
    return fetch_models(Assignment, _open_sql(), params)


def _quota_reached(campaign: Campaign, reviewer: User) -> bool:
    if campaign.quota_per_reviewer is None:
        return False
    taken = (
        Assignment.objects.filter(campaign=campaign, reviewer=reviewer)
        .exclude(status__in=[Assignment.Status.SKIPPED, Assignment.Status.EXPIRED])
        .count()
    )
    return taken >= campaign.quota_per_reviewer


def _stopped_by_gate(campaign: Campaign) -> bool:
    """Once the gate has decided, more judgments are experts' time spent for nothing (unless the policy says go on)."""
    return bool(campaign.decision) and campaign.gate_policy.get("stop_when_decided", True)


# PostgreSQL: the claimable-task statement (reviews.claimable, row-locked), the count and the task's outputs in
# one round trip; the portable path below sends the same statement, then the count and the outputs apart.
_CLAIM_CTE = """
WITH picked AS MATERIALIZED ({{claimable}}), counted AS (
    UPDATE {Task} t SET {Task.assigned_count} = t.{Task.assigned_count} + 1
    FROM picked WHERE t.{Task.id} = picked.{Task.id} AND t.{Task.assigned_count} < t.{Task.capacity}
    RETURNING t.{Task.id}
)
SELECT picked.{Task.id}, EXISTS (SELECT 1 FROM counted), ARRAY(
    SELECT o.{Output.model_version} FROM {Output} o WHERE o.{Output.task} = picked.{Task.id}
    ORDER BY o.{Output.model_version}
)
FROM picked
"""


@cache
def _claim_cte(known: bool) -> str:
    claimable = claimable_tasks_sql(known=known, lock=True)
    return sql_naming(_CLAIM_CTE, Task=Task, Output=TaskOutput).format(claimable=claimable)


def _assign(
    campaign: Campaign, reviewer: User, task_id: int, versions: list[int], claimed_at: datetime
) -> Assignment | Literal[False]:
    """The assignment of a task just counted in, its slot order drawn here; False (and the count undone by the
    caller's transaction) if this reviewer already has the task. The lease runs from the claim."""
    slot_order, candidate_slot = _shuffled(versions, campaign.candidate_id)
    try:
        return insert_model(
            Assignment(
                task_id=task_id,
                campaign=campaign,
                reviewer=reviewer,
                slot_order=slot_order,
                candidate_slot=candidate_slot,
                lease_expires_at=claimed_at + timedelta(seconds=campaign.lease_seconds),
            )
        )
    except IntegrityError:
        transaction.set_rollback(True)  # undo the increment too: this reviewer already has the task
        return False


def _claim_one_postgresql(
    campaign: Campaign, reviewer: User, known: bool = False
) -> Assignment | Literal[False] | None:
    """_claim_one in two statements: the claim, then the assignment.

    The commit does not wait for the WAL to reach the disk (synchronous_commit off for this transaction only):
    that wait was get-next's slowest part under load (fsync stalls of up to ~0.5 s on the benchmark's VM). A
    claim lost in a database crash is lost whole, count and assignment together, and only until the reviewer
    asks again; a judgment's commit waits for the disk as always, and with it for the claim before it."""
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute(
                _claim_cte(known), claimable_params(campaign_id=campaign.pk, reviewer_id=reviewer.pk, limit=1)
            )
            row = cursor.fetchone()
        if row is None:
            return None
        task_id, counted, versions = row
        if not counted:
            return False
        return _assign(campaign, reviewer, task_id, list(versions), now)


def _claim_one_portable(campaign: Campaign, reviewer: User, known: bool = False) -> Assignment | Literal[False] | None:
    """_claim_one on any database, one statement a step."""
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                claimable_tasks_sql(known=known, lock=True),
                claimable_params(campaign_id=campaign.pk, reviewer_id=reviewer.pk, limit=1),
            )
            row = cursor.fetchone()
        if row is None:
            return None
        task_id = row[0]
        if not Task.objects.filter(pk=task_id, assigned_count__lt=F("capacity")).update(
            assigned_count=F("assigned_count") + 1
        ):
            return False
        # by version: the order the PostgreSQL path reads them in
        versions = TaskOutput.objects.filter(task_id=task_id).order_by("model_version_id")
        return _assign(campaign, reviewer, task_id, list(versions.values_list("model_version_id", flat=True)), now)


def _claim_one(campaign: Campaign, reviewer: User, known: bool = False) -> Assignment | Literal[False] | None:
    """Claim the first claimable task (reviews.claimable) for this reviewer.

    Rows locked by another reviewer's claim are skipped (FOR UPDATE SKIP LOCKED on PostgreSQL); the
    conditional increment and the check constraint keep the count within capacity where that lock does
    not exist (SQLite), and the unique (task, reviewer) constraint stops a double claim.
    Returns the assignment, None when no task is left, or False when a race was lost (try again).
    `known`: a known-answer item rather than ordinary work (the two are never mixed up)."""
    if connection.vendor == "postgresql":
        return _claim_one_postgresql(campaign, reviewer, known)
    return _claim_one_portable(campaign, reviewer, known)


def _claim_ordinary(campaign: Campaign, reviewer: User) -> Assignment | None:
    """Ordinary work, trying again after a lost race, and once more after giving run-out leases back."""
    reaped = False
    for _ in range(CLAIM_ATTEMPTS):
        claimed = _claim_one(campaign, reviewer)
        if claimed:
            return claimed
        if claimed is None:
            if reaped or not assignments_expire(campaign=campaign):
                return None
            reaped = True  # expired leases gave tasks back: look once more
    return None


def assignment_claim_next(
    *, campaign: Campaign, reviewer: User, exclude_task_ids: Collection[int] = ()
) -> Assignment | None:
    """The reviewer's open assignment (other than those excluded, e.g. the one on screen), or a newly claimed
    one; None when nothing is left for them. Asking again renews the lease of what is returned."""
    if campaign.status != Campaign.Status.ACTIVE:
        return None  # signed off: nothing more is handed out, not even a task claimed before
    excluded = set(exclude_task_ids)
    open_now = _open_assignments(campaign, reviewer)  # read once
    existing = next((a for a in open_now if a.task_id not in excluded), None)
    if existing:
        existing.lease_expires_at = timezone.now() + timedelta(seconds=campaign.lease_seconds)
        Assignment.objects.filter(pk=existing.pk, status=Assignment.Status.OPEN).update(
            lease_expires_at=existing.lease_expires_at
        )
        return existing
    if len(open_now) >= MAX_OPEN_PER_REVIEWER or _quota_reached(campaign, reviewer) or _stopped_by_gate(campaign):
        return None
    if campaign.known_answer_rate and known_answer_drawn(campaign):
        # a known-answer item this reviewer has not had, handed out like any task; if none is left, ordinary work
        known = _claim_one(campaign, reviewer, known=True)
        if known:
            return known
    return _claim_ordinary(campaign, reviewer)


def assignments_expire(*, campaign: Campaign | None = None, now: datetime | None = None) -> int:
    """Give the tasks of open assignments whose lease ran out back to the pool. Returns how many."""
    now = now or timezone.now()
    stale = Assignment.objects.filter(status=Assignment.Status.OPEN, lease_expires_at__lt=now)
    if campaign is not None:
        stale = stale.filter(campaign=campaign)
    expired = 0
    for assignment_id, task_id in stale.values_list("id", "task_id")[:REAP_BATCH]:
        with transaction.atomic():
            if Assignment.objects.filter(
                pk=assignment_id, status=Assignment.Status.OPEN, lease_expires_at__lt=now
            ).update(status=Assignment.Status.EXPIRED):
                Task.objects.filter(pk=task_id).update(assigned_count=F("assigned_count") - 1)
                expired += 1
    return expired


def assignment_revive(*, assignment: Assignment) -> None:
    """A reviewer submits for a task whose lease ran out: take it back, with a fresh lease, if it still has room.

    The expired -> open flip comes first, so of two submissions racing here only one takes a slot; the fresh
    lease keeps the reaper from expiring it again before the submission lands."""
    lease = timedelta(seconds=assignment.task.campaign.lease_seconds)
    with transaction.atomic():
        revived = Assignment.objects.filter(pk=assignment.pk, status=Assignment.Status.EXPIRED).update(
            status=Assignment.Status.OPEN, lease_expires_at=timezone.now() + lease
        )
        if revived and not Task.objects.filter(pk=assignment.task_id, assigned_count__lt=F("capacity")).update(
            assigned_count=F("assigned_count") + 1
        ):
            # rolls the flip back too: the assignment stays expired
            raise ConflictError(
                "Your time on this task ran out and another reviewer has taken it.", code="lease_expired"
            )
    assignment.status = Assignment.Status.OPEN


def assignment_skip(*, task_id: int, reviewer: User, reason: str, flag: bool = False) -> Assignment:
    """Set a task aside (with a reason, optionally flagging the item as bad data); another reviewer takes it."""
    assignment = Assignment.objects.select_related("task").filter(task_id=task_id, reviewer=reviewer).first()
    if assignment is None:
        raise NotFoundError("No such task is assigned to you.", code="task_not_found")
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("Say why you skip this item.", code="invalid", extra={"field": "reason"})
    fields = {
        "status": Assignment.Status.SKIPPED,
        "skip_reason": reason[:500],
        "flagged": flag,
        "completed_at": timezone.now(),
    }
    with transaction.atomic():
        if Assignment.objects.filter(pk=assignment.pk, status=Assignment.Status.OPEN).update(**fields):
            Task.objects.filter(pk=assignment.task_id).update(
                assigned_count=F("assigned_count") - 1
            )  # room for another
        elif not Assignment.objects.filter(pk=assignment.pk, status=Assignment.Status.EXPIRED).update(**fields):
            raise ConflictError("This task is already judged or skipped.", code="not_open")
    assignment.refresh_from_db()
    return assignment


def assignment_unskip(*, task_id: int, reviewer: User) -> Assignment:
    """The reviewer takes back a skip within the undo window: the task is theirs again, if nobody took its place."""
    assignment = Assignment.objects.select_related("task__campaign").filter(task_id=task_id, reviewer=reviewer).first()
    if assignment is None:
        raise NotFoundError("No such task is assigned to you.", code="task_not_found")
    if assignment.status != Assignment.Status.SKIPPED:
        raise ConflictError("You have not skipped this task.", code="not_skipped")
    campaign = assignment.task.campaign
    window = timedelta(seconds=settings.SIGNOFF_UNDO_SECONDS)
    if assignment.completed_at is None or timezone.now() - assignment.completed_at > window:
        raise ConflictError(
            f"Skips can be undone for {settings.SIGNOFF_UNDO_SECONDS} seconds; this one is older.",
            code="undo_window_passed",
        )
    if campaign.status != Campaign.Status.ACTIVE:
        raise ConflictError("This campaign is not active; the skip stands.", code="campaign_not_active")
    with transaction.atomic():
        # the slot the skip freed comes back first: of an undo and another reviewer's claim only one gets it
        if not Task.objects.filter(pk=assignment.task_id, assigned_count__lt=F("capacity")).update(
            assigned_count=F("assigned_count") + 1
        ):
            raise ConflictError("Another reviewer has taken this item since you skipped it.", code="taken")
        if not Assignment.objects.filter(pk=assignment.pk, status=Assignment.Status.SKIPPED).update(
            status=Assignment.Status.OPEN,
            skip_reason="",
            flagged=False,
            completed_at=None,
            lease_expires_at=timezone.now() + timedelta(seconds=campaign.lease_seconds),
        ):
            raise ConflictError("This task is no longer skipped.", code="not_skipped")
    assignment.refresh_from_db()
    return assignment
