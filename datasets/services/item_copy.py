"""Items COPYed straight into their table (PostgreSQL), in the transaction that creates their version (see
datasets/copyload.py). Images are not taken here: they must be stored, and the staging path does that."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from django.db import transaction

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
from datasets.models import Dataset, DatasetVersion, Item
from datasets.parsers import ErrorCollector, validate_item
from datasets.readers import ByteCounter
from datasets.services.ingest import ITEM_FIELDS, ProgressFn, read_records
from datasets.services.versions import dataset_version_open

COLUMNS = tuple(
    column_name(Item, name) for name in ("version", "external_id", "input", "reference", "tags", "image", "thumbnail")
)
EMPTY_TAGS = b"[]"

# A row as COPY text, from the external id on. Made in the loop: orjson's bytes keep a buffer each, and holding a
# batch of them until its COPY cost memory (docs/bench-ingest.md, "Figures the code's comments point to").
Row = bytes


def dataset_version_copy(
    *, dataset: Dataset, file: IO[bytes], sha256: str, source_name: str, created_by: User, progress: ProgressFn
) -> tuple[DatasetVersion, bool] | None:
    """(version, created) as the staging path answers, or None (nothing written) if a row is wrong or the file
    holds images."""
    counter = ByteCounter()
    name = source_name or "upload"
    fmt = file_format(file, name)
    if fmt == "zip":
        return None
    rows = _jsonl_rows(file, counter) if fmt == "jsonl" else _validated_rows(file, name, counter)
    try:
        with transaction.atomic():
            bulk_transaction_settings()
            version, created = dataset_version_open(
                dataset=dataset, sha256=sha256, item_count=0, source_name=source_name, created_by=created_by
            )
            if not created:
                return version, False
            version_column = b"%d\t" % version.pk

            def to_text(batch: list[Row]) -> bytes:
                return version_column + version_column.join(batch)

            count = copy_rows(
                Item._meta.db_table, COLUMNS, rows, to_text, lambda done: progress("reading", done, counter.bytes)
            )
            if not count:
                raise NotClean
            progress("saving", count, counter.bytes, force=True)
            DatasetVersion.objects.filter(pk=version.pk).update(item_count=count)
            version.item_count = count
    except NotClean:
        return None
    return version, True


def _copy_text_id(value: str) -> bytes:
    """An id as COPY text; one holding a character COPY escapes (rare) goes the staging way."""
    if not value.isprintable() or "\\" in value:
        raise NotClean
    return value.encode()


def _jsonl_rows(file: IO[bytes], counter: ByteCounter) -> Iterator[Row]:
    """The rows of a JSONL file, checked in one loop; NotClean at the first that is not certainly valid.
    Never takes what validate_item refuses (tests hold the two to that)."""
    for obj in json_objects(file, counter):
        value, tags, reference = obj.get("input"), obj.get("tags"), obj.get("reference")
        if type(value) not in (str, dict) or not value or (type(value) is dict and "image" in value):
            raise NotClean
        if tags is None and "tags" not in obj:
            tags_text = EMPTY_TAGS
        elif type(tags) is list and all(type(tag) is str and tag for tag in tags):
            tags_text = json_bytes(tags)
        else:
            raise NotClean
        yield b"%b\t%b\t%b\t%b\t\t\n" % (
            _copy_text_id(clean_id(obj.get("id"))),
            json_bytes(value),
            COPY_NULL if reference is None else json_bytes(reference),
            tags_text,
        )


def _validated_rows(file: IO[bytes], name: str, counter: ByteCounter) -> Iterator[Row]:
    """Any other format (CSV), through the readers and validate_item; NotClean at the first error."""
    errors = ErrorCollector(name)
    records, _ = read_records(file=file, errors=errors, counter=counter, fields=ITEM_FIELDS)

    def escape(text: str) -> bytes:
        return copy_text(text.encode(), is_json=True)  # validate_item's columns are JSON text

    for line, record in records:
        row = validate_item(line, record, errors, None)
        if row is None or errors.total:
            raise NotClean
        yield b"%b\t%b\t%b\t%b\t\t\n" % (
            _copy_text_id(row.external_id),
            escape(row.input),
            COPY_NULL if row.reference is None else escape(row.reference),
            escape(row.tags),
        )
    if errors.total:
        raise NotClean
