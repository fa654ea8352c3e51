"""What counts as open work for a reviewer, and the order it is handed out in: written once, for the claim
(reviews/services/assignments.py takes the first such task) and for the reviewer's counts (reviews/selectors.py).

Hand-written SQL because get-next runs it on every judgment and the ORM took several times as long to build the
statement as the database took to run it (docs/bench-next-task.md). The statement is portable (PostgreSQL and
SQLite); only the row lock is PostgreSQL's, added where the database has it."""

from functools import cache

from django.db import connection

from core.rawsql import sql_naming
from reviews.models import Assignment, ReviewerExclusion, Task

# A task is claimable by a reviewer when it has room, is of the kind asked for (ordinary work and known-answer
# items are never mixed up), the reviewer has never had it (not even skipped or run out), and the reviewer is not
# excluded from the campaign. The exclusion is an uncorrelated test: PostgreSQL runs it once per statement, as a
# one-time filter. `t.assigned_count < t.capacity` is the condition of the partial index task_open_order_idx, and
# the ORDER BY its columns: the planner walks that index in hand-out order and stops at the LIMIT.
_CLAIMABLE = """
SELECT t.{Task.id} FROM {Task} t
WHERE t.{Task.campaign} = %s AND t.{Task.assigned_count} < t.{Task.capacity} AND t.{Task.known_answer} IS {{known}}
  AND NOT EXISTS (
    SELECT 1 FROM {Assignment} a WHERE a.{Assignment.task} = t.{Task.id} AND a.{Assignment.reviewer} = %s
  )
  AND NOT EXISTS (
    SELECT 1 FROM {Exclusion} e WHERE e.{Exclusion.campaign} = %s AND e.{Exclusion.reviewer} = %s
  )
ORDER BY t.{Task.priority}, t.{Task.sort_key}, t.{Task.id}
LIMIT %s"""


@cache
def claimable_tasks_sql(*, known: bool = False, lock: bool = False) -> str:
    """SELECT the ids of the tasks a reviewer may claim, in hand-out order; parameters from `claimable_params`.

    `known`: known-answer items rather than ordinary work. `lock`: where the database can (PostgreSQL), lock the
    rows returned and pass over rows another claim holds (FOR UPDATE SKIP LOCKED), so concurrent claims never wait
    for one another; SQLite has one writer at a time and needs no lock."""
    sql = sql_naming(_CLAIMABLE, Task=Task, Assignment=Assignment, Exclusion=ReviewerExclusion)
    sql = sql.format(known="NOT NULL" if known else "NULL")
    if lock and connection.features.has_select_for_update_skip_locked:
        sql += "\nFOR UPDATE SKIP LOCKED"
    return sql


def claimable_params(*, campaign_id: int, reviewer_id: int, limit: int) -> list[int]:
    return [campaign_id, reviewer_id, campaign_id, reviewer_id, limit]
