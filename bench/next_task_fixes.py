"""gunicorn --config file for bench/next_task.py: measure get-next with part of the app swapped back or out,
without editing the app.

    BENCH_FIX=before .venv/bin/python bench/next_task.py --reuse --gunicorn-config bench/next_task_fixes.py
    BENCH_FIX=portable_claim .venv/bin/python bench/next_task.py --reuse --gunicorn-config bench/next_task_fixes.py

The default run (no --gunicorn-config) measures the app as it is. The earlier variants of this file are in the
app now: the capped "left" count, the campaign column on assignments and the claim index with id (commit
3c3f7d1), then the "lean" get-next view (campaign read with the membership check only, open assignments
read once, the payload reusing the campaign).

BENCH_FIX is a comma-separated list of what to swap in, in each worker, once the app is loaded:

  portable_claim the claim as on SQLite (reviews/services/assignments.py `_claim_one_portable`): BEGIN, the
                 claimable-task SELECT ... FOR UPDATE SKIP LOCKED, UPDATE, outputs, INSERT, COMMIT, instead of
                 the PostgreSQL path (BEGIN, the same SELECT inside one CTE, INSERT, COMMIT)
  orm_progress   reviewer_progress as two ORM queries (status counts, then the capped "left"), instead of one
                 statement of SQL
  orm_reads      the campaign, the reviewer's open assignments and the task payload read through the ORM
                 (querysets as before), instead of SQL: same statements, more Python
  before         all three: get-next as it was before "get-next in fewer statements and less ORM"
  prepared       (combines with the others) server-side binding with prepared statements: psycopg prepares a
                 statement the second time the worker's connection sends it, and PostgreSQL stops planning it
                 afresh each request. A settings change (DATABASES OPTIONS), not made: PgBouncer in
                 transaction mode does not allow it, and some raw SQL may need casts under server-side binding
  none           the app as it is: the same as running without --gunicorn-config

BENCH_LEFT_CAP=N sets reviews.selectors.LEFT_COUNT_CAP (the app's is 100) in any variant.
"""

import os

VARIANTS = {"portable_claim", "orm_progress", "orm_reads", "before", "prepared", "none"}


def orm_reviewer_progress(campaign, reviewer) -> dict:
    """reviews.selectors.reviewer_progress as it was before it became one statement of SQL."""
    from django.db.models import Count, F

    from reviews import selectors
    from reviews.models import Assignment, Task

    mine = (
        Assignment.objects.filter(campaign=campaign, reviewer=reviewer)
        .values("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {row["status"]: row["n"] for row in mine}
    claimable = (
        Task.objects.filter(campaign=campaign, assigned_count__lt=F("capacity"))
        .exclude(assignments__reviewer=reviewer)
        .order_by("priority", "sort_key", "id")
        .values("id")[: selectors.LEFT_COUNT_CAP]
        .count()
    )
    return selectors._progress(campaign, counts, claimable)


def orm_campaign_get_for_reviewer(*, campaign_id, user):
    """reviews.selectors.campaign_get_for_reviewer as a queryset, as the view read it before."""
    from core.errors import NotFoundError
    from reviews.models import Campaign

    campaign = Campaign.objects.filter(pk=campaign_id, reviewers=user).first()
    if campaign is None:
        raise NotFoundError("No such campaign.", code="campaign_not_found")
    return campaign


def orm_open_assignments(campaign, reviewer):
    from reviews.models import Assignment
    from reviews.services import assignments as engine

    return list(
        Assignment.objects.filter(campaign=campaign, reviewer=reviewer, status=Assignment.Status.OPEN).order_by("id")[
            : engine.MAX_OPEN_PER_REVIEWER + 1
        ]
    )


def orm_task_content(task_id):
    """reviews.selectors._task_content as the select_related queryset assignment_payload used before."""
    from reviews.models import Task, TaskOutput

    outputs = list(TaskOutput.objects.filter(task_id=task_id).select_related("prediction", "task__item"))
    item = outputs[0].task.item if outputs else Task.objects.select_related("item").get(pk=task_id).item
    return item, {o.model_version_id: o.prediction.output for o in outputs}


def apply(variant: str) -> list[str]:
    """Swap in what `variant` names; returns what was swapped."""
    from reviews import selectors
    from reviews.api import views
    from reviews.services import assignments as engine

    parts = {p.strip() for p in variant.split(",") if p.strip()} or {"none"}
    if not parts <= VARIANTS:
        raise SystemExit(f"BENCH_FIX={variant!r}: a comma-separated list of {', '.join(sorted(VARIANTS))}")
    if "before" in parts:
        parts |= {"portable_claim", "orm_progress", "orm_reads"}
    swapped = []
    if "portable_claim" in parts:
        engine._claim_one = engine._claim_one_portable  # assignment_claim_next looks it up at each call
        swapped.append("portable_claim")
    if "orm_progress" in parts:
        views.reviewer_progress = orm_reviewer_progress  # the view imported it by name
        swapped.append("orm_progress")
    if "orm_reads" in parts:
        views.campaign_get_for_reviewer = orm_campaign_get_for_reviewer
        engine._open_assignments = orm_open_assignments
        selectors._task_content = orm_task_content
        swapped.append("orm_reads")
    if "prepared" in parts:
        from django.db import connection

        connection.close()  # the options are read when the worker connects
        connection.settings_dict["OPTIONS"].update(server_side_binding=True, prepare_threshold=2)
        swapped.append("prepared")
    if os.environ.get("BENCH_LEFT_CAP"):
        selectors.LEFT_COUNT_CAP = int(os.environ["BENCH_LEFT_CAP"])  # reviewer_progress reads it at each call
    return swapped


def post_worker_init(worker):
    from reviews import selectors

    swapped = apply(os.environ.get("BENCH_FIX", "before"))
    worker.log.info(
        "bench: get-next with %s swapped in, left cap %s", ", ".join(swapped) or "nothing", selectors.LEFT_COUNT_CAP
    )
