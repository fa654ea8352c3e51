"""A ZIP of images as a dataset version, with or without a manifest. No Django.

With a manifest (manifest.jsonl or manifest.csv at the top of the archive) each row names its image:
{"id", "image": "path/in/archive.png", "input"?, "reference"?, "tags"?}. Without one, every PNG/JPEG
becomes an item: its path without extension is the id, and the folder it sits in its tag (class folders).

Nothing in the archive is trusted: member sizes are checked before reading and enforced while reading (a
ZIP bomb's headers may lie), names are never used as paths on disk, and images are verified by Pillow.
"""

from __future__ import annotations

import io
import posixpath
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from datasets.parsers import ErrorCollector
from datasets.readers import ByteCounter, FileRejected, iter_csv, iter_jsonl

MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_MANIFEST_BYTES = 4 * 1024**3
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MANIFESTS = ("manifest.jsonl", "manifest.csv")
# What reading a damaged member can raise: a bad CRC or size (BadZipFile), corrupt deflate data (zlib.error),
# data that ends early (EOFError), an encrypted member (RuntimeError), an unknown compression (NotImplementedError).
MEMBER_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError, OSError)


@dataclass(frozen=True)
class ArchiveLimits:
    """What an archive may declare, checked on its central directory before any member is decompressed."""

    max_total_bytes: int = 2 * 1024**3  # sum of the members' declared uncompressed sizes
    max_members: int = 100_000
    max_ratio: int = 200  # uncompressed/compressed beyond this, for anything sizeable, is a bomb, not an image
    ratio_floor: int = 1024 * 1024  # a member, or the whole archive, smaller than this is never called a bomb


class ImageArchive:
    def __init__(self, file: IO[bytes], filename: str, limits: ArchiveLimits = ArchiveLimits()):
        self.filename, self.limits = filename, limits
        try:
            self.zip = zipfile.ZipFile(file)
            members = self.zip.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error) as exc:
            raise FileRejected(filename, f"is not a readable ZIP archive ({exc})") from None
        if len(members) > limits.max_members:
            raise FileRejected(filename, f"holds {len(members)} files, more than the limit of {limits.max_members}")
        self.members = {m.filename: m for m in members if not m.is_dir()}
        for member in self.members.values():
            self._check_size(member)
        self._check_total()

    def _check_size(self, member: zipfile.ZipInfo) -> None:
        limit = MAX_MANIFEST_BYTES if member.filename in MANIFESTS else MAX_IMAGE_BYTES
        if member.file_size > limit:
            raise FileRejected(
                self.filename, f"{member.filename!r} unpacks to {member.file_size} bytes, more than {limit}"
            )
        if self._is_bomb(member.file_size, member.compress_size):
            raise FileRejected(
                self.filename,
                f"{member.filename!r} unpacks {member.file_size // max(member.compress_size, 1)} "
                "times larger than it is packed: refused as a ZIP bomb",
            )

    def _check_total(self) -> None:
        """Many members each small enough to pass alone still add up: bound the whole archive too."""
        unpacked = sum(m.file_size for m in self.members.values())
        packed = sum(m.compress_size for m in self.members.values())
        if unpacked > self.limits.max_total_bytes:
            raise FileRejected(
                self.filename,
                f"unpacks to {unpacked} bytes in all, more than the limit of {self.limits.max_total_bytes}",
            )
        if self._is_bomb(unpacked, packed):
            raise FileRejected(
                self.filename,
                f"unpacks {unpacked // max(packed, 1)} times larger than it is packed in all: refused as a ZIP bomb",
            )

    def _is_bomb(self, unpacked: int, packed: int) -> bool:
        return unpacked > self.limits.ratio_floor and unpacked > self.limits.max_ratio * max(packed, 1)

    def manifest(self) -> str | None:
        return next((name for name in MANIFESTS if name in self.members), None)

    def records(self, errors: ErrorCollector, counter: ByteCounter, fields: set[str]) -> Iterator[tuple[int, dict]]:
        """Dataset records, each with input.image naming a member of the archive."""
        manifest = self.manifest()
        if manifest is None:
            yield from self._records_from_images()
            return
        errors.filename = f"{self.filename}:{manifest}"
        try:
            with self.zip.open(manifest) as raw:
                stream = io.BufferedReader(_Capped(raw, self.members[manifest].file_size))
                reader = (
                    iter_csv(stream, errors, counter, fields | {"image"})
                    if manifest.endswith(".csv")
                    else iter_jsonl(stream, errors, counter)
                )
                for line, record in reader:
                    yield line, _with_image_in_input(record)
        except MEMBER_ERRORS as exc:
            raise FileRejected(self.filename, f"{manifest!r} cannot be unpacked: {_member_error(exc)}") from None

    def _records_from_images(self) -> Iterator[tuple[int, dict]]:
        images = sorted(
            name
            for name in self.members
            if name.lower().endswith(IMAGE_SUFFIXES) and not posixpath.basename(name).startswith(".")
        )
        if not images:
            raise FileRejected(self.filename, "holds no PNG or JPEG images and no manifest.jsonl or manifest.csv")
        for number, name in enumerate(images, start=1):
            folder = posixpath.dirname(name)
            record: dict[str, Any] = {"id": posixpath.splitext(name)[0], "input": {"image": name}}
            if folder:
                record["tags"] = [posixpath.basename(folder)]
            yield number, record

    def read_image(self, name: Any) -> bytes:
        """The bytes of one member, read no further than its limit whatever its header claims."""
        if not isinstance(name, str) or not name:
            raise ValueError("must name an image file inside the archive")
        member = self.members.get(name.lstrip("/"))
        if member is None:
            raise ValueError(f"no file {name!r} in the archive")
        try:
            with self.zip.open(member) as source:
                # never past the size its header declares (checked against the limits when the archive opened)
                data = source.read(member.file_size)
                beyond = source.read(1)  # also makes zipfile check the CRC at the end
        except MEMBER_ERRORS as exc:
            raise ValueError(f"{member.filename!r} cannot be unpacked: {_member_error(exc)}") from None
        if beyond or len(data) != member.file_size:
            raise ValueError(f"{member.filename!r} does not unpack to the size its header declares")
        return data


def _member_error(exc: BaseException) -> str:
    if isinstance(exc, zlib.error):
        return "its compressed data is corrupt"
    if isinstance(exc, EOFError):
        return "its compressed data ends early"
    if isinstance(exc, RuntimeError) and "encrypted" in str(exc):
        return "it is encrypted"
    return str(exc) or exc.__class__.__name__


def _with_image_in_input(record: dict) -> dict:
    if "image" not in record:
        return record
    record = dict(record)
    image = record.pop("image")
    value = record.get("input")
    if isinstance(value, str):
        value = {"text": value}
    record["input"] = {**(value if isinstance(value, dict) else {}), "image": image}
    return record


class _Capped(io.RawIOBase):
    """A member stream that ends at its declared size: a lying header cannot make it unpack more."""

    def __init__(self, raw: IO[bytes], limit: int):
        self._raw, self._left, self._pos = raw, limit, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == io.SEEK_CUR and offset == 0:
            return self._pos
        if offset != 0 or whence != io.SEEK_SET:
            raise io.UnsupportedOperation("only a rewind")
        self._left += self._pos
        self._pos = 0
        return self._raw.seek(0)

    def readinto(self, buffer) -> int:
        data = self._raw.read(min(len(buffer), self._left))
        buffer[: len(data)] = data
        self._left -= len(data)
        self._pos += len(data)
        return len(data)
