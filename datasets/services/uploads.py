"""Uploads too large to ingest within the request: stored, then ingested by the worker, which reports progress.

A worker that dies mid-ingest leaves nothing behind (rows are staged in a TEMP table and published in one
transaction); the upload's heartbeat stops, and `uploads_requeue_stale` hands it to another worker."""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.errors import ApplicationError
from core.models import User
from datasets import upload_kinds
from datasets.models import Upload
from datasets.services.ingest import Progress, ProgressFn, upload_precheck
from datasets.services.upload_files import upload_files_delete

MAX_ATTEMPTS = 3
ABANDONED_AFTER = timedelta(hours=24)  # a resumable upload no byte has reached for this long is given up


def upload_store(*, kind: str, file: File, target: dict[str, Any], created_by: User) -> Upload:
    """Keep the file and record what it is for; the caller enqueues the ingest on commit."""
    upload = Upload(
        kind=kind,
        target=target,
        source_name=(file.name or "upload")[:255],
        created_by=created_by,
        bytes_total=file.size or 0,
    )
    upload.file.save(file.name or "upload.jsonl", file, save=False)
    upload.save()
    return upload


def upload_accept(
    *, kind: str, file: File, fields: set[str], target: dict[str, Any], created_by: User, enqueue: Callable[[int], Any]
) -> Upload:
    """Check the file's start (a clear 400 now beats a failed upload later), keep it, and queue its ingest."""
    upload_precheck(file=file, fields=fields, filename=file.name or "upload")
    with transaction.atomic():
        upload = upload_store(kind=kind, file=file, target=target, created_by=created_by)
        transaction.on_commit(lambda: enqueue(upload.pk))
    return upload


def upload_accept_if_large(*, kind: str, file: File, target: dict[str, Any], created_by: User) -> Upload | None:
    """Where an upload is ingested, for every upload endpoint: a file over SIGNOFF_SYNC_UPLOAD_MAX_BYTES is checked,
    kept and queued for a worker (the caller answers 202 with the upload to poll); a smaller one gives None, and the
    caller ingests it within the request."""
    if (file.size or 0) <= settings.SIGNOFF_SYNC_UPLOAD_MAX_BYTES:
        return None
    registered = upload_kinds.registered(kind)
    return upload_accept(
        kind=kind,
        file=file,
        fields=registered.fields,
        target=target,
        created_by=created_by,
        enqueue=registered.enqueue,
    )


def upload_process(*, upload_id: int, ingest: Callable[[Upload, ProgressFn], dict[str, Any]]) -> None:
    """Run one ingest function over a stored upload and record ready (with its result) or failed (with why)."""
    now = timezone.now()
    claimed = Upload.objects.filter(pk=upload_id, status=Upload.Status.QUEUED).update(
        status=Upload.Status.PROCESSING,
        phase="reading",
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        rows_done=0,
        bytes_done=0,
    )
    if not claimed:
        return  # already taken by another worker, or finished
    upload = Upload.objects.get(pk=upload_id)
    progress = Progress(upload.pk, upload.bytes_total or upload.file.size)
    try:
        result = ingest(upload, progress)
    except ApplicationError as exc:
        _finish(
            upload, status=Upload.Status.FAILED, error={"message": exc.message, "code": exc.code, "extra": exc.extra}
        )
        return
    except Exception as exc:
        _finish(
            upload,
            status=Upload.Status.FAILED,
            error={"message": f"Ingest failed: {exc.__class__.__name__}", "code": "internal", "extra": {}},
        )
        raise
    finally:
        progress.close()
    _finish(upload, status=Upload.Status.READY, result=result)


def _finish(upload: Upload, **fields: Any) -> None:
    Upload.objects.filter(pk=upload.pk).update(phase="", heartbeat_at=timezone.now(), **fields)
    upload_files_delete(upload=upload)  # what was wrong is in the error; the bytes are the client's to fix


def uploads_requeue_stale(*, now: datetime | None = None) -> list[int]:
    """Uploads whose worker stopped reporting: back to the queue, or failed after MAX_ATTEMPTS. Returns the
    ids to enqueue again."""
    now = now or timezone.now()
    stale = Upload.objects.filter(status=Upload.Status.PROCESSING).filter(
        Q(heartbeat_at__lt=now - timedelta(seconds=settings.SIGNOFF_UPLOAD_STALE_SECONDS))
        | Q(heartbeat_at__isnull=True)
    )
    requeued: list[int] = []
    for upload in stale:
        with transaction.atomic():
            if upload.attempts >= MAX_ATTEMPTS:
                Upload.objects.filter(pk=upload.pk, status=Upload.Status.PROCESSING).update(
                    status=Upload.Status.FAILED,
                    phase="",
                    error={
                        "message": f"The worker stopped {upload.attempts} times while reading this upload.",
                        "code": "worker_lost",
                        "extra": {},
                    },
                )
            elif Upload.objects.filter(
                pk=upload.pk, status=Upload.Status.PROCESSING, heartbeat_at=upload.heartbeat_at
            ).update(status=Upload.Status.QUEUED, phase=""):
                requeued.append(upload.pk)
    return requeued


def uploads_delete_abandoned(*, now: datetime | None = None) -> int:
    """Resumable uploads whose client stopped sending a day ago: their partial files go. Returns how many."""
    now = now or timezone.now()
    abandoned = Upload.objects.filter(status=Upload.Status.RECEIVING).filter(
        Q(heartbeat_at__lt=now - ABANDONED_AFTER) | Q(heartbeat_at__isnull=True, created_at__lt=now - ABANDONED_AFTER)
    )
    deleted = 0
    for upload in abandoned:
        upload_files_delete(upload=upload)
        deleted += Upload.objects.filter(pk=upload.pk, status=Upload.Status.RECEIVING).delete()[0]
    return deleted
