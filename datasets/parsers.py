"""Pure parsing of uploads: bytes in, validated rows or precise errors (file, line, field) out. No Django."""
from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from PIL import Image, UnidentifiedImageError

MAX_REPORTED_ERRORS = 100
MAX_IMAGE_PIXELS = 40_000_000  # refuses decompression bombs before decoding
IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpg"}


@dataclass(frozen=True)
class RowError:
    line: int
    field: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


class UploadInvalid(Exception):
    """Raised once parsing is over, carrying the first errors and how many there were in all."""

    def __init__(self, filename: str, errors: list[RowError], total: int):
        self.filename, self.errors, self.total = filename, errors, total
        first = errors[0]
        where = f"{filename} line {first.line}" + (f", field '{first.field}'" if first.field else "")
        more = f" (and {total - 1} more error{'s' if total > 2 else ''})" if total > 1 else ""
        super().__init__(f"{where}: {first.message}{more}")


@dataclass
class ErrorCollector:
    filename: str
    errors: list[RowError] = field(default_factory=list)
    total: int = 0

    def add(self, line: int, field_name: str | None, message: str) -> None:
        self.total += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line, field_name, message))

    def raise_if_any(self) -> None:
        if self.total:
            raise UploadInvalid(self.filename, self.errors, self.total)


@dataclass(frozen=True)
class ItemRow:
    line: int
    external_id: str
    input: Any
    reference: Any
    tags: list[str]
    image: bytes | None = None
    image_ext: str | None = None


@dataclass(frozen=True)
class PredictionRow:
    line: int
    item_id: str
    output: Any
    score: float | None


def iter_jsonl(lines: Iterable[bytes], errors: ErrorCollector) -> Iterator[tuple[int, Any]]:
    """Yield (line number, decoded object) for each non-blank line; undecodable lines become errors."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw)
        except UnicodeDecodeError:
            errors.add(number, None, "is not valid UTF-8")
        except (json.JSONDecodeError, RecursionError) as exc:
            errors.add(number, None, f"is not valid JSON ({getattr(exc, 'msg', 'nested too deeply')})")


def _expect_object(number: int, obj: Any, errors: ErrorCollector) -> bool:
    if not isinstance(obj, dict):
        errors.add(number, None, f"must be a JSON object, got {type(obj).__name__}")
        return False
    return True


def _id_field(number: int, obj: dict, errors: ErrorCollector, seen: set[str]) -> str | None:
    value = obj.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        errors.add(number, "id", "is required: a non-empty string of at most 255 characters")
        return None
    if value in seen:
        errors.add(number, "id", f"duplicates id {value!r} from an earlier line")
        return None
    seen.add(value)
    return value


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
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in IMAGE_FORMATS:
                raise ValueError(f"must be PNG or JPEG, got {image.format}")
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ValueError(f"has {image.width}x{image.height} pixels, more than the limit of {MAX_IMAGE_PIXELS}")
            image.verify()
            return data, IMAGE_FORMATS[image.format]
    # Pillow's verify() reports a corrupt PNG (bad chunk checksum) as SyntaxError
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise ValueError("is not a readable PNG or JPEG image") from None


def parse_items(lines: Iterable[bytes], filename: str) -> list[ItemRow]:
    """Dataset JSONL: {"id": str, "input": str | object, "reference"?: any, "tags"?: [str]}."""
    errors = ErrorCollector(filename)
    rows: list[ItemRow] = []
    seen: set[str] = set()
    for number, obj in iter_jsonl(lines, errors):
        if not _expect_object(number, obj, errors):
            continue
        external_id = _id_field(number, obj, errors, seen)
        value = obj.get("input")
        if not isinstance(value, (str, dict)) or value in ("", {}):
            errors.add(number, "input", "is required: a non-empty string or object")
            continue
        image = image_ext = None
        if isinstance(value, dict) and "image" in value:
            try:
                image, image_ext = decode_image(value["image"])
            except ValueError as exc:
                errors.add(number, "input.image", str(exc))
                continue
            value = {k: v for k, v in value.items() if k != "image"}
        tags = obj.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
            errors.add(number, "tags", "must be a list of non-empty strings")
            continue
        if external_id is not None:
            rows.append(ItemRow(number, external_id, value, obj.get("reference"), tags, image, image_ext))
    if not rows and not errors.total:
        errors.add(0, None, "holds no rows")
    errors.raise_if_any()
    return rows


def parse_predictions(lines: Iterable[bytes], filename: str, known_ids: set[str]) -> list[PredictionRow]:
    """Predictions JSONL: {"id": item id, "output": str | object, "score"?: number}."""
    errors = ErrorCollector(filename)
    rows: list[PredictionRow] = []
    seen: set[str] = set()
    for number, obj in iter_jsonl(lines, errors):
        if not _expect_object(number, obj, errors):
            continue
        item_id = _id_field(number, obj, errors, seen)
        if item_id is not None and item_id not in known_ids:
            errors.add(number, "id", f"no item {item_id!r} in this dataset version")
            item_id = None
        output = obj.get("output")
        if not isinstance(output, (str, dict, list)) or output in ("", {}, []):
            errors.add(number, "output", "is required: a non-empty string or object")
            continue
        score = obj.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            errors.add(number, "score", "must be a number")
            continue
        if item_id is not None:
            rows.append(PredictionRow(number, item_id, output, None if score is None else float(score)))
    if not rows and not errors.total:
        errors.add(0, None, "holds no rows")
    errors.raise_if_any()
    return rows
