"""Resumable uploads on the tus protocol (https://tus.io/protocols/resumable-upload, v1.0.0: core, creation,
termination).

Why tus: it is an open, documented protocol with maintained clients in most languages (tus-js-client,
tuspy, tusd's Go client), so a training job can resume a 10 GB upload with an off-the-shelf library as well
as with `signoff push`. The client creates an upload (POST, with its length and target), sends bytes with
PATCH at the offset the server confirms, and after a dropped connection asks HEAD where to resume. Once all
bytes have arrived the upload is checked and queued like any other.

Across web nodes: each PATCH's bytes become one object of their own in the default storage (an `UploadPart`,
`uploads/resumable/<upload id>/<offset>-<random>.part`), and the offset lives in the database row, so the next
PATCH may reach any node. Two PATCHes racing at one offset both store their bytes, but only one moves the
row's offset (a conditional UPDATE, which takes the row lock); the other's part is deleted and it gets 409
offset_mismatch. Neither holds a transaction open while its body arrives. The worker reads the parts in order as
one file (`datasets/services/upload_files.py`); they are never copied into one object.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from typing import IO, cast

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError, ConflictError
from core.models import User
from datasets import upload_kinds
from datasets.models import Upload, UploadPart
from datasets.services.ingest import upload_precheck
from datasets.services.upload_files import parts_folder, upload_files_delete, upload_open

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
    return Upload.objects.create(  # no file: the bytes arrive as parts
        kind=metadata["kind"],
        status=Upload.Status.RECEIVING,
        source_name=filename[:255],
        target=target,
        bytes_total=length,
        created_by=created_by,
    )


def resumable_offset(*, upload: Upload) -> int:
    """The row is the truth: a PATCH cut short has moved it by the bytes that arrived."""
    if upload.status != Upload.Status.RECEIVING:
        return upload.bytes_total
    return upload.bytes_done


def resumable_append(*, upload: Upload, offset: int, stream: IO[bytes]) -> int:
    """Store the request body as the part at `offset`; returns the new offset. The last byte queues the ingest."""
    status, current = Upload.objects.filter(pk=upload.pk).values_list("status", "bytes_done").get()
    if status != Upload.Status.RECEIVING:
        raise ConflictError("This upload has all its bytes already.", code="upload_complete", extra={"status": status})
    if offset != current:
        raise _offset_mismatch(offset, current)
    body = _Body(stream, room=upload.bytes_total - offset)
    name = default_storage.save(
        f"{parts_folder(upload.pk)}/{offset:015d}-{secrets.token_hex(4)}.part", File(cast(IO[bytes], body))
    )
    if body.received == 0 or body.too_long:
        default_storage.delete(name)
        if body.too_long:
            raise ApplicationError("The request sends more bytes than Upload-Length announced.", code="too_long")
        return offset
    new_offset = offset + body.received
    with transaction.atomic():
        moved = Upload.objects.filter(pk=upload.pk, status=Upload.Status.RECEIVING, bytes_done=offset).update(
            bytes_done=new_offset, heartbeat_at=timezone.now()
        )
        if moved:
            UploadPart.objects.create(upload_id=upload.pk, offset=offset, size=body.received, name=name)
    if not moved:  # another PATCH at this offset was first
        default_storage.delete(name)
        status, current = Upload.objects.filter(pk=upload.pk).values_list("status", "bytes_done").get()
        if status != Upload.Status.RECEIVING:
            raise ConflictError("This upload has all its bytes already.", code="upload_complete")
        raise _offset_mismatch(offset, current)
    if new_offset == upload.bytes_total:
        _complete(upload)
    return new_offset


def _offset_mismatch(offset: int, current: int) -> ConflictError:
    return ConflictError(
        f"Upload-Offset {offset} does not match the {current} bytes received; resume from {current}.",
        code="offset_mismatch",
        extra={"offset": current},
    )


class _Body:
    """The request body as a file for the storage to save: at most `room` bytes; a dropped connection ends it
    (what arrived is kept, the client resumes from there); a byte beyond `room` marks it too long. A read returns
    all it was asked for unless the body ends: S3's multipart upload takes a short read for the last part."""

    closed = False

    def __init__(self, stream: IO[bytes], room: int) -> None:
        self.stream, self.room = stream, room
        self.received = 0
        self.too_long = False
        self._ended = False

    def seekable(self) -> bool:
        return False

    def read(self, size: int | None = -1) -> bytes:
        left = self.room - self.received
        if left <= 0:
            self.too_long = self.too_long or self._more_bytes()
            return b""
        want = left if size is None or size < 0 else min(size, left)
        chunks = []
        while want and not self._ended:
            chunk = self._read_some(min(want, READ_CHUNK))
            chunks.append(chunk)
            want -= len(chunk)
        data = b"".join(chunks)
        self.received += len(data)
        return data

    def _read_some(self, size: int) -> bytes:
        try:
            chunk = self.stream.read(size)
        except OSError:
            chunk = b""
        self._ended = not chunk
        return chunk

    def _more_bytes(self) -> bool:
        return not self._ended and bool(self._read_some(1))


def _complete(upload: Upload) -> None:
    """All bytes are in: check the file's start (a clear 400 now), then hand it to the worker."""
    kind = upload_kinds.registered(upload.kind)
    try:
        with upload_open(upload=upload) as file:
            upload_precheck(file=file, fields=kind.fields, filename=upload.source_name)
    except ApplicationError as exc:
        Upload.objects.filter(pk=upload.pk).update(
            status=Upload.Status.FAILED, error={"message": exc.message, "code": exc.code, "extra": exc.extra}
        )
        upload_files_delete(upload=upload)
        raise
    with transaction.atomic():
        if Upload.objects.filter(pk=upload.pk, status=Upload.Status.RECEIVING).update(status=Upload.Status.QUEUED):
            transaction.on_commit(lambda: kind.enqueue(upload.pk))  # once, even if two last PATCHes race


def resumable_delete(*, upload: Upload) -> None:
    """tus termination: the client gives up; the bytes go."""
    if upload.status != Upload.Status.RECEIVING:
        raise ConflictError("Only an upload still receiving bytes can be deleted.", code="upload_complete")
    upload_files_delete(upload=upload)
    upload.delete()
