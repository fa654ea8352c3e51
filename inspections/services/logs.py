"""Production logs in: a JSONL file streamed, validated line by line, stored whole or not at all, once per content.

Small files are read within the request; larger ones go through the shared upload machinery (datasets/upload_kinds.py,
kind "log_batch", registered in inspections/apps.py): kept, answered 202, read by the worker (inspections/tasks.py)."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.models import User
from datasets.models import Upload
from datasets.parsers import ErrorCollector
from datasets.readers import ByteCounter, iter_jsonl
from datasets.services.files import file_sha256, upload_errors_as_application_error
from datasets.services.ingest import ProgressFn, no_progress
from datasets.services.uploads import upload_accept_if_large
from inspections.models import LogBatch, ProductionLog
from inspections.parsers import validate_log
from models_app.models import ModelVersion

INSERT_BATCH = 1000


@dataclass(frozen=True)
class LogUploadOutcome:
    """Either the batch (ingested within the request) or the upload a worker will read (`upload` set)."""

    batch: LogBatch | None = None
    created: bool = False
    upload: Upload | None = None


def log_upload_receive(*, model_version: ModelVersion, file: File, created_by: User) -> LogUploadOutcome:
    """Where a log file is read, as for every upload: up to SIGNOFF_SYNC_UPLOAD_MAX_BYTES here, larger ones by the
    worker. Both paths end in log_batch_ingest, so the same bytes are one batch whichever way they came."""
    limit = settings.SIGNOFF_MAX_UPLOAD_BYTES  # the uploads' general limit, as a resumable upload's
    source_name = file.name or ""
    if (file.size or 0) > limit:
        raise ApplicationError(
            f"{source_name or 'the file'} is {file.size} bytes; uploads take at most {limit} bytes.",
            code="too_large",
            extra={"file": source_name, "max_bytes": limit},
            status=413,
        )
    target = {"model": model_version.model.name, "version": model_version.version}
    upload = upload_accept_if_large(kind=Upload.Kind.LOG_BATCH, file=file, target=target, created_by=created_by)
    if upload:
        return LogUploadOutcome(upload=upload)
    batch, created = log_batch_ingest(
        model_version=model_version, file=file, source_name=source_name, created_by=created_by
    )
    return LogUploadOutcome(batch=batch, created=created)


def log_batch_ingest(
    *,
    model_version: ModelVersion,
    file: File,
    source_name: str,
    created_by: User,
    progress: ProgressFn = no_progress,
    received_at: datetime | None = None,
) -> tuple[LogBatch, bool]:
    """Returns (batch, created). The same bytes for the same version answer the first batch; rows stream from the
    file to the database in pieces of INSERT_BATCH inside one transaction, so memory stays flat and a bad line
    anywhere leaves nothing behind (every bad line is reported, with its field). A line without `at` is logged at
    `received_at`: when the client sent the file (a worker reads it later), now by default."""
    sha256 = file_sha256(file)
    existing = LogBatch.objects.filter(model_version=model_version, sha256=sha256).first()
    if existing:
        return existing, False
    try:
        with transaction.atomic():
            received = received_at or timezone.now()
            return _ingest(model_version, file, sha256, source_name, created_by, progress, received), True
    except IntegrityError:  # the same bytes landed meanwhile (a retried request): that batch is the answer
        existing = LogBatch.objects.filter(model_version=model_version, sha256=sha256).first()
        if existing is None:
            raise
        return existing, False


def _ingest(
    model_version: ModelVersion,
    file: File,
    sha256: str,
    source_name: str,
    created_by: User,
    progress: ProgressFn,
    now: datetime,
) -> LogBatch:
    batch = LogBatch.objects.create(
        model_version=model_version, sha256=sha256, log_count=0, source_name=source_name[:255], created_by=created_by
    )
    errors = ErrorCollector(source_name or "upload")
    pending, count, counter = [], 0, ByteCounter()
    with upload_errors_as_application_error():
        for line, record in iter_jsonl(file, errors, counter):
            row = validate_log(line, record, errors)
            if row is None or errors.total:
                continue  # keep reading: every bad line is reported, but nothing more is written
            pending.append(
                ProductionLog(
                    batch=batch,
                    model_version=model_version,
                    external_id=row.external_id,
                    input=row.input,
                    output=row.output,
                    tags=row.tags,
                    at=row.at or now,
                )
            )
            count += 1
            if len(pending) >= INSERT_BATCH:
                ProductionLog.objects.bulk_create(pending)
                pending = []
                progress("reading", count, counter.bytes)  # the worker's heartbeat; a no-op within a request
        if not errors.total and not count:
            errors.add(0, None, "holds no log lines")
        errors.raise_if_any()
    progress("saving", count, counter.bytes, force=True)
    ProductionLog.objects.bulk_create(pending)
    LogBatch.objects.filter(pk=batch.pk).update(log_count=count)
    batch.log_count = count
    return batch
