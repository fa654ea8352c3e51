"""Validating one production log record: {"input", "output", "id"?, "at"?, "tags"?}. Pure: no Django."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import orjson

from datasets.parsers import ErrorCollector

LOG_FIELDS = {"input", "output", "id", "at", "tags"}


class LogRow(NamedTuple):
    line: int
    external_id: str
    input: Any
    output: Any
    tags: list[str]
    at: datetime | None  # None: the upload's time


def _at(value: Any) -> datetime | None:
    """An ISO 8601 time with its offset (a naive time would be read in the server's zone: refused)."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 time with an offset, e.g. 2026-12-01T09:30:00Z")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value[:40]!r} is not an ISO 8601 time, e.g. 2026-12-01T09:30:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError("needs a time zone offset (Z or +01:00)")
    return parsed


def _checked(number: int, obj: dict, errors: ErrorCollector) -> bool:
    before = errors.total
    unknown = sorted(set(obj) - LOG_FIELDS)
    if unknown:
        errors.add(number, unknown[0], f"is not a log field (expected {', '.join(sorted(LOG_FIELDS))})")
    if not isinstance(obj.get("input"), (str, dict)) or obj.get("input") in ("", {}):
        errors.add(number, "input", "is required: a non-empty string or object")
    if not isinstance(obj.get("output"), (str, dict, list)) or obj.get("output") in ("", {}, []):
        errors.add(number, "output", "is required: a non-empty string or object")
    external_id = obj.get("id", "")
    if not isinstance(external_id, (str, int)) or isinstance(external_id, bool) or len(str(external_id)) > 255:
        errors.add(number, "id", "must be a string of at most 255 characters")
    tags = obj.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        errors.add(number, "tags", "must be a list of non-empty strings")
    for name in ("input", "output"):
        if b"\\u0000" in orjson.dumps(obj.get(name)):
            errors.add(number, name, "contains a NUL character (\\u0000), which cannot be stored")
    return errors.total == before


def validate_log(number: int, obj: dict, errors: ErrorCollector) -> LogRow | None:
    """The row, or None with each problem added to `errors` under its line and field."""
    if not _checked(number, obj, errors):
        return None
    at = None
    if obj.get("at") is not None:
        try:
            at = _at(obj["at"])
        except ValueError as exc:
            errors.add(number, "at", str(exc))
            return None
    return LogRow(number, str(obj.get("id", "")), obj["input"], obj["output"], list(obj.get("tags", [])), at)
