"""What every ingest shares: reading records from a file of any accepted format, storing images, reporting
progress, and turning a parse failure into the API's error."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from datasets.archives import ArchiveLimits, ImageArchive
from datasets.bulkload import Staging
from datasets.models import Upload
from datasets.parsers import ErrorCollector, ImageStore, check_image, decode_image
from datasets.readers import SNIFF_BYTES, ByteCounter, FileRejected, iter_csv, iter_jsonl, sniff_format
from datasets.services.files import upload_errors_as_application_error

if TYPE_CHECKING:  # for the type only: an app on SQLite never loads psycopg
    import psycopg

ITEM_FIELDS = {"id", "input", "reference", "tags"}
PREDICTION_FIELDS = {"id", "output", "score"}


def read_records(
    *,
    file: IO[bytes],
    errors: ErrorCollector,
    counter: ByteCounter,
    fields: set[str],
    images: StoredImages | None = None,
) -> tuple[Iterator[tuple[int, dict]], ImageStore | None]:
    """(line, record) pairs from a JSONL, CSV or (for datasets) ZIP file, chosen by its name and first bytes,
    with the function that stores an item's image (base64 in the record, or a file in the archive)."""
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    fmt = sniff_format(errors.filename, head)
    if fmt == "zip":
        if "input" not in fields:
            raise FileRejected(errors.filename, "is a ZIP archive; only a dataset version can be a ZIP of images")
        limits = ArchiveLimits(
            max_total_bytes=settings.SIGNOFF_ZIP_MAX_BYTES,
            max_members=settings.SIGNOFF_ZIP_MAX_MEMBERS,
            max_ratio=settings.SIGNOFF_ZIP_MAX_RATIO,
        )
        archive = ImageArchive(file, errors.filename, limits)
        store = (lambda line, name: images.store_bytes(line, archive.read_image(name))) if images else None
        return archive.records(errors, counter, fields), store
    records = iter_csv(file, errors, counter, fields) if fmt == "csv" else iter_jsonl(file, errors, counter)
    return records, images.store_base64 if images else None


def stage_records(
    *,
    records: Iterator[tuple[int, dict]],
    validate: Callable[[int, dict], tuple | None],
    stage: Staging,
    counter: ByteCounter,
    progress: ProgressFn,
) -> None:
    """Validate each record and stage the good ones; every bad one is reported, none stops the reading."""
    for line, record in records:
        row = validate(line, record)
        if row is not None:
            stage.add(row)
            if not stage.added % 1000:
                progress("reading", stage.added, counter.bytes)
    stage.finish()


class StoredImages:
    """Images saved while an upload is read, deleted again if the upload does not land."""

    def __init__(self) -> None:
        self.folder = f"items/u-{uuid.uuid4().hex[:16]}"
        self.names: list[str] = []

    def store_base64(self, line: int, value: Any) -> str:
        data, ext = decode_image(value)
        return self.save(f"{line}.{ext}", data)

    def store_bytes(self, line: int, data: bytes) -> str:
        return self.save(f"{line}.{check_image(data)}", data)

    def save(self, filename: str, data: bytes) -> str:
        name = default_storage.save(f"{self.folder}/{filename}", ContentFile(data))
        self.names.append(name)
        return name

    def delete_all(self) -> None:
        for name in self.names:
            default_storage.delete(name)
        self.names.clear()


class Progress:
    """Writes how far a background ingest has got to its Upload row, at most twice a second.

    The row is written outside the ingest's own transaction, so the status endpoint sees it move and the
    heartbeat keeps the upload from being handed to another worker: within a transaction (PostgreSQL's COPY
    path) through a second connection of its own."""

    INTERVAL = 0.5

    def __init__(self, upload_id: int, total_bytes: int):
        self.upload_id, self.total_bytes = upload_id, total_bytes
        self._last = 0.0
        self._side: psycopg.Connection | None = None  # opened when first needed (PostgreSQL only)
        self._depth = len(connection.atomic_blocks)  # transactions that were open before the ingest began

    def __call__(self, phase: str, rows: int, bytes_done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.INTERVAL:
            return
        self._last = now
        values = {
            "phase": phase,
            "rows_done": rows,
            "bytes_done": min(bytes_done, self.total_bytes),
            "heartbeat_at": timezone.now(),
        }
        if len(connection.atomic_blocks) > self._depth and connection.vendor == "postgresql":
            self._write_aside(values)
        else:
            Upload.objects.filter(pk=self.upload_id).update(**values)

    def _write_aside(self, values: dict) -> None:
        if self._side is None:
            self._side = connection.get_new_connection(connection.get_connection_params())
            self._side.autocommit = True
        assignments = ", ".join(f"{name} = %s" for name in values)
        self._side.execute(
            f"UPDATE {Upload._meta.db_table} SET {assignments} WHERE id = %s", [*values.values(), self.upload_id]
        )

    def close(self) -> None:
        if self._side is not None:
            self._side.close()
            self._side = None


ProgressFn = Callable[..., None]


def no_progress(phase: str, rows: int, bytes_done: int, force: bool = False) -> None:
    return None


def upload_precheck(*, file: IO[bytes], fields: set[str], filename: str) -> None:
    """Refuse at once, before anything is queued, a file whose start already shows it cannot be read: binary
    data, another encoding, a line beyond the limit, a CSV without the columns it needs. The rest of the
    file is checked by the worker."""
    errors = ErrorCollector(filename)
    with upload_errors_as_application_error():
        records, _ = read_records(file=file, errors=errors, counter=ByteCounter(), fields=fields)
        if next(records, None) is None:
            if not errors.total:
                errors.add(0, None, "holds no rows")
            errors.raise_if_any()
    file.seek(0)
