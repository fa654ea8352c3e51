"""Resumable uploads on the tus protocol (https://tus.io/protocols/resumable-upload, v1.0.0: core, creation,
termination).

Why tus: it is an open, documented protocol with maintained clients in most languages (tus-js-client,
tuspy, tusd's Go client), so a training job can resume a 10 GB upload with an off-the-shelf library as well
as with `signoff push`. The client creates an upload (POST, with its length and target), sends bytes with
PATCH at the offset the server confirms, and after a dropped connection asks HEAD where to resume. The
bytes go straight to a file on disk; once all have arrived the upload is checked and queued like any other.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import os
import uuid
from typing import IO

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError, ConflictError
from core.models import User
from datasets import upload_kinds
from datasets.models import Upload
from datasets.services.ingest import upload_precheck

TUS_VERSION = "1.0.0"
READ_CHUNK = 1024 * 1024


def parse_metadata(header: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64(value)` pairs."""
    meta = {}
    for pair in filter(None, (p.strip() for p in (header or "").split(","))):
        key, _, encoded = pair.partition(" ")
        try:
            meta[key] = base64.b64decode(encoded, validate=True).decode() if encoded else ""
        except (binascii.Error, UnicodeDecodeError):
            raise ApplicationError(
                f"Upload-Metadata value of {key!r} is not base64 of UTF-8 text.", code="invalid_metadata"
            ) from None
    return meta


def resumable_create(*, length: int, metadata: dict[str, str], created_by: User) -> Upload:
    kind = upload_kinds.get(metadata.get("kind", ""))
    if kind is None:
        raise ApplicationError(
            f"Upload-Metadata needs kind, one of {', '.join(upload_kinds.names())}.",
            code="invalid_metadata",
            extra={"field": "kind"},
        )
    if length <= 0:
        raise ApplicationError("Upload-Length must be a positive number of bytes.", code="invalid_length")
    if length > settings.SIGNOFF_MAX_UPLOAD_BYTES:
        raise ApplicationError(
            f"Uploads are limited to {settings.SIGNOFF_MAX_UPLOAD_BYTES} bytes.", code="too_large", status=413
        )
    target = kind.resolve_target(metadata)
    filename = os.path.basename(metadata.get("filename", "")) or "upload.jsonl"
    name = default_storage.save(f"uploads/resumable/{uuid.uuid4().hex}.part", ContentFile(b""))
    return Upload.objects.create(
        kind=metadata["kind"],
        status=Upload.Status.RECEIVING,
        file=name,
        source_name=filename[:255],
        target=target,
        bytes_total=length,
        created_by=created_by,
    )


def resumable_offset(*, upload: Upload) -> int:
    """The bytes on disk are the truth: a PATCH cut short keeps what arrived."""
    if upload.status != Upload.Status.RECEIVING:
        return upload.bytes_total
    try:
        return os.path.getsize(default_storage.path(upload.file.name))
    except FileNotFoundError:
        return 0


def resumable_append(*, upload: Upload, offset: int, stream: IO[bytes]) -> int:
    """Append the request body at `offset`; returns the new offset. The last byte queues the ingest."""
    if upload.status != Upload.Status.RECEIVING:
        raise ConflictError(
            "This upload has all its bytes already.", code="upload_complete", extra={"status": upload.status}
        )
    path = default_storage.path(upload.file.name)
    with open(path, "ab") as out:
        try:  # one writer at a time, across processes
            fcntl.flock(out, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConflictError("Another request is sending bytes to this upload.", code="upload_locked") from None
        if not Upload.objects.filter(pk=upload.pk, status=Upload.Status.RECEIVING).exists():  # completed meanwhile
            raise ConflictError("This upload has all its bytes already.", code="upload_complete")
        current = out.seek(0, os.SEEK_END)
        if offset != current:
            raise ConflictError(
                f"Upload-Offset {offset} does not match the {current} bytes received; resume from {current}.",
                code="offset_mismatch",
                extra={"offset": current},
            )
        received = _copy(stream, out, upload.bytes_total - current)
        new_offset = current + received
    Upload.objects.filter(pk=upload.pk).update(bytes_done=new_offset, heartbeat_at=timezone.now())
    if new_offset == upload.bytes_total:
        _complete(upload)
    return new_offset


def _copy(stream: IO[bytes], out: IO[bytes], room: int) -> int:
    received = 0
    while received < room:
        try:
            chunk = stream.read(min(READ_CHUNK, room - received))
        except OSError:
            break  # the client went away: keep what arrived, it resumes from there
        if not chunk:
            break
        out.write(chunk)
        received += len(chunk)
    out.flush()
    if received == room and stream.read(1):
        out.truncate(out.tell() - received)
        raise ApplicationError("The request sends more bytes than Upload-Length announced.", code="too_long")
    return received


def _complete(upload: Upload) -> None:
    """All bytes are in: check the file's start (a clear 400 now), then hand it to the worker."""
    kind = upload_kinds.get(upload.kind)
    try:
        with upload.file.open("rb") as file:
            upload_precheck(file=file, fields=kind.fields, filename=upload.source_name)
    except ApplicationError as exc:
        Upload.objects.filter(pk=upload.pk).update(
            status=Upload.Status.FAILED, error={"message": exc.message, "code": exc.code, "extra": exc.extra}
        )
        upload.file.delete(save=False)
        raise
    with transaction.atomic():
        if Upload.objects.filter(pk=upload.pk, status=Upload.Status.RECEIVING).update(status=Upload.Status.QUEUED):
            transaction.on_commit(lambda: kind.enqueue(upload.pk))  # once, even if two last PATCHes race


def resumable_delete(*, upload: Upload) -> None:
    """tus termination: the client gives up; the bytes go."""
    if upload.status != Upload.Status.RECEIVING:
        raise ConflictError("Only an upload still receiving bytes can be deleted.", code="upload_complete")
    upload.file.delete(save=False)
    upload.delete()
