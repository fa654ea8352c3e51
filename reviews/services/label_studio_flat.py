"""Label Studio's flat exports (JSON_MIN, CSV, TSV) and the majority label: one record per annotation, its task's
data fields and the chosen label side by side; no predictions. They become a labeled dataset version: one item per
task, whose reference is the annotators' majority label.

The shape is that of Label Studio's converter (label_studio_sdk.converter: `convert_to_json_min` and
`exports/csv2.py`): the task's `data` fields at the top level, each control's result under its name (one choice as
the label itself; several as `{"choices": [...]}`, JSON text in a CSV cell), then `annotator` (the user's id, or
their e-mail when the export expanded users), `annotation_id`, `created_at`, `updated_at`, `lead_time` (and
`agreement`, `history` where present). A task's records come one after another; a task without annotations (an
export with `download_all_tasks=true`) is one record with an empty annotator. Which top-level name is the Choices
control and which are data cannot be told from the file, so the import is told (`control`)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import IO, Any

import orjson

from core.errors import ApplicationError
from datasets.bulkload import Staging
from datasets.parsers import ErrorCollector, validate_item
from datasets.readers import ByteCounter, CountingReader

# the names Label Studio's converter writes beside the task's data fields
LS_COLUMNS = frozenset(
    {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "agreement", "history"}
)
MAX_REPORTED_TIES = 100

Reference = str | list[str]


def majority(label_sets: list[list[str]]) -> tuple[Reference, list[Reference]] | None:
    """The label (or label set) most annotators chose, and the ones tied with it ([] when none is): None without
    any. Ties go to the first in sorted order, so the same annotations always give the same reference."""
    counts = Counter(tuple(sorted(set(labels))) for labels in label_sets if labels)
    if not counts:
        return None
    top = max(counts.values())
    tied = sorted(key for key, count in counts.items() if count == top)

    def as_reference(key: tuple[str, ...]) -> Reference:
        return key[0] if len(key) == 1 else list(key)

    return as_reference(tied[0]), [as_reference(key) for key in tied] if len(tied) > 1 else []


@dataclass
class ReferenceTally:
    """The references an import gave its items, and the ties it broke (the first MAX_REPORTED_TIES named)."""

    references: int = 0
    ties_total: int = 0
    ties: list[dict[str, Any]] = field(default_factory=list)

    def reference_for(self, item_id: str, label_sets: list[list[str]]) -> str | None:
        """The item's reference as JSON text (None without annotations), counting it and any tie."""
        found = majority(label_sets)
        if found is None:
            return None
        chosen, tied = found
        self.references += 1
        if tied:
            self.ties_total += 1
            if len(self.ties) < MAX_REPORTED_TIES:
                self.ties.append({"id": item_id, "labels": tied, "chosen": chosen})
        return orjson.dumps(chosen).decode()

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.ties_total, "items": self.ties}


@dataclass
class FlatRead:
    tasks: int = 0
    tally: ReferenceTally = field(default_factory=ReferenceTally)


def flat_records_delimited(file: IO[bytes], delimiter: str, errors: ErrorCollector) -> Iterator[tuple[int, Any]]:
    """CSV/TSV rows as JSON_MIN records: (first line, record). Cells are text; `annotator` becomes the user id it
    holds when it is a number, a control's `{"choices": [...]}` its JSON, an empty cell absent
    (Label Studio writes None as empty)."""
    file.seek(0)
    text = io.TextIOWrapper(
        io.BufferedReader(CountingReader(file, ByteCounter())), encoding="utf-8-sig", errors="strict", newline=""
    )
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    try:
        header = next(reader, None) or []
        start = reader.line_num + 1
        for cells in reader:
            number, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                errors.add(number, None, f"line {number}: has {len(cells)} cells; the header has {len(header)}")
                continue
            yield number, _cells_record(header, cells)
    except csv.Error as exc:
        errors.add(reader.line_num, None, f"line {reader.line_num}: is not valid CSV: {exc}")
    except UnicodeDecodeError:
        errors.add(reader.line_num + 1, None, f"line {reader.line_num + 1}: is not UTF-8 text")


def _cells_record(header: list[str], cells: list[str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=True):
        if cell == "":
            continue
        value: Any = cell
        if name == "annotator" and cell.isdigit():
            value = int(cell)
        elif cell.startswith("{"):
            try:
                parsed = orjson.loads(cell)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict) and isinstance(parsed.get("choices"), list):
                value = parsed
        record[name] = value
    return record


def flat_read(
    records: Iterator[tuple[int, Any]], *, control: str, what: str, stage: Staging, errors: ErrorCollector
) -> FlatRead:
    """Stage one item per task, its reference the majority of its annotations' choices in `control`. Errors name
    the record (JSON_MIN: its position in the array; CSV/TSV: its line)."""
    unit = "record #" if what == "JSON_MIN" else "line "
    read = FlatRead()
    seen_control = False
    columns: list[str] = []
    for task_id, group in groupby(_checked(records, errors, unit), key=lambda pair: pair[1]["id"]):
        rows = list(group)
        if not columns:
            columns = sorted(rows[0][1])
            _require_control(control, columns, what)
        seen_control |= any(control in record for _, record in rows)
        label_sets = [labels for n, r in rows if (labels := _labels(r.get(control), n, control, unit, errors))]
        _stage_item(read, stage, errors, task_id, rows[0], control, label_sets, unit)
    if columns and not seen_control and not errors.total:
        errors.add(1, "control", f"no record has a column {control!r}; the columns are {', '.join(columns)}")
    return read


def _require_control(control: str, columns: list[str], what: str) -> None:
    if not control:
        raise ApplicationError(
            f"A Label Studio {what} export puts the task's data and the chosen labels side by side; name the "
            f"Choices control whose labels become the references with `control` (one of: "
            f"{', '.join(c for c in columns if c not in LS_COLUMNS)}).",
            code="control_required",
            extra={"field": "control", "columns": columns},
        )


def _stage_item(
    read: FlatRead,
    stage: Staging,
    errors: ErrorCollector,
    task_id: str,
    first: tuple[int, dict],
    control: str,
    label_sets: list[list[str]],
    unit: str,
) -> None:
    """The task's item: its data from its first record (every column but Label Studio's own and the control)."""
    line, record = first
    data = {k: v for k, v in record.items() if k not in LS_COLUMNS and k != control}
    found = ErrorCollector(errors.filename)
    item = validate_item(line, {"id": task_id, "input": data}, found, None)
    for error in found.errors:
        name = "data columns" if error.field == "input" else error.field
        errors.add(line, error.field, f"{unit}{line} (task {task_id!r}): {name} {error.message}")
    if item is None:
        return
    read.tasks += 1
    reference = read.tally.reference_for(item.external_id, label_sets)
    stage.add((item.line, item.external_id, item.input, reference, item.tags, item.image))


def _checked(records: Iterator[tuple[int, Any]], errors: ErrorCollector, unit: str) -> Iterator[tuple[int, dict]]:
    """Records that are objects with a task id (as text, so 7 and "7" group alike); the others reported."""
    for number, record in records:
        if not isinstance(record, dict):
            errors.add(number, None, f"{unit}{number}: must be an object")
            continue
        task_id = record.get("id")
        if isinstance(task_id, bool) or not isinstance(task_id, (int, str)) or str(task_id).strip() == "":
            errors.add(number, "id", f"{unit}{number}: id (the task's id) is required")
            continue
        yield number, {**record, "id": str(task_id)}


def _labels(value: Any, number: int, control: str, unit: str, errors: ErrorCollector) -> list[str] | None:
    """The labels a record's control value holds ([] when it holds none), or None after an error."""
    if value is None:
        return []
    if isinstance(value, str) and value.strip():
        return [value]
    choices = value.get("choices") if isinstance(value, dict) else None
    if isinstance(choices, list) and choices and all(isinstance(c, str) and c.strip() for c in choices):
        return list(choices)
    errors.add(number, control, f'{unit}{number}: {control} must be a label or {{"choices": [labels]}}')
    return None
