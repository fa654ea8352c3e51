"""Where an upload's bytes are kept, through the storage API only: one stored file (a multipart POST) or the parts
of a resumable upload, which are read back in order as one seekable file."""

from __future__ import annotations

import bisect
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from django.core.files import File
from django.core.files.storage import Storage, default_storage

from datasets.models import Upload, UploadPart

READ_BUFFER = 1024 * 1024


class PartsReader(io.RawIOBase):
    """Contiguous stored parts as one file: reads cross part boundaries, seeks go anywhere (a ZIP's directory is
    at its end). One part is open at a time."""

    def __init__(self, storage: Storage, parts: list[tuple[int, int, str]]) -> None:
        super().__init__()
        self._storage = storage
        self._starts = [offset for offset, _, _ in parts]
        self._parts = parts
        self._size = sum(size for _, size, _ in parts)
        self._position = 0
        self._current: tuple[int, IO[bytes]] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]  # any writable buffer
        if self._position >= self._size:
            return 0
        index = bisect.bisect_right(self._starts, self._position) - 1
        start, size, _ = self._parts[index]
        part = self._open(index)
        part.seek(self._position - start)
        data = part.read(min(len(buffer), start + size - self._position))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def _open(self, index: int) -> IO[bytes]:
        if self._current is None or self._current[0] != index:
            self._close_current()
            self._current = (index, self._storage.open(self._parts[index][2], "rb"))
        return self._current[1]

    def _close_current(self) -> None:
        if self._current is not None:
            self._current[1].close()
            self._current = None

    def close(self) -> None:
        self._close_current()
        super().close()


@contextmanager
def upload_open(*, upload: Upload) -> Iterator[File]:
    """The upload's bytes as one readable, seekable file, wherever they are stored."""
    parts = list(UploadPart.objects.filter(upload=upload).order_by("offset").values_list("offset", "size", "name"))
    if not parts:
        with upload.file.open("rb") as file:
            yield file
        return
    reader = io.BufferedReader(PartsReader(default_storage, parts), buffer_size=READ_BUFFER)
    with File(reader, name=upload.source_name) as file:  # a Django File, as upload.file.open() gives: chunks()
        yield file


def parts_folder(upload_id: int) -> str:
    return f"uploads/resumable/{upload_id}"


def upload_files_delete(*, upload: Upload) -> None:
    """The bytes go (the row stays: its status and error are what the client reads). Every object in the parts'
    folder goes, also one whose PATCH died between storing it and recording it."""
    try:
        _, names = default_storage.listdir(parts_folder(upload.pk))
    except FileNotFoundError:  # local disk: no PATCH ever arrived
        names = []
    for name in names:
        default_storage.delete(f"{parts_folder(upload.pk)}/{name}")
    UploadPart.objects.filter(upload=upload).delete()
    upload.file.delete(save=False)
