"""Inspection schedules and their runs: each period, a random (optionally stratified) sample of the production
version's logs becomes a review campaign.

How logs become review items: each run builds a new version of the schedule's own dataset ("inspection-<id>")
from the sampled logs (input, tags; the caller's id where it is unique), and a prediction set of the production
version on it holding the logged output. campaign_create then works as for any campaign, and the experts judge
what the model really answered in production, not a re-run of it."""

import hashlib
import random
from collections import defaultdict
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.models import User
from datasets.models import Dataset, DatasetVersion, Item
from datasets.services.versions import dataset_version_open
from inspections.models import InspectionRun, InspectionSchedule, ProductionLog
from inspections.periods import last_complete_period, parse_every
from models_app.models import ModelVersion, Prediction, PredictionSet, RegisteredModel
from reviews.services.campaigns import campaign_create, labels_check, reviewers_check, rubric_validated

MAX_SAMPLE = 5000


def _invalid(message: str, field: str) -> ApplicationError:
    return ApplicationError(message, code="invalid", extra={"field": field})


def _check_design(kind: str, rubric: list, labels: list, reviewers: list[User]) -> None:
    """What a run's campaign_create would refuse, refused now, when the person who can fix it is asking."""
    if kind not in InspectionSchedule.Kind.values:
        raise _invalid("kind must be rating or labeling.", "kind")
    if kind == InspectionSchedule.Kind.RATING:
        rubric_validated(rubric, subject="inspection")
    if kind == InspectionSchedule.Kind.LABELING:
        labels_check(labels, subject="inspection")
    reviewers_check(reviewers)


@transaction.atomic
def inspection_schedule_create(
    *,
    model: RegisteredModel,
    version: ModelVersion | None = None,
    every: str,
    sample: int,
    kind: str,
    rubric: list | None = None,
    labels: list | None = None,
    reviewers: list[User],
    stratify_by: str = "",
    floor: float | None = None,
    created_by: User,
) -> InspectionSchedule:
    try:
        every_seconds = parse_every(every)
    except ValueError as exc:
        raise _invalid(str(exc), "every") from None
    if not 1 <= sample <= MAX_SAMPLE:
        raise _invalid(f"sample must be between 1 and {MAX_SAMPLE}.", "sample")
    if floor is not None and not 0 <= floor <= 1:
        raise _invalid("floor is a quality on [0, 1] (accuracy, or mean normalised score).", "floor")
    if version is not None and version.model_id != model.pk:
        raise _invalid(f"{version} is not a version of {model}.", "version")
    _check_design(kind, rubric or [], labels or [], reviewers)
    schedule = InspectionSchedule.objects.create(
        model=model,
        version=version,
        every_seconds=every_seconds,
        sample=sample,
        kind=kind,
        rubric=rubric or [],
        labels=labels or [],
        stratify_by=stratify_by.strip(),
        floor=floor,
        anchor=timezone.now(),
        created_by=created_by,
    )
    schedule.reviewers.set(reviewers)
    return schedule


def inspected_version(schedule: InspectionSchedule) -> ModelVersion | None:
    """The schedule's fixed version, else the model's version in production now (the latest to get there)."""
    if schedule.version_id:
        return schedule.version
    return (
        ModelVersion.objects.filter(model_id=schedule.model_id, stage=ModelVersion.Stage.PRODUCTION)
        .order_by("-updated_at", "-id")
        .first()
    )


def _stratum(tags: list[str], stratify_by: str) -> str:
    """The log's value of the tag `stratify_by`: "lang:fr" -> "fr" for "lang", the bare tag "lang" -> "lang"."""
    for tag in tags or []:
        if tag == stratify_by or tag.startswith(stratify_by + ":"):
            return tag
    return ""


def sample_logs(rows: list[tuple[int, list[str]]], size: int, stratify_by: str, rng: random.Random) -> list[int]:
    """Ids of a simple random sample of `size`, or a stratified one: each stratum gets its proportional share,
    rounded by largest remainder, so a stratum of 5 % of the logs gets 5 % of the sample (at least one where the
    sample has room for every stratum)."""
    if len(rows) <= size:
        return [pk for pk, _ in rows]
    if not stratify_by:
        return rng.sample([pk for pk, _ in rows], size)
    strata: dict[str, list[int]] = defaultdict(list)
    for pk, tags in rows:
        strata[_stratum(tags, stratify_by)].append(pk)
    exact = {name: size * len(members) / len(rows) for name, members in strata.items()}
    shares = {name: int(share) for name, share in exact.items()}
    if len(strata) <= size:
        shares = {name: max(1, n) for name, n in shares.items()}
    by_remainder = sorted(strata, key=lambda name: exact[name] - int(exact[name]), reverse=True)
    for name in by_remainder[: max(0, size - sum(shares.values()))]:
        shares[name] += 1
    chosen: list[int] = []
    for name, members in strata.items():
        chosen += rng.sample(members, min(shares[name], len(members)))
    return chosen[:size]


def _items_and_predictions(
    schedule: InspectionSchedule, version: ModelVersion, logs: list[ProductionLog], label: str
) -> DatasetVersion:
    dataset, _ = Dataset.objects.get_or_create(
        name=f"inspection-{schedule.pk}",
        defaults={"description": f"Samples of production logs for {label}.", "created_by": schedule.created_by},
    )
    digest = hashlib.sha256((f"{version.pk}:" + ",".join(str(log.pk) for log in logs)).encode()).hexdigest()
    dataset_version, created = dataset_version_open(
        dataset=dataset, sha256=digest, item_count=len(logs), source_name=label, created_by=schedule.created_by
    )
    if not created:  # the very same sample, run again by hand: its items and predictions are there
        return dataset_version
    ids = [log.external_id for log in logs]
    repeated = {i for i in ids if ids.count(i) > 1}
    items = Item.objects.bulk_create(
        Item(
            version=dataset_version,
            external_id=log.external_id if log.external_id and log.external_id not in repeated else f"log-{log.pk}",
            input=log.input,
            tags=log.tags,
        )
        for log in logs
    )
    prediction_set = PredictionSet.objects.create(
        model_version=version,
        dataset_version=dataset_version,
        sha256=digest,
        prediction_count=len(logs),
        source_name="production logs",
        created_by=schedule.created_by,
    )
    Prediction.objects.bulk_create(
        Prediction(prediction_set=prediction_set, item=item, output=log.output)
        for item, log in zip(items, logs, strict=True)
    )
    return dataset_version


def _run_campaign(run: InspectionRun, version: ModelVersion) -> None:
    schedule = run.schedule
    period = f"{run.period_start:%Y-%m-%d %H:%M:%S} to {run.period_end:%Y-%m-%d %H:%M:%S} UTC"
    logs_in_period = ProductionLog.objects.filter(
        model_version=version, at__gte=run.period_start, at__lt=run.period_end
    )
    rows = list(logs_in_period.values_list("pk", "tags"))
    run.logs_in_period = len(rows)
    if not rows:
        run.note = f"No logs of {version} from {period}: no campaign was created."
        return
    chosen = sample_logs(rows, schedule.sample, schedule.stratify_by, random.Random())
    logs = list(ProductionLog.objects.filter(pk__in=chosen).order_by("pk"))
    label = f"inspection of {version}, {period}"
    dataset_version = _items_and_predictions(schedule, version, logs, label)
    campaign = campaign_create(
        name=f"Inspection of {version}: {period}"[:200],
        kind=schedule.kind,
        dataset_version=dataset_version,
        candidate=version,
        labels=schedule.labels,
        # experts label blind: showing the logged output would anchor them on it, and accuracy is measured
        # against that very output
        show_suggestion=False,
        rubric=schedule.rubric,
        # an inspection measures quality on its whole sample: the gate (built for release decisions) must not stop
        # handing out tasks once it decides, or the period would never be judged in full and never compared
        gate={"stop_when_decided": False},
        reviewers=list(schedule.reviewers.all()),
        created_by=schedule.created_by,
    )
    run.campaign = campaign
    run.tasks = campaign.tasks.ordinary().count()


def inspection_run(
    *, schedule: InspectionSchedule, period_start: datetime, period_end: datetime, trigger: str
) -> tuple[InspectionRun, bool]:
    """Run one period: (run, created). A period already run answers its run (the unique constraint on
    (schedule, period_start) makes a second beat or a retried task harmless). A period with no logs, no version in
    production or a campaign that could not be made records why, in words, on the run."""
    try:
        with transaction.atomic():
            run = InspectionRun.objects.create(
                schedule=schedule, period_start=period_start, period_end=period_end, trigger=trigger
            )
            version = inspected_version(schedule)
            run.model_version = version
            if version is None:
                run.note = f"{schedule.model} has no version in production: nothing to inspect."
            else:
                try:
                    with transaction.atomic():
                        _run_campaign(run, version)
                except ApplicationError as exc:
                    run.campaign, run.tasks = None, 0
                    run.note = f"No campaign was created: {exc}"
            run.save()
            return run, True
    except IntegrityError:
        return InspectionRun.objects.get(schedule=schedule, period_start=period_start), False


def inspection_run_now(*, schedule: InspectionSchedule) -> InspectionRun:
    """A run on request, over the last period up to now (it may overlap a scheduled period: a log can then be
    sampled by both, which a person asking for an extra look accepts)."""
    now = timezone.now()
    run, _ = inspection_run(
        schedule=schedule,
        period_start=now - timedelta(seconds=schedule.every_seconds),
        period_end=now,
        trigger=InspectionRun.Trigger.MANUAL,
    )
    return run


def inspections_run_due(*, now: datetime | None = None) -> list[int]:
    """Beat's sweep: each active schedule's latest complete period, once. Periods missed while beat was down are
    not caught up (a flood of campaigns on the reviewers helps nobody): the latest one is run. Returns new run ids."""
    now = now or timezone.now()
    created = []
    for schedule in InspectionSchedule.objects.filter(is_active=True).select_related("model", "version"):
        period = last_complete_period(schedule.anchor, schedule.every_seconds, now)
        if period is None or InspectionRun.objects.filter(schedule=schedule, period_start=period[0]).exists():
            continue
        run, new = inspection_run(
            schedule=schedule, period_start=period[0], period_end=period[1], trigger=InspectionRun.Trigger.BEAT
        )
        if new:
            created.append(run.pk)
    return created
