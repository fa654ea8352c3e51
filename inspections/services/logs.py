"""Production logs in: a JSONL file streamed, validated line by line, stored whole or not at all, once per content."""

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.models import User
from datasets.parsers import ErrorCollector
from datasets.readers import ByteCounter, iter_jsonl
from datasets.services.files import file_sha256, upload_errors_as_application_error
from inspections.models import LogBatch, ProductionLog
from inspections.parsers import validate_log
from models_app.models import ModelVersion

INSERT_BATCH = 1000


def log_batch_ingest(
    *, model_version: ModelVersion, file: File, source_name: str, created_by: User
) -> tuple[LogBatch, bool]:
    """Returns (batch, created). The same bytes for the same version answer the first batch; rows stream from the
    file to the database in pieces of INSERT_BATCH inside one transaction, so memory stays flat and a bad line
    anywhere leaves nothing behind (every bad line is reported, with its field)."""
    limit = settings.SIGNOFF_LOG_UPLOAD_MAX_BYTES
    if (file.size or 0) > limit:
        raise ApplicationError(
            f"{source_name or 'the file'} is {file.size} bytes; a log upload takes at most {limit} bytes: split it.",
            code="too_large",
            extra={"file": source_name, "max_bytes": limit},
            status=413,
        )
    sha256 = file_sha256(file)
    existing = LogBatch.objects.filter(model_version=model_version, sha256=sha256).first()
    if existing:
        return existing, False
    try:
        with transaction.atomic():
            return _ingest(model_version, file, sha256, source_name, created_by), True
    except IntegrityError:  # the same bytes landed meanwhile (a retried request): that batch is the answer
        existing = LogBatch.objects.filter(model_version=model_version, sha256=sha256).first()
        if existing is None:
            raise
        return existing, False


def _ingest(model_version: ModelVersion, file: File, sha256: str, source_name: str, created_by: User) -> LogBatch:
    batch = LogBatch.objects.create(
        model_version=model_version, sha256=sha256, log_count=0, source_name=source_name[:255], created_by=created_by
    )
    errors = ErrorCollector(source_name or "upload")
    now, pending, count = timezone.now(), [], 0
    with upload_errors_as_application_error():
        for line, record in iter_jsonl(file, errors, ByteCounter()):
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
        if not errors.total and not count:
            errors.add(0, None, "holds no log lines")
        errors.raise_if_any()
    ProductionLog.objects.bulk_create(pending)
    LogBatch.objects.filter(pk=batch.pk).update(log_count=count)
    batch.log_count = count
    return batch
