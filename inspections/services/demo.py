"""The demo's production side: three weeks of logs of the version in production, a weekly inspection schedule and
its judged runs, the last of which alerts. Registered on reviews' demo (add_demo_extension) from this app's ready().

Built through the same services the API calls: log_batch_ingest with the JSONL bytes an upload would carry,
inspection_schedule_create, inspection_run for each past week, judgment_submit, inspection_alerts_check."""

import json
from datetime import timedelta

from django.core.files.base import ContentFile

from core.models import User
from inspections.models import InspectionSchedule
from inspections.services.alerts import inspection_alerts_check
from inspections.services.logs import log_batch_ingest
from inspections.services.schedules import inspection_run, inspection_schedule_create
from reviews.models import Campaign
from reviews.services.assignments import assignment_claim_next
from reviews.services.demo import LABELS, DemoContext
from reviews.services.judgments import judgment_submit

EVERY = timedelta(days=7)
FLOOR = 0.8  # a week whose readings agree with the expert less often than this alerts, whatever the trend says
SAMPLE = 20  # above a week's logs: each run reviews all of them, so the demo draws the same sample every time


def inspection_demo_load(context: DemoContext) -> list[str]:
    """Returns the lines the demo's report adds."""
    dana, ravi = context.users["dana"], context.users["ravi"]
    production, logs = context.production, context.production_logs
    weeks = max(log.week for log in logs) + 1
    start = {week: context.weeks_ago(weeks - week) for week in range(weeks)}
    rows = [
        # a log's time: its week's Monday, plus a quarter of an hour per request
        {"id": log.id, "input": log.input, "output": log.output, "at": (start[log.week] + i * timedelta(minutes=15))}
        for i, log in enumerate(logs)
    ]
    body = b"".join(
        json.dumps({**row, "at": row["at"].isoformat()}, separators=(",", ":")).encode() + b"\n" for row in rows
    )
    name = f"{production.model.name}-{production.version}-logs.jsonl"
    log_batch_ingest(model_version=production, file=ContentFile(body, name=name), source_name=name, created_by=dana)

    schedule = inspection_schedule_create(
        model=production.model,
        every="7d",
        sample=SAMPLE,
        kind=InspectionSchedule.Kind.LABELING,
        labels=LABELS,
        reviewers=[ravi],
        floor=FLOOR,
        created_by=dana,
    )
    truth = {log.id: log.truth for log in logs}
    alerted = None
    for week in range(weeks):
        run, _ = inspection_run(
            schedule=schedule, period_start=start[week], period_end=start[week] + EVERY, trigger="beat"
        )
        assert run.campaign is not None, run.note  # each week has logs: a run without a campaign is a bug here
        _label_honestly(run.campaign, ravi, truth)
        alerted = inspection_alerts_check(schedule=schedule) or alerted
    summary = (
        f"{len(logs)} production logs of {production} over {weeks} past weeks; inspection #{schedule.pk} "
        f"labels each week's logs (ravi has labeled them all): /inspections/{schedule.pk}/"
    )
    lines = [summary]
    if alerted is not None and alerted.alert:
        lines.append(f"  The week from {alerted.period_start:%Y-%m-%d} alerted: " + "; ".join(alerted.alert["reasons"]))
    return lines


def _label_honestly(campaign: Campaign, reviewer: User, truth: dict[str, str]) -> None:
    """Label every task with the true digit, as a careful expert would (the item keeps the log's id)."""
    while (assignment := assignment_claim_next(campaign=campaign, reviewer=reviewer)) is not None:
        digit = truth[assignment.task.item.external_id]
        judgment_submit(
            task_id=assignment.task_id,
            reviewer=reviewer,
            labels=[digit],
            rationale=f"Demo label, made by the demo loader from the true digit ({digit}).",
        )
