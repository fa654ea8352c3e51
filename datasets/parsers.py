"""Validating uploaded records: a decoded record in, a row ready for the bulk loader or precise errors
(file, line, column, field, rule) out. No Django."""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from core.lazy import lazy_module

if TYPE_CHECKING:
    import PIL.Image as Image
else:  # Pillow loads with the first image checked, not with every process
    Image = lazy_module("PIL.Image")

MAX_REPORTED_ERRORS = 100
MAX_IMAGE_PIXELS = 40_000_000  # refuses decompression bombs before decoding
IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpg"}


@dataclass(frozen=True)
class RowError:
    line: int
    field: str | None
    message: str
    column: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "field": self.field, "message": self.message}


class UploadInvalid(Exception):
    """Raised once reading is over, carrying the first errors (by line) and how many there were in all."""

    def __init__(self, filename: str, errors: list[RowError], total: int):
        self.filename, self.errors, self.total = filename, errors, total
        first = errors[0]
        where = f"{filename} line {first.line}" if first.line else filename
        where += f", column {first.column}" if first.column else ""
        where += f", field '{first.field}'" if first.field else ""
        more = f" (and {total - 1} more error{'s' if total > 2 else ''})" if total > 1 else ""
        super().__init__(f"{where}: {first.message}{more}")


@dataclass
class ErrorCollector:
    filename: str
    errors: list[RowError] = field(default_factory=list)
    total: int = 0

    def add(self, line: int, field_name: str | None, message: str, column: int | None = None) -> None:
        self.total += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line, field_name, message, column))

    def merge(self, found: list[RowError], total: int) -> None:
        """Add errors found later (e.g. by the database) and keep the first ones by line."""
        self.total += total
        self.errors = sorted(self.errors + found, key=lambda e: e.line)[:MAX_REPORTED_ERRORS]

    def raise_if_any(self) -> None:
        if self.total:
            raise UploadInvalid(self.filename, self.errors, self.total)


class ItemRow(NamedTuple):
    """One validated item, its JSON values already serialised, in the staging table's column order.
    (A tuple: a frozen dataclass per row cost seconds per million rows.)"""

    line: int
    external_id: str
    input: str
    reference: str | None
    tags: str
    image: str  # storage name of the item's image, or ""


class PredictionRow(NamedTuple):
    line: int
    item_id: str
    output: str
    score: float | None


def _external_id(number: int, obj: dict, errors: ErrorCollector) -> str | None:
    value = obj.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        errors.add(number, "id", "is required: a non-empty string of at most 255 characters")
        return None
    if "\x00" in value:
        errors.add(number, "id", "contains a NUL character")
        return None
    return value


def _json_text(number: int, field_name: str, value: Any, errors: ErrorCollector) -> str | None:
    """Serialise for the database, refusing what PostgreSQL's jsonb cannot hold (NUL characters)."""
    try:
        text = orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError) as exc:
        errors.add(number, field_name, f"cannot be stored: {exc}")
        return None
    if b"\\u0000" in text:
        errors.add(number, field_name, "contains a NUL character (\\u0000), which cannot be stored")
        return None
    return text.decode()


# Turns an item's image value (base64 text, or a path inside a ZIP) into a stored file's name; raises ValueError.
ImageStore = Callable[[int, Any], str]


def validate_item(number: int, obj: dict, errors: ErrorCollector, store_image: ImageStore | None) -> ItemRow | None:
    """Dataset record: {"id": str, "input": str | object, "reference"?: any, "tags"?: [str]}.

    An image sits in input.image: base64 PNG/JPEG in JSONL, a file name inside a ZIP upload."""
    external_id = _external_id(number, obj, errors)
    value = obj.get("input")
    if not isinstance(value, (str, dict)) or value in ("", {}):
        errors.add(number, "input", "is required: a non-empty string or object")
        return None
    tags = obj.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        errors.add(number, "tags", "must be a list of non-empty strings")
        return None
    if external_id is None:
        return None
    stored = _input_image_stored(number, value, errors, store_image)
    if stored is None:
        return None
    value, image = stored
    input_text = _json_text(number, "input", value, errors)
    reference = obj.get("reference")
    reference_text = None if reference is None else _json_text(number, "reference", reference, errors)
    tags_text = _json_text(number, "tags", tags, errors)
    if input_text is None or (reference is not None and reference_text is None) or tags_text is None:
        return None
    return ItemRow(number, external_id, input_text, reference_text, tags_text, image)


def _input_image_stored(
    number: int, value: str | dict, errors: ErrorCollector, store_image: ImageStore | None
) -> tuple[str | dict, str] | None:
    """The input without its image, and the stored image's name ("" when there is none); None when the image is
    refused (reported to `errors`)."""
    if not isinstance(value, dict) or "image" not in value:
        return value, ""
    if store_image is None:
        errors.add(number, "input.image", "images are not accepted here")
        return None
    try:
        image = store_image(number, value["image"])
    except ValueError as exc:
        errors.add(number, "input.image", str(exc))
        return None
    return {k: v for k, v in value.items() if k != "image"}, image


def validate_prediction(number: int, obj: dict, errors: ErrorCollector) -> PredictionRow | None:
    """Prediction record: {"id": item id, "output": str | object | list, "score"?: number}.

    Whether the item exists, and whether an id repeats, the database answers once every row is staged."""
    item_id = _external_id(number, obj, errors)
    output = obj.get("output")
    if not isinstance(output, (str, dict, list)) or output in ("", {}, []):
        errors.add(number, "output", "is required: a non-empty string or object")
        return None
    score = obj.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float)) or score != score):
        errors.add(number, "score", "must be a number")
        return None
    output_text = _json_text(number, "output", output, errors)
    if item_id is None or output_text is None:
        return None
    return PredictionRow(number, item_id, output_text, None if score is None else float(score))


def decode_image(encoded: Any) -> tuple[bytes, str]:
    """Check a base64 PNG/JPEG with Pillow; return its bytes and file extension, or raise ValueError."""
    if not isinstance(encoded, str):
        raise ValueError("must be a base64 string")
    if encoded.startswith("data:") and "," in encoded:
        encoded = encoded.split(",", 1)[1]
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not valid base64") from None
    return data, check_image(data)


def check_image(data: bytes) -> str:
    """Verify and decode a PNG/JPEG with Pillow, refusing decompression bombs by their declared size before
    any pixel is decoded; returns the file extension or raises ValueError."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            extension = IMAGE_FORMATS.get(image.format or "")
            if extension is None:
                raise ValueError(f"must be PNG or JPEG, got {image.format}")
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ValueError(f"has {image.width}x{image.height} pixels, more than the limit of {MAX_IMAGE_PIXELS}")
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # verify() reads the structure; a truncated image shows only when decoded
        return extension
    # Pillow's verify() reports a corrupt PNG (bad chunk checksum) as SyntaxError
    except (Image.UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise ValueError("is not a readable PNG or JPEG image") from None
