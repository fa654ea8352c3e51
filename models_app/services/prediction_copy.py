"""Predictions COPYed straight into their table (PostgreSQL), in one transaction with their set.

The staging path (predictions.py) writes every row twice, to a TEMP table and then to the real one through a
join with the items. Here the worker resolves each row's item itself (ItemIndex), and rows reach the table once,
while PostgreSQL works on them beside the parsing, on the other core. This path gives up at the first wrong row (a
bad field, an unknown or repeated item) and the caller reads the file again by the staging path, which reports
every error with its line: errors are rare, and that way they are reported by one piece of code.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator

import orjson
from django.db import IntegrityError, connection, transaction

from core.errors import ConflictError
from core.models import User
from datasets.bulkload import bulk_transaction_settings
from datasets.item_index import ItemIndex
from datasets.models import DatasetVersion
from datasets.parsers import ErrorCollector, validate_prediction
from datasets.readers import MAX_LINE_BYTES, SNIFF_BYTES, ByteCounter, sniff_format
from datasets.services.ingest import PREDICTION_FIELDS, ProgressFn, read_records
from models_app.models import ModelVersion, Prediction, PredictionSet

BATCH_ROWS = 8192  # rows resolved against the index in one numpy call


class _NotClean(Exception):
    """A row the staging path must explain."""


def prediction_set_copy(*, model_version: ModelVersion, dataset_version: DatasetVersion, file, sha256: str,
                        source_name: str, created_by: User, progress: ProgressFn) -> PredictionSet | None:
    """The new set with all its predictions, or None (nothing written) if a row is wrong or the version's ids
    do not fit the index."""
    index = ItemIndex.load(dataset_version.pk, dataset_version.item_count)
    if index is None:
        return None
    counter = ByteCounter()
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    if sniff_format(source_name or "upload", head) == "jsonl":
        records = _jsonl_rows(file, counter)
    else:
        records = _validated_rows(file, source_name or "upload", counter)
    try:
        with transaction.atomic():
            bulk_transaction_settings()
            try:
                prediction_set = PredictionSet.objects.create(
                    model_version=model_version, dataset_version=dataset_version, sha256=sha256,
                    prediction_count=0, source_name=source_name[:255], created_by=created_by,
                )
            except IntegrityError:
                raise ConflictError(f"{model_version} received predictions on {dataset_version} at the same moment.",
                                    code="prediction_set_exists") from None
            count = _copy_rows(records, index, prediction_set.pk, counter, progress)
            if not count:
                raise _NotClean
            progress("saving", count, counter.bytes, force=True)
            PredictionSet.objects.filter(pk=prediction_set.pk).update(prediction_count=count)
            prediction_set.prediction_count = count
    except _NotClean:
        return None
    return prediction_set


def _copy_rows(records: Iterator[tuple[str, bytes, float | None]], index: ItemIndex, set_pk: int, counter: ByteCounter,
               progress: ProgressFn) -> int:
    """COPY (item id, output JSON, score) rows in batches; raises _NotClean at the first row it cannot take."""
    count = 0
    batch: list[tuple[str, bytes, float | None]] = []
    try:  # psycopg's copy raises its own errors: Django's wrapper names them as the ORM does
        with _cyclic_gc_paused(), connection.wrap_database_errors, connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY {Prediction._meta.db_table} (prediction_set_id, item_id, output, score) FROM STDIN"
        ) as copy:
            for row in records:
                batch.append(row)
                if len(batch) == BATCH_ROWS:
                    copy.write(_copy_text(batch, index, set_pk))
                    count += len(batch)
                    batch.clear()
                    progress("reading", count, counter.bytes)
            if batch:
                copy.write(_copy_text(batch, index, set_pk))
                count += len(batch)
    except IntegrityError:  # an item named twice
        raise _NotClean from None
    return count


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """The loop makes millions of short-lived, acyclic objects (dicts, tuples, bytes): reference counting frees
    them all, and the cycle collector's passes over each batch cost ~8 % of the loop."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _copy_text(batch: list[tuple[str, bytes, float | None]], index: ItemIndex, set_pk: int) -> bytes:
    """COPY's text format, written here: psycopg's write_row cost ~1 µs a row in Python."""
    keys = index.lookup([item_id for item_id, _, _ in batch])
    if keys is None:
        raise _NotClean
    set_column = b"%d\t" % set_pk
    return b"".join(
        set_column + b"%d\t%b\t%b\n" % (key, output.replace(b"\\", b"\\\\"), b"\\N" if score is None else b"%r" % score)
        for (_, output, score), key in zip(batch, keys)
    )


def _jsonl_rows(file, counter: ByteCounter) -> Iterator[tuple[str, bytes, float | None]]:
    """The clean rows of a JSONL file, checked in one loop; raises _NotClean at the first line that is not
    certainly valid. Never takes what validate_prediction refuses (tests hold the two to that)."""
    readline, loads, dumps = file.readline, orjson.loads, orjson.dumps
    while raw := readline(MAX_LINE_BYTES + 1):
        counter.bytes += len(raw)
        try:
            obj = loads(raw)
        except orjson.JSONDecodeError:
            if raw.strip():
                raise _NotClean from None
            continue  # blank lines are allowed
        if type(obj) is not dict or len(raw) > MAX_LINE_BYTES:
            raise _NotClean
        item_id, output, score = obj.get("id"), obj.get("output"), obj.get("score")
        if type(item_id) is int:
            item_id = str(item_id)
        if (type(item_id) is not str or not item_id.strip() or len(item_id) > 255 or "\x00" in item_id
                or type(output) not in (dict, list, str) or not output):
            raise _NotClean
        if type(score) is int and abs(score) <= 2**53:
            score = float(score)
        elif score is not None and type(score) is not float:
            raise _NotClean
        try:
            text = dumps(output)
        except orjson.JSONEncodeError:
            raise _NotClean from None
        if b"\\u0000" in text:
            raise _NotClean
        yield item_id, text, score


def _validated_rows(file, source_name: str, counter: ByteCounter) -> Iterator[tuple[str, bytes, float | None]]:
    """Any other format (CSV), through the readers and validate_prediction; raises _NotClean at the first error."""
    errors = ErrorCollector(source_name)
    records, _ = read_records(file, errors, counter, PREDICTION_FIELDS)
    for line, record in records:
        row = validate_prediction(line, record, errors)
        if row is None or errors.total:
            raise _NotClean
        yield row.item_id, row.output.encode(), row.score
    if errors.total:
        raise _NotClean
