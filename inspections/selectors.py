"""Reads: schedules by id, a version's logs for export, each period's expert-rated quality, the version page's card."""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
from django.db.models import Q

from core.errors import NotFoundError
from core.models import User
from inspections.models import InspectionRun, InspectionSchedule, ProductionLog
from inspections.trend import mean_point, proportion_point
from models_app.models import ModelVersion, RegisteredModel
from reviews.models import Campaign, Judgment, TaskOutput
from reviews.results import as_label_set
from reviews.stats.rating import normalised_score

EXPORT_CHUNK = 2000


def schedule_get(*, pk: int) -> InspectionSchedule:
    schedule = InspectionSchedule.objects.select_related("model", "version", "created_by").filter(pk=pk).first()
    if schedule is None:
        raise NotFoundError(f"No inspection schedule {pk}.")
    return schedule


def logs_jsonl(*, model_version: ModelVersion) -> Iterator[bytes]:
    """The version's logs, oldest first, one JSON object a line, in the upload's shape (`at` in UTC): a stream
    read in keyset pages, so neither the server's memory nor one long cursor grows with the log."""
    last: tuple[datetime, int] | None = None
    logs = ProductionLog.objects.filter(model_version=model_version).order_by("at", "id")
    while True:
        page = logs if last is None else logs.filter(Q(at__gt=last[0]) | Q(at=last[0], id__gt=last[1]))
        rows = list(page.values_list("id", "external_id", "input", "output", "tags", "at")[:EXPORT_CHUNK])
        if not rows:
            return
        for pk, external_id, input_, output, tags, at in rows:
            record = {"id": external_id or f"log-{pk}", "input": input_, "output": output, "tags": tags, "at": at}
            yield orjson.dumps(record, option=orjson.OPT_UTC_Z) + b"\n"
        last = (rows[-1][5], rows[-1][0])


def _labeling_values(campaign: Campaign) -> tuple[int, int]:
    """(expert labels equal to the model's logged output, judgments): accuracy of the output against experts."""
    outputs = dict(TaskOutput.objects.filter(task__campaign=campaign).values_list("task_id", "prediction__output"))
    correct = n = 0
    for task_id, labels in Judgment.objects.in_results_of(campaign).values_list("task_id", "labels"):
        n += 1
        correct += frozenset(labels) == as_label_set(outputs.get(task_id))
    return correct, n


def _rating_values(campaign: Campaign) -> list[float]:
    """Each judgment's normalised score on [0, 1] (reviews.stats.rating): one output, so always slot A."""
    return [
        normalised_score(ratings["A"], campaign.rubric)
        for ratings in Judgment.objects.in_results_of(campaign).values_list("ratings", flat=True)
        if "A" in ratings
    ]


def run_values(run: InspectionRun) -> tuple[int, int] | list[float] | None:
    if run.campaign is None:
        return None
    if run.schedule.kind == InspectionSchedule.Kind.LABELING:
        return _labeling_values(run.campaign)
    return _rating_values(run.campaign)


def run_finished(run: InspectionRun) -> bool:
    """Every task of the period's sample judged (or its campaign closed with judgments): only then is its quality
    compared, so an alert never rests on the first few judgments of a period."""
    if run.campaign is None:
        return False
    judged = Judgment.objects.in_results_of(run.campaign).values("task_id").distinct().count()
    return judged >= run.tasks or (run.campaign.status == Campaign.Status.CLOSED and judged > 0)


def inspection_trend(*, schedule: InspectionSchedule) -> list[dict[str, Any]]:
    """One point per run, oldest first: its quality with a 95% interval (Wilson for accuracy, t for the mean
    normalised score), its sample and what happened."""
    points = []
    for run in schedule.runs.select_related("campaign", "model_version", "schedule").order_by("period_end", "id"):
        values = run_values(run)
        if values is None:
            quality: dict[str, Any] = {"estimate": None, "low": None, "high": None, "n": 0}
        elif isinstance(values, tuple):
            quality = proportion_point(*values)
        else:
            quality = mean_point(values)
        points.append({"run": run, "values": values, "finished": run_finished(run), **quality})
    return points


def model_owners(*, model_id: int) -> list[User]:
    """Who hears of an alert: the model's creator and everyone who registered one of its versions."""
    ids = set(ModelVersion.objects.filter(model_id=model_id).values_list("created_by_id", flat=True))
    ids |= set(RegisteredModel.objects.filter(pk=model_id).values_list("created_by_id", flat=True))
    return list(User.objects.filter(pk__in=ids).order_by("pk"))


def inspection_version_panel(version: ModelVersion) -> dict[str, Any] | None:
    """The card on a version's page: its inspection runs' alerts, newest first, and links to the schedules."""
    runs = list(
        InspectionRun.objects.filter(model_version=version).select_related("schedule").order_by("-period_end")[:50]
    )
    if not runs:
        return None
    return {
        "template": "inspections/version_panel.html",
        "alerts": [run for run in runs if run.alert],
        "schedules": sorted({run.schedule for run in runs}, key=lambda s: s.pk),
        "runs": len(runs),
    }
