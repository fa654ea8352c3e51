"""Helpers for uploaded files: content hash, and turning parse errors into API errors."""

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.files import File

from core.errors import ApplicationError
from datasets.parsers import UploadInvalid


def file_sha256(file: File) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for chunk in file.chunks():
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


@contextmanager
def upload_errors_as_application_error() -> Iterator[None]:
    try:
        yield
    except UploadInvalid as exc:
        raise ApplicationError(
            str(exc),
            code="invalid_upload",
            extra={"file": exc.filename, "errors": [e.as_dict() for e in exc.errors], "total": exc.total},
        ) from None
