"""gunicorn --config file for bench/next_task.py: measure a further change to get-next without editing the app.

    BENCH_FIX=lean .venv/bin/python bench/next_task.py --gunicorn-config bench/next_task_fixes.py
    BENCH_FIX=lean BENCH_LEFT_CAP=100 .venv/bin/python bench/next_task.py --gunicorn-config bench/next_task_fixes.py

The default run (no --gunicorn-config) measures the app as it is. The earlier variants of this file are gone:
commit 3c3f7d1 ("Faster get-next at scale") put them in the app: "left" counted up to a cap
(reviews/selectors.py, LEFT_COUNT_CAP), assignments filtered by their own campaign column, the claim index
with id, and the membership query skipped for reviewers.

What still applies, and what this file swaps in in each worker once the app is loaded (BENCH_FIX):

  lean (default)  CampaignNextTaskView.get with less ORM work and fewer round trips (15 -> 13 statements when it
                  claims), same answers, same checks, and the app's own _claim_one and reviewer_progress:
                  - the campaign read with the membership check and nothing else: `Campaign.objects.filter(pk=pk,
                    reviewers=user)`, instead of campaign_get_for_user, whose select_related joins 6 more tables that
                    get-next never reads (~2.4 ms of Python and ~1.3 ms of PostgreSQL planning per call). Being
                    among the reviewers is what get-next requires of every role, and it implies visibility;
                  - the reviewer's open assignments read once (one query, up to MAX_OPEN_PER_REVIEWER + 1 rows)
                    instead of first() and then count() (reviews/services/assignments.py, assignment_claim_next);
                  - the payload reuses the campaign the view already has and reads outputs, predictions, task and
                    item in one query, instead of the task with campaign and item again, then the outputs
                    (reviews/selectors.py, assignment_payload).
  none            the app as it is (no patch): the same as running without --gunicorn-config.

BENCH_LEFT_CAP=N sets reviews.selectors.LEFT_COUNT_CAP (the app's is 500) in either variant.
"""
import os


def post_worker_init(worker):
    from datetime import timedelta

    from django.utils import timezone
    from rest_framework import status
    from rest_framework.response import Response

    from core.errors import NotFoundError
    from reviews import selectors
    from reviews.api import views
    from reviews.content import render_content
    from reviews.models import SLOTS, Assignment, Campaign, Task, TaskOutput
    from reviews.selectors import item_image_url
    from reviews.services import assignments as engine

    variant = os.environ.get("BENCH_FIX", "lean")

    def claim_next_lean(*, campaign, reviewer, exclude_task_ids=()):
        """assignment_claim_next with the open assignments read once."""
        if campaign.status != Campaign.Status.ACTIVE:
            return None
        excluded = set(exclude_task_ids)
        open_now = list(engine._open_assignments(campaign, reviewer).order_by("id")[: engine.MAX_OPEN_PER_REVIEWER + 1])
        existing = next((a for a in open_now if a.task_id not in excluded), None)
        if existing:
            existing.lease_expires_at = timezone.now() + timedelta(seconds=campaign.lease_seconds)
            Assignment.objects.filter(pk=existing.pk, status=Assignment.Status.OPEN).update(
                lease_expires_at=existing.lease_expires_at)
            return existing
        if len(open_now) >= engine.MAX_OPEN_PER_REVIEWER or engine._quota_reached(campaign, reviewer) \
                or engine._stopped_by_gate(campaign):
            return None
        reaped = False
        for _ in range(engine.CLAIM_ATTEMPTS):
            claimed = engine._claim_one(campaign, reviewer)
            if claimed:
                return claimed
            if claimed is None:
                if reaped or not engine.assignments_expire(campaign=campaign):
                    return None
                reaped = True
        return None

    def payload_lean(assignment, campaign) -> dict:
        """assignment_payload with the campaign already in hand and one query for the rest."""
        outputs = list(TaskOutput.objects.filter(task_id=assignment.task_id).select_related("prediction", "task__item"))
        item = outputs[0].task.item if outputs else Task.objects.select_related("item").get(pk=assignment.task_id).item
        by_version = {o.model_version_id: o.prediction.output for o in outputs}
        fmt = campaign.content_format
        payload = {
            "task": assignment.task_id, "campaign": campaign.pk, "kind": campaign.kind, "item": item.external_id,
            "input": item.input, "input_content": render_content(item.input, fmt), "image_url": item_image_url(item),
            "lease_expires_at": assignment.lease_expires_at.isoformat() if assignment.lease_expires_at else None,
        }
        if campaign.kind == Campaign.Kind.LABELING:
            suggestion = by_version.get(campaign.candidate_id) if campaign.show_suggestion else None
            payload.update({"labels": campaign.labels, "multi_label": campaign.multi_label, "suggestion": suggestion})
        else:
            payload["outputs"] = [
                {"slot": SLOTS[i], "output": by_version[v], "content": render_content(by_version[v], fmt)}
                for i, v in enumerate(assignment.slot_order)
            ]
            if campaign.kind == Campaign.Kind.RATING:
                payload["rubric"] = campaign.rubric
        return payload

    def next_get_lean(self, request, pk):
        # the caller must be among the campaign's reviewers, whatever their role; that implies they may see it
        campaign = Campaign.objects.filter(pk=pk, reviewers=request.user).first()
        if campaign is None:
            raise NotFoundError("No such campaign.", code="campaign_not_found")
        assignment = claim_next_lean(campaign=campaign, reviewer=request.user,
                                     exclude_task_ids=views._task_ids(request.query_params.get("exclude", "")))
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response({**payload_lean(assignment, campaign), "progress": views.reviewer_progress(campaign, request.user)})

    if variant == "lean":
        views.CampaignNextTaskView.get = next_get_lean
    elif variant != "none":
        raise SystemExit(f"BENCH_FIX={variant!r}: lean or none")
    if os.environ.get("BENCH_LEFT_CAP"):
        selectors.LEFT_COUNT_CAP = int(os.environ["BENCH_LEFT_CAP"])  # reviewer_progress reads it at each call
    worker.log.info("bench: get-next variant %s, left cap %s", variant, selectors.LEFT_COUNT_CAP)
