"""Predictions COPYed straight into their table (PostgreSQL), in one transaction with their set (see
datasets/copyload.py). The worker resolves each row's item itself, through the version's ItemIndex."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from django.db import IntegrityError, transaction

from core.errors import ConflictError
from core.models import User
from core.rawsql import column_name
from datasets.bulkload import bulk_transaction_settings
from datasets.copyload import (
    COPY_NULL,
    NotClean,
    clean_id,
    copy_rows,
    copy_text,
    file_format,
    json_bytes,
    json_objects,
)
from datasets.item_index import ItemIndex
from datasets.models import DatasetVersion
from datasets.parsers import ErrorCollector, validate_prediction
from datasets.readers import ByteCounter
from datasets.services.ingest import PREDICTION_FIELDS, ProgressFn, read_records
from models_app.models import ModelVersion, Prediction, PredictionSet

# (item id, "output<TAB>score<NL>" as COPY text). The text is made in the loop: orjson's bytes keep a buffer each,
# and holding a batch of them until its COPY cost memory (docs/bench-ingest.md, "Figures the code's comments point to").
Row = tuple[str, bytes]
COLUMNS = tuple(column_name(Prediction, name) for name in ("prediction_set", "item", "output", "score"))


def prediction_set_copy(
    *,
    model_version: ModelVersion,
    dataset_version: DatasetVersion,
    file: IO[bytes],
    sha256: str,
    source_name: str,
    created_by: User,
    progress: ProgressFn,
) -> PredictionSet | None:
    """The new set with all its predictions, or None (nothing written) if a row is wrong or the version's ids
    do not fit the index."""
    index = ItemIndex.load(dataset_version.pk, dataset_version.item_count)
    if index is None:
        return None
    counter = ByteCounter()
    name = source_name or "upload"
    rows = _jsonl_rows(file, counter) if file_format(file, name) == "jsonl" else _validated_rows(file, name, counter)
    try:
        with transaction.atomic():
            bulk_transaction_settings()
            try:
                prediction_set = PredictionSet.objects.create(
                    model_version=model_version,
                    dataset_version=dataset_version,
                    sha256=sha256,
                    prediction_count=0,
                    source_name=source_name[:255],
                    created_by=created_by,
                )
            except IntegrityError:
                raise ConflictError(
                    f"{model_version} received predictions on {dataset_version} at the same moment.",
                    code="prediction_set_exists",
                ) from None
            set_column = b"%d\t" % prediction_set.pk

            def to_text(batch: list[Row]) -> bytes:
                keys = index.lookup([item_id for item_id, _ in batch])
                if keys is None:
                    raise NotClean
                return b"".join(
                    [b"%b%d\t%b" % (set_column, key, text) for (_, text), key in zip(batch, keys, strict=True)]
                )

            count = copy_rows(
                Prediction._meta.db_table, COLUMNS, rows, to_text, lambda done: progress("reading", done, counter.bytes)
            )
            if not count:
                raise NotClean
            progress("saving", count, counter.bytes, force=True)
            PredictionSet.objects.filter(pk=prediction_set.pk).update(prediction_count=count)
            prediction_set.prediction_count = count
    except NotClean:
        return None
    return prediction_set


def _jsonl_rows(file: IO[bytes], counter: ByteCounter) -> Iterator[Row]:
    """The rows of a JSONL file, checked in one loop; NotClean at the first that is not certainly valid.
    Never takes what validate_prediction refuses (tests hold the two to that)."""
    for obj in json_objects(file, counter):
        output, score = obj.get("output"), obj.get("score")
        if type(output) not in (dict, list, str) or not output:
            raise NotClean
        if type(score) is int and abs(score) <= 2**53:
            score = float(score)
        elif score is not None and type(score) is not float:
            raise NotClean
        yield clean_id(obj.get("id")), b"%b\t%b\n" % (json_bytes(output), COPY_NULL if score is None else b"%r" % score)


def _validated_rows(file: IO[bytes], name: str, counter: ByteCounter) -> Iterator[Row]:
    """Any other format (CSV), through the readers and validate_prediction; NotClean at the first error."""
    errors = ErrorCollector(name)
    records, _ = read_records(file=file, errors=errors, counter=counter, fields=PREDICTION_FIELDS)
    for line, record in records:
        row = validate_prediction(line, record, errors)
        if row is None or errors.total:
            raise NotClean
        output = copy_text(row.output.encode(), is_json=True)  # validate_prediction's output is JSON text
        yield row.item_id, b"%b\t%b\n" % (output, COPY_NULL if row.score is None else b"%r" % row.score)
    if errors.total:
        raise NotClean
