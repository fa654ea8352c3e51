"""Importing a Label Studio export: its tasks become a dataset version, its predictions one prediction set per
model version, and its annotations a labeling campaign whose judgments they are. All or nothing.

Every variant Label Studio 1.23 writes is read: the JSON export (predictions as ids, each annotation embedding the
prediction it started from: those copies are used), `download_all_tasks=true`, snapshots with or without expanded
predictions and users; and the flat JSON_MIN, CSV and TSV exports (label_studio_flat), which carry no predictions.
An export with no model's choices on its annotated tasks becomes a labeled dataset version instead of a campaign:
each item's reference is its annotators' majority label, ties broken by sort order and reported.

It lives in reviews because the campaign is part of it (apps depend reviews -> models_app -> datasets). Rows take
the same path as any upload: validated by datasets.parsers, staged in TEMP tables while the file streams past
(ijson, one task at a time), then published in one transaction by the dataset and prediction publishers.
The dataset version's sha256 is the export's, so the same bytes imported again return what the first import made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC
from itertools import chain
from typing import IO, Any, TypeVar

import ijson
import orjson
from django.core.files import File
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.errors import ApplicationError, ConflictError
from core.models import User
from core.rawsql import sql_naming
from datasets.bulkload import Staging
from datasets.models import Dataset, DatasetVersion, Item
from datasets.parsers import ErrorCollector, ItemRow, PredictionRow, validate_item, validate_prediction
from datasets.readers import SNIFF_BYTES, FileRejected, check_text_head

# The publishers behind dataset_version_ingest and prediction_set_ingest, reused so an import lands exactly as an
# upload does (version numbering, the dataset lock, repeated ids reported by line); their readers take one file
# of one kind, and an export is three kinds in one file.
from datasets.services.datasets import ITEM_STAGE, dataset_version_publish, staged_repeats_report
from datasets.services.files import file_sha256, upload_errors_as_application_error
from models_app.models import ModelVersion, Prediction, PredictionSet, RegisteredModel
from models_app.services.predictions import PREDICTION_STAGE, prediction_set_publish
from models_app.services.registry import model_version_create, registered_model_create
from reviews.gate import GatePolicy
from reviews.models import SLOTS, Assignment, Campaign, Judgment, LabelStudioImportRecord, Task, TaskOutput
from reviews.services.decisions import campaign_gate_check_on_commit
from reviews.services.label_studio_flat import ReferenceTally, flat_read, flat_records_delimited

DEFAULT_MODEL = "label-studio"
UNVERSIONED = "unversioned"  # a prediction without a model_version
MAX_MODEL_VERSIONS = 50  # each has its own staging table while the file is read
MAX_DURATION_MS = 2**31 - 1
# where Label Studio puts the predictions an export listed by id only (said in the response)
PREDICTIONS_HINT = (
    "Label Studio's JSON export lists predictions by id and embeds only the one each annotation started from; "
    "for every task's predictions, export a snapshot (POST /api/projects/{id}/exports/) with serialization_options "
    "predictions.only_id = false and import that."
)

# An annotation waiting for its campaign: the task's position and the annotation's, who made it, what they chose.
ANNOTATION_STAGE = [
    ("line", "integer"),
    ("position", "integer"),
    ("item_id", "text"),
    ("annotator", "integer"),
    ("labels", "json"),
    ("duration_ms", "integer"),
    ("completed_at", "timestamp with time zone"),
]


@dataclass
class LabelStudioImport:
    version: DatasetVersion
    created: bool
    prediction_sets: list[PredictionSet]
    campaign: Campaign | None
    judgments: int
    # format, references, reference_ties, tasks_without_prediction_content, notes (LabelStudioImportRecord.report)
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Version:
    """One model_version seen in the export's predictions."""

    name: str
    stage: Staging
    annotated_tasks: int = 0  # annotated tasks it gave choices on: the candidate is the one with the most
    multi_on_annotated: bool = False


@dataclass
class _Annotator:
    ls_id: int
    email: str = ""
    username: str = ""


@dataclass
class _Reading:
    """What the import remembers while the file streams past: a few counters and sets, none per task."""

    errors: ErrorCollector
    items: Staging
    annotations: Staging
    stack: ExitStack
    versions: dict[str, _Version] = field(default_factory=dict)
    annotators: dict[int, _Annotator] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)  # every choice seen, and its place in order of appearance
    choice_control: tuple[str, int] | None = None  # (from_name, task position) of the first choices result
    multi_annotation: bool = False
    overlap: int = 0  # most annotations on one task
    tasks: int = 0
    instance: str = ""  # the Label Studio instance its users belong to ("" before instances were named)
    tally: ReferenceTally = field(default_factory=ReferenceTally)  # used when no campaign is made
    no_prediction_content: int = 0  # tasks whose predictions were ids with no embedded copy


Row = TypeVar("Row")
# (model version, prediction row, whether it is choices, whether several)
TaskPrediction = tuple[str, PredictionRow, bool, bool]
# (annotator id, labels, duration in ms, completed at as the database takes it)
TaskAnnotation = tuple[int, list[str], int | None, Any]


class _Task:
    """Adds a task's errors under its position, naming its Label Studio id."""

    def __init__(self, reading: _Reading, number: int, task_id: Any):
        self.reading, self.number = reading, number
        shown = task_id if isinstance(task_id, (int, str)) and not isinstance(task_id, bool) else None
        self.prefix = f"task {shown!r}: " if shown is not None else f"task #{number} (no id): "
        self.failed = False

    def error(self, field_name: str | None, message: str) -> None:
        self.failed = True
        self.reading.errors.add(self.number, field_name, self.prefix + message)

    def check(self, validate: Callable[[ErrorCollector], Row], fields: dict[str, str]) -> Row:
        """Run a datasets.parsers validator, naming its fields (`fields`: theirs -> the export's) as the export does."""
        found = ErrorCollector(self.reading.errors.filename)
        row = validate(found)
        for error in found.errors:
            self.error(fields.get(error.field, error.field) if error.field is not None else None, error.message)
        return row


def label_studio_import(
    *,
    dataset: Dataset,
    file: File,
    source_name: str,
    model_name: str = DEFAULT_MODEL,
    created_by: User,
    instance: str = "",
    control: str = "",
) -> LabelStudioImport:
    """Read the export into staging tables, then publish the version, the prediction sets and the campaign (or, with
    no candidate's predictions, the items' reference labels) in one transaction. The same bytes again return what
    they made the first time. `instance` names the Label Studio the users come from; `control` the Choices control
    of a flat (JSON_MIN, CSV, TSV) export."""
    sha256 = file_sha256(file)
    existing = DatasetVersion.objects.filter(dataset=dataset, sha256=sha256).first()
    if existing:
        return _existing_import(existing)
    errors = ErrorCollector(source_name or "upload")
    with upload_errors_as_application_error(), ExitStack() as stack:
        reading = _Reading(
            errors, stack.enter_context(Staging(ITEM_STAGE)), stack.enter_context(Staging(ANNOTATION_STAGE)), stack
        )
        reading.instance = instance
        export_format = _read(file, reading, control)
        for stage in [reading.items, reading.annotations, *(v.stage for v in reading.versions.values())]:
            stage.finish()
        if errors.total:
            staged_repeats_report(stage=reading.items, errors=errors)  # one bad task does not hide the others
        elif not reading.items.count:
            errors.add(0, None, "holds no tasks")
        errors.raise_if_any()
        candidate = _candidate(reading)
        if candidate is not None:  # the annotations become judgments; the items keep no reference of their own
            reading.items.execute("UPDATE {stage} SET reference = NULL")
        report = _report(reading, export_format, candidate)
        with transaction.atomic():
            version, created = dataset_version_publish(
                dataset=dataset,
                stage=reading.items,
                errors=errors,
                sha256=sha256,
                source_name=source_name,
                created_by=created_by,
            )
            if not created:  # the same bytes, imported at the same moment, landed first
                return _existing_import(version)
            model = RegisteredModel.objects.filter(name=model_name).first() or registered_model_create(
                name=model_name, description="Predictions imported from Label Studio.", created_by=created_by
            )
            sets: dict[str, PredictionSet] = {}
            for seen in reading.versions.values():
                model_version = ModelVersion.objects.filter(
                    model=model, version=seen.name
                ).first() or model_version_create(model=model, version=seen.name, created_by=created_by)
                sets[seen.name] = prediction_set_publish(
                    model_version=model_version,
                    dataset_version=version,
                    stage=seen.stage,
                    errors=errors,
                    sha256=sha256,
                    source_name=source_name,
                    created_by=created_by,
                )
            campaign, judgments = None, 0
            if candidate is not None:
                campaign, judgments = _campaign_create(
                    reading, version, sets[candidate], sha256, source_name, created_by
                )
            LabelStudioImportRecord.objects.create(version=version, campaign=campaign, report=report)
    return LabelStudioImport(version, True, list(sets.values()), campaign, judgments, report)


def _report(reading: _Reading, export_format: str, candidate: str | None) -> dict[str, Any]:
    """What the response says beyond the objects made: the format read, the references set and ties broken (only
    without a campaign), the tasks whose predictions could not be read, and each of these in words."""
    tally = reading.tally if candidate is None else ReferenceTally()
    notes = []
    if reading.no_prediction_content:
        notes.append(
            f"{reading.no_prediction_content} task(s) listed predictions by id only, with no copy embedded in an "
            f"annotation, and were imported without them. {PREDICTIONS_HINT}"
        )
    if candidate is None and tally.references:
        why = (
            "the export carries no predictions"
            if export_format != "json"
            else "no model's choices predictions are on the annotated tasks"
        )
        notes.append(
            f"No labeling campaign was made ({why}): {tally.references} item(s) carry their annotators' majority "
            f"label as the reference."
            + (f" {tally.ties_total} tie(s) went to the first label in sort order." if tally.ties_total else "")
        )
    return {
        "format": export_format,
        "instance": reading.instance,
        "references": tally.references,
        "reference_ties": tally.as_dict(),
        "tasks_without_prediction_content": reading.no_prediction_content,
        "notes": notes,
    }


# --- reading ----------------------------------------------------------------------------------------------------


def _read(file: IO[bytes], reading: _Reading, control: str) -> str:
    """Stage the export's rows; returns its format: json, json_min, csv or tsv."""
    name = reading.errors.filename
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    check_text_head(head, name)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] != b"[":
        delimiter = _delimited_header(text)
        if delimiter is None:
            what = {b"{": "an object", b"": "empty"}.get(text[:1], "neither a JSON array nor a CSV/TSV export")
            raise FileRejected(
                name,
                "must be a JSON array of tasks (Label Studio's JSON or JSON_MIN export) or Label Studio's CSV/TSV "
                f"export (a header with annotator and annotation_id); it is {what}",
            )
        export_format = "tsv" if delimiter == "\t" else "csv"
        rows = flat_records_delimited(file, delimiter, reading.errors)
        _read_flat(reading, rows, control, export_format)
        return export_format
    file.seek(0)
    records = _json_records(file, reading)
    first = next(records, None)
    if (
        first is not None
        and isinstance(first[1], dict)
        and not {"data", "annotations", "predictions"} & first[1].keys()
    ):
        _read_flat(reading, chain([first], records), control, "json_min")
        return "json_min"
    for number, task in chain([first] if first else [], records):
        reading.tasks = number
        _read_task(reading, number, task)
    return "json"


def _json_records(file: IO[bytes], reading: _Reading) -> Iterator[tuple[int, Any]]:
    """The array's elements, numbered from 1, as the file streams past; a break in the JSON is reported."""
    number = 0
    try:
        for number, element in enumerate(ijson.items(file, "item", use_float=True), start=1):
            yield number, element
    except ijson.JSONError as exc:
        reading.errors.add(number + 1, None, f"task #{number + 1} is not valid JSON: {exc}")
    except UnicodeDecodeError:
        reading.errors.add(number + 1, None, f"task #{number + 1} is not UTF-8 text")


def _delimited_header(text: bytes) -> str | None:
    """The delimiter of a Label Studio CSV/TSV export's header (it always has annotator and annotation_id)."""
    header = text.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")
    for delimiter in ("\t", ","):
        names = {cell.strip().strip('"') for cell in header.split(delimiter)}
        if {"annotator", "annotation_id"} <= names:
            return delimiter
    return None


def _read_flat(reading: _Reading, records: Iterator[tuple[int, Any]], control: str, export_format: str) -> None:
    what = {"json_min": "JSON_MIN", "csv": "CSV", "tsv": "TSV"}[export_format]
    read = flat_read(records, control=control, what=what, stage=reading.items, errors=reading.errors)
    reading.tasks, reading.tally = read.tasks, read.tally


def _read_task(reading: _Reading, number: int, task: Any) -> None:
    if not isinstance(task, dict):
        reading.errors.add(number, None, f"task #{number} must be a JSON object")
        return
    checker = _Task(reading, number, task.get("id"))
    data = task.get("data")
    if isinstance(data, dict) and "image" in data:
        checker.error(
            "data.image",
            "image tasks refer to files kept by Label Studio and cannot be imported here; "
            "upload the images as a ZIP dataset version instead",
        )
        return
    item = checker.check(
        lambda found: validate_item(number, {"id": task.get("id"), "input": data}, found, None), {"input": "data"}
    )
    predictions = _task_predictions(checker, task, item)
    annotations = _task_annotations(checker, task.get("annotations") or [])
    new = [name for name, *_ in predictions if name not in reading.versions]
    if len(reading.versions) + len(new) > MAX_MODEL_VERSIONS:
        checker.error("predictions", f"brings the export beyond {MAX_MODEL_VERSIONS} model versions")
    if item is None or checker.failed:
        return
    _stage_task(reading, number, item, predictions, annotations, new_versions=new)


def _stage_task(
    reading: _Reading,
    number: int,
    item: ItemRow,
    predictions: list[TaskPrediction],
    annotations: list[TaskAnnotation],
    *,
    new_versions: list[str],
) -> None:
    """Stage a task that passed every check: its item, its predictions per model version, its annotations."""
    for name in new_versions:  # in order of appearance: the first of equally good candidates wins
        reading.versions[name] = _Version(name, reading.stack.enter_context(Staging(PREDICTION_STAGE)))
    # the majority label: the item's reference if no campaign is made (else cleared before publishing)
    reference = reading.tally.reference_for(item.external_id, [labels for _, labels, _, _ in annotations])
    reading.items.add((item.line, item.external_id, item.input, reference, item.tags, item.image))
    for name, row, _, _ in predictions:
        reading.versions[name].stage.add((row.line, row.item_id, row.output, row.score))
    if annotations:
        reading.overlap = max(reading.overlap, len(annotations))
        for name, _, is_choices, multi in predictions:
            if is_choices:
                reading.versions[name].annotated_tasks += 1
                reading.versions[name].multi_on_annotated |= multi
    for position, (annotator, labels, duration_ms, completed_at) in enumerate(annotations):
        reading.multi_annotation |= len(labels) > 1
        # labels only ever join the end of the order, so sorting by it now sorts as the campaign will
        ordered = sorted(labels, key=reading.labels.__getitem__)
        reading.annotations.add(
            (number, position, item.external_id, annotator, orjson.dumps(ordered).decode(), duration_ms, completed_at)
        )


def _task_predictions(checker: _Task, task: dict[str, Any], item: ItemRow | None) -> list[TaskPrediction]:
    """(model version, prediction row, whether it is choices, whether several) per prediction of the task."""
    predictions = task.get("predictions") or []
    if not isinstance(predictions, list):
        checker.error("predictions", "must be a list")
        return []
    rows: list[TaskPrediction] = []
    seen: set[str] = set()
    embedded = _embedded_predictions(task.get("annotations"))
    missing = False
    for index, listed in enumerate(predictions):
        path = f"predictions[{index}]"
        prediction = listed
        if isinstance(listed, int) and not isinstance(listed, bool):  # an id: the JSON export's default
            prediction = embedded.get(listed)
            if prediction is None:
                missing = True
                continue
        if not isinstance(prediction, dict):
            checker.error(path, "must be a prediction object or a prediction id")
            continue
        name = _prediction_version(checker, prediction.get("model_version"), path, seen)
        if name is None:
            continue
        seen.add(name)
        read = _prediction_row(checker, prediction, path, item)
        if read is not None:
            rows.append((name, *read))
    checker.reading.no_prediction_content += missing
    return rows


def _embedded_predictions(annotations: Any) -> dict[int, dict[str, Any]]:
    """The predictions the task's annotations embed (`annotation.prediction`: the one it started from), by id."""
    found: dict[int, dict[str, Any]] = {}
    for annotation in annotations if isinstance(annotations, list) else []:
        prediction = annotation.get("prediction") if isinstance(annotation, dict) else None
        if isinstance(prediction, dict) and isinstance(prediction.get("id"), int):
            found.setdefault(prediction["id"], prediction)
    return found


def _prediction_version(checker: _Task, name: Any, path: str, seen: set[str]) -> str | None:
    """The model version a prediction names (unnamed: UNVERSIONED), or None after an error."""
    name = UNVERSIONED if name in (None, "") else name
    if isinstance(name, bool) or not isinstance(name, (str, int, float)) or len(str(name)) > 100:
        checker.error(f"{path}.model_version", "must be a string of at most 100 characters")
        return None
    name = str(name).strip() or UNVERSIONED
    if name in seen:
        checker.error(f"{path}.model_version", f"a second prediction from model version {name!r} on this task")
        return None
    return name


def _prediction_row(
    checker: _Task, prediction: dict[str, Any], path: str, item: ItemRow | None
) -> tuple[PredictionRow, bool, bool] | None:
    """(prediction row, whether it is choices, whether several): its choices as the output, or the result itself
    when it holds none; None after an error."""
    choices = _result_choices(checker, prediction.get("result"), f"{path}.result")
    if choices is None:
        return None
    result = prediction["result"]
    if not choices and not result:
        checker.error(f"{path}.result", "is empty")
        return None
    output = (choices[0] if len(choices) == 1 else choices) if choices else result
    record = {"id": item.external_id if item else "-", "output": output, "score": prediction.get("score")}
    row = checker.check(
        lambda found: validate_prediction(checker.number, record, found),
        {"output": f"{path}.result", "score": f"{path}.score"},
    )
    return None if row is None else (row, bool(choices), len(choices) > 1)


def _task_annotations(checker: _Task, annotations: Any) -> list[TaskAnnotation]:
    """(annotator id, labels, duration in ms, completed at) per annotation that was not cancelled."""
    if not isinstance(annotations, list):
        checker.error("annotations", "must be a list")
        return []
    kept, annotators = [], set()
    for index, annotation in enumerate(annotations):
        path = f"annotations[{index}]"
        if not isinstance(annotation, dict):
            checker.error(path, "must be an object")
            continue
        if annotation.get("was_cancelled"):
            continue
        annotator = _annotator(checker, annotation.get("completed_by"), f"{path}.completed_by")
        labels = _result_choices(checker, annotation.get("result"), f"{path}.result")
        if annotator is None or labels is None:
            continue
        if not labels:
            checker.error(
                f"{path}.result",
                "holds no choices result; only classification (choices) annotations can become judgments",
            )
            continue
        if annotator in annotators:
            checker.error(f"{path}.completed_by", f"a second annotation by Label Studio user {annotator} on this task")
            continue
        annotators.add(annotator)
        lead_time = annotation.get("lead_time")
        duration_ms = None
        if (
            isinstance(lead_time, (int, float))
            and not isinstance(lead_time, bool)
            and 0 < lead_time < MAX_DURATION_MS / 1000
        ):
            duration_ms = round(lead_time * 1000)
        kept.append((annotator, labels, duration_ms, _when(annotation.get("created_at"))))
    return kept


def _annotator(checker: _Task, completed_by: Any, path: str) -> int | None:
    """Label Studio writes completed_by as a user id, or as {"id", "email", ...} when asked to expand it."""
    details = completed_by if isinstance(completed_by, dict) else {}
    ls_id = details.get("id") if details else completed_by
    if isinstance(ls_id, bool) or not isinstance(ls_id, int):
        checker.error(path, "must be a Label Studio user id, or an object with an id")
        return None
    known = checker.reading.annotators.setdefault(ls_id, _Annotator(ls_id))
    for attr in ("email", "username"):
        value = details.get(attr)
        if isinstance(value, str) and value.strip() and not getattr(known, attr):
            setattr(known, attr, value.strip()[:150])
    return ls_id


def _result_choices(checker: _Task, result: Any, path: str) -> list[str] | None:
    """The choices a result list picks (empty when it has no choices result), or None after an error.

    Label Studio's result: [{"from_name", "to_name", "type", "value": {...}}]; a choices result holds
    value.choices, a list of label strings."""
    if not isinstance(result, list):
        checker.error(path, "must be a list of results")
        return None
    chosen: dict[str, None] = {}
    for index, region in enumerate(result):
        where = f"{path}[{index}]"
        if (
            not isinstance(region, dict)
            or not isinstance(region.get("type"), str)
            or not isinstance(region.get("value"), dict)
        ):
            checker.error(where, "is not a Label Studio result: an object with a type and a value object")
            return None
        if region["type"] != "choices":
            continue
        choices = region["value"].get("choices")
        if not isinstance(choices, list) or not choices or not all(isinstance(c, str) and c.strip() for c in choices):
            checker.error(f"{where}.value.choices", "must be a non-empty list of label strings")
            return None
        if not _one_choices_control(checker, str(region.get("from_name") or ""), where):
            return None
        for choice in choices:
            chosen[choice] = None
            checker.reading.labels.setdefault(choice, len(checker.reading.labels))
    return list(chosen)


def _one_choices_control(checker: _Task, control: str, where: str) -> bool:
    """Every choices result of the export comes from one control (the first seen): a campaign holds one label set."""
    reading = checker.reading
    if reading.choice_control is None:
        reading.choice_control = (control, checker.number)
    elif reading.choice_control[0] != control:
        checker.error(
            f"{where}.from_name",
            f"is a second choices control {control!r} (task #{reading.choice_control[1]} "
            f"used {reading.choice_control[0]!r}); a campaign holds one label set",
        )
        return False
    return True


def _candidate(reading: _Reading) -> str | None:
    """The model version whose suggestions the campaign shows: the one that labelled most annotated tasks."""
    if not reading.annotations.count:
        return None
    best = max(
        reading.versions.values(), key=lambda v: v.annotated_tasks, default=None
    )  # max keeps the first of equals
    if best is None or not best.annotated_tasks:
        # a labeling campaign compares annotators with a candidate's suggestions: without one, the annotations
        # become the items' reference labels (a labeled dataset version)
        return None
    return best.name


# --- the campaign -----------------------------------------------------------------------------------------------


def _reviewers(reading: _Reading) -> dict[int, User]:
    """Each annotator's Signoff reviewer: one with their email (or username), else an inactive stand-in
    `ls-<id>` that cannot log in, so agreement still sees distinct people."""
    found: dict[int, User] = {}
    for ls_id, annotator in reading.annotators.items():
        keys = [k for k in (annotator.email, annotator.username) if k]
        matches = (
            User.objects.filter(Q(email__iexact=keys[0]) | Q(username__in=keys)).order_by("pk")
            if keys
            else User.objects.none()
        )
        user = next((u for u in matches if u.has_role(User.Role.REVIEWER)), None)
        if user is None:
            user = _stand_in(annotator, reading.instance)
        found[ls_id] = user
    by_user: dict[int, int] = {}
    for ls_id, user in found.items():
        if user.pk in by_user:
            raise ConflictError(
                f"Label Studio users {by_user[user.pk]} and {ls_id} are both Signoff user {user.username!r}.",
                code="annotators_merge",
                extra={"field": "annotations"},
            )
        by_user[user.pk] = ls_id
    return found


def _stand_in(annotator: _Annotator, instance: str) -> User:
    """User 3 of one Label Studio is not user 3 of another: stand-ins are `ls-<instance>-<id>` when the import
    names its instance (`ls-<id>`, as before instances were named, when it does not)."""
    username = f"ls-{instance}-{annotator.ls_id}" if instance else f"ls-{annotator.ls_id}"
    user = User.objects.filter(username=username).first()
    if user is None:
        return User.objects.create_user(  # no password given: an unusable one
            username=username,
            email=annotator.email,
            role=User.Role.REVIEWER,
            is_active=False,
            first_name="Label Studio",
            last_name=f"annotator {annotator.ls_id}" + (f" of {instance}" if instance else ""),
        )
    if user.is_active or user.has_usable_password() or user.role != User.Role.REVIEWER:
        raise ConflictError(
            f"Signoff user {username!r} exists and is not an imported Label Studio annotator.",
            code="annotator_username_taken",
            extra={"field": "annotations"},
        )
    return user


def _campaign_create(
    reading: _Reading,
    version: DatasetVersion,
    candidate_set: PredictionSet,
    sha256: str,
    source_name: str,
    created_by: User,
) -> tuple[Campaign, int]:
    """A labeling campaign whose every task is fully judged: each annotation is a done assignment and its judgment,
    and no task has room for more, so the engine hands nothing out and the results are the export's.

    Tasks, assignments and judgments are inserted from the staging table in three statements (as items and
    predictions are): through the ORM, one object at a time, they took most of an import's time."""
    reviewers = _reviewers(reading)
    candidate = candidate_set.model_version
    campaign = Campaign.objects.create(
        name=f"{version} (Label Studio)"[:200],
        kind=Campaign.Kind.LABELING,
        dataset_version=version,
        candidate=candidate,
        labels=list(reading.labels),
        overlap=reading.overlap,
        gate_policy=GatePolicy.from_dict({}).as_dict(),
        multi_label=reading.multi_annotation or reading.versions[candidate.version].multi_on_annotated,
        guidelines=f"Imported from the Label Studio export `{source_name or 'upload'}` (sha256 `{sha256}`).",
        created_by=created_by,
    )
    campaign.reviewers.set(set(reviewers.values()))
    postgres = connection.vendor == "postgresql"
    as_json = "CAST(%s AS jsonb)" if postgres else "%s"
    # a suggestion is a label or a list of labels; other result types are not one (and not shown as one)
    is_labels = sql_naming(
        "(jsonb_typeof(p.{P.output}) = 'string' OR (jsonb_typeof(p.{P.output}) = 'array' AND NOT EXISTS "
        "(SELECT 1 FROM jsonb_array_elements(p.{P.output}) e WHERE jsonb_typeof(e) <> 'string')))"
        if postgres
        else "(json_type(p.{P.output}) = 'text' OR (json_type(p.{P.output}) = 'array' AND NOT EXISTS "
        "(SELECT 1 FROM json_each(p.{P.output}) e WHERE e.type <> 'text')))",
        P=Prediction,
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    names = {"Task": Task, "Item": Item, "Output": TaskOutput, "P": Prediction, "A": Assignment, "J": Judgment}
    annotations = reading.annotations
    # without statistics (PostgreSQL has ANALYZE, SQLite none) a planner may scan the stage once per item
    annotations.execute(f"CREATE INDEX {annotations.table}_item ON {{stage}} (item_id)")
    with Staging([("annotator", "integer"), ("user_id", "integer")]) as people:
        for ls_id, user in reviewers.items():
            people.add((ls_id, user.pk))
        people.finish()
        joined = (
            sql_naming(
                "FROM {{stage}} s JOIN {Item} i ON i.{Item.version} = %s AND i.{Item.external_id} = s.item_id "
                "JOIN {Task} t ON t.{Task.campaign} = %s AND t.{Task.item} = i.{Item.id} ",
                **names,
            )
            + f"JOIN {people.table} r ON r.annotator = s.annotator "
        )
        annotations.execute(
            sql_naming(
                "INSERT INTO {Task} ({Task.campaign}, {Task.item}, {Task.capacity}, {Task.assigned_count}, "
                "{Task.priority}, {Task.sort_key}) "
                "SELECT %s, i.{Item.id}, COUNT(*), COUNT(*), 0, MIN(s.line) * 1.0 / %s FROM {{stage}} s "
                "JOIN {Item} i ON i.{Item.version} = %s AND i.{Item.external_id} = s.item_id GROUP BY i.{Item.id}",
                **names,
            ),
            [campaign.pk, reading.tasks + 1, version.pk],
        )
        with connection.cursor() as cursor:
            cursor.execute(
                sql_naming(
                    "INSERT INTO {Output} ({Output.task}, {Output.model_version}, {Output.prediction}) "
                    "SELECT t.{Task.id}, %s, p.{P.id} FROM {Task} t JOIN {P} p "
                    "ON p.{P.prediction_set} = %s AND p.{P.item} = t.{Task.item} WHERE t.{Task.campaign} = %s AND ",
                    **names,
                )
                + is_labels,
                [candidate.pk, candidate_set.pk, campaign.pk],
            )
        annotations.execute(
            sql_naming(
                "INSERT INTO {A} ({A.task}, {A.campaign}, {A.reviewer}, {A.status}, {A.slot_order}, {A.candidate_slot}, "
                "{A.skip_reason}, {A.flagged}, {A.created_at}, {A.completed_at}) "
                "SELECT t.{Task.id}, %s, r.user_id, %s, CASE WHEN o.{Output.id} IS NULL THEN {{as_json}} ELSE {{as_json}} END, "
                "CASE WHEN o.{Output.id} IS NULL THEN '' ELSE %s END, '', %s, %s, COALESCE(s.completed_at, %s) ",
                **names,
            ).replace("{as_json}", as_json)
            + joined
            + sql_naming("LEFT JOIN {Output} o ON o.{Output.task} = t.{Task.id} ORDER BY s.line, s.position", **names),
            [
                campaign.pk,
                Assignment.Status.DONE,
                "[]",
                f"[{candidate.pk}]",
                SLOTS[0],  # the candidate is the only output shown, in the first slot
                False,
                now,
                now,
                version.pk,
                campaign.pk,
            ],
        )
        judgments = annotations.execute(
            sql_naming(
                "INSERT INTO {J} ({J.assignment}, {J.task}, {J.reviewer}, {J.choice}, {J.labels}, {J.ranking}, "
                "{J.ratings}, {J.rationale}, {J.duration_ms}, {J.client_id}, {J.created_at}, {J.discard_reason}) "
                "SELECT a.{A.id}, t.{Task.id}, r.user_id, '', s.labels, {{as_json}}, {{as_json}}, '', s.duration_ms, '', "
                "COALESCE(s.completed_at, %s), '' ",
                **names,
            ).replace("{as_json}", as_json)
            + joined
            + sql_naming(
                "JOIN {A} a ON a.{A.task} = t.{Task.id} AND a.{A.reviewer} = r.user_id ORDER BY s.line, s.position",
                **names,
            ),
            ["[]", "{}", now, version.pk, campaign.pk],
        )
    if judgments != annotations.count:
        raise ApplicationError("Some annotations could not be matched to their tasks.", code="invalid_upload")
    campaign_gate_check_on_commit(campaign_id=campaign.pk)
    return campaign, judgments


def _when(text: Any) -> Any:
    """Label Studio's created_at as the database takes it, or None (the import's time is used)."""
    try:
        parsed = parse_datetime(text) if isinstance(text, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return connection.ops.adapt_datetimefield_value(parsed)


# --- the same bytes again ---------------------------------------------------------------------------------------


def _existing_import(version: DatasetVersion) -> LabelStudioImport:
    record = LabelStudioImportRecord.objects.filter(version=version).select_related("campaign").first()
    sets = list(
        PredictionSet.objects.filter(dataset_version=version, sha256=version.sha256)
        .select_related("model_version__model")
        .order_by("pk")
    )
    if record is not None:
        campaign = record.campaign
    else:  # imported before imports were recorded: the campaign names the export's sha256 in its guidelines
        campaign = (
            Campaign.objects.filter(
                dataset_version=version, kind=Campaign.Kind.LABELING, guidelines__contains=f"`{version.sha256}`"
            )
            .order_by("pk")
            .first()
        )
    judgments = Judgment.objects.filter(task__campaign=campaign).count() if campaign else 0
    return LabelStudioImport(version, False, sets, campaign, judgments, record.report if record else {})
