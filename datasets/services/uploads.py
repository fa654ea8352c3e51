"""Uploads too large to ingest within the request: stored, then ingested by the worker."""
from typing import Any, Callable

from django.core.files import File
from django.db import transaction

from core.errors import ApplicationError
from core.models import User
from datasets.models import Upload


def upload_store(*, kind: str, file: File, target: dict[str, Any], created_by: User) -> Upload:
    """Keep the file and record what it is for; the caller enqueues the ingest on commit."""
    upload = Upload(kind=kind, target=target, source_name=(file.name or "upload")[:255], created_by=created_by)
    upload.file.save(file.name or "upload.jsonl", file, save=False)
    upload.save()
    return upload


def upload_process(*, upload_id: int, ingest: Callable[[Upload], dict[str, Any]]) -> None:
    """Run one ingest function over a stored upload and record ready (with its result) or failed (with why)."""
    claimed = Upload.objects.filter(pk=upload_id, status=Upload.Status.QUEUED).update(status=Upload.Status.PROCESSING)
    if not claimed:
        return  # already taken by another worker, or finished
    upload = Upload.objects.get(pk=upload_id)
    try:
        result = ingest(upload)
    except ApplicationError as exc:
        Upload.objects.filter(pk=upload_id).update(
            status=Upload.Status.FAILED, error={"message": exc.message, "code": exc.code, "extra": exc.extra}
        )
        return
    except Exception as exc:
        Upload.objects.filter(pk=upload_id).update(
            status=Upload.Status.FAILED, error={"message": f"Ingest failed: {exc.__class__.__name__}", "code": "internal", "extra": {}}
        )
        raise
    Upload.objects.filter(pk=upload_id).update(status=Upload.Status.READY, result=result)
    upload.file.delete(save=False)


def upload_enqueue_on_commit(upload: Upload, task) -> None:
    transaction.on_commit(lambda: task.delay(upload.pk))
