"""Reading an uploaded file record by record, in memory bounded by the longest allowed line. No Django.

Readers turn bytes into (line number, dict) records and report what they cannot read to an ErrorCollector;
what a record must hold is the validators' business (datasets/parsers.py). Whole-file problems (binary data,
a UTF-16 file, a CSV without the columns it needs) raise FileRejected at once instead of one error a line.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from typing import IO, Any

import orjson

from datasets.parsers import ErrorCollector, UploadInvalid

MAX_LINE_BYTES = 16 * 1024 * 1024
SNIFF_BYTES = 64 * 1024
# A file whose first lines are all unreadable is not worth reading to the end, one error per line.
GIVE_UP_AFTER_BAD_LINES = 1000

_BOMS = [
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
]


class FileRejected(UploadInvalid):
    """The file as a whole cannot be read as the format it claims to be."""

    def __init__(self, filename: str, message: str, line: int = 0, column: int | None = None):
        collector = ErrorCollector(filename)
        collector.add(line, None, message, column=column)
        super().__init__(filename, collector.errors, collector.total)


def check_text_head(head: bytes, filename: str) -> None:
    """Refuse, from the first bytes alone, what is not UTF-8 text: UTF-16/32 files and binary data."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            raise FileRejected(filename, f"is {name} encoded; save it as UTF-8")
    if b"\x00" in head:
        raise FileRejected(filename, "holds binary data (NUL bytes), not UTF-8 text")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data" or exc.start < len(head) - 3:  # not just a character cut in two
            line = head.count(b"\n", 0, exc.start) + 1
            column = exc.start - (head.rfind(b"\n", 0, exc.start) + 1) + 1
            raise FileRejected(
                filename, f"is not UTF-8 text: byte 0x{head[exc.start]:02x} cannot start a character", line, column
            ) from None


class ByteCounter:
    """How far into the file the reader is, for progress reports."""

    def __init__(self) -> None:
        self.bytes = 0


def iter_lines(
    stream: IO[bytes], errors: ErrorCollector, counter: ByteCounter, max_line: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, line) without ever holding more than one line of at most `max_line` bytes."""
    number = 0
    while True:
        line = stream.readline(max_line + 1)
        if not line:
            return
        number += 1
        counter.bytes += len(line)
        if len(line) > max_line and not line.endswith(b"\n"):
            errors.add(number, None, f"is longer than the limit of {max_line // (1024 * 1024)} MB")
            while line and not line.endswith(b"\n"):  # skip the rest of it in bounded pieces
                line = stream.readline(1024 * 1024)
                counter.bytes += len(line)
            continue
        yield number, line


def iter_jsonl(
    stream: IO[bytes], errors: ErrorCollector, counter: ByteCounter, max_line: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, dict]]:
    """JSON Lines: one object a line; blank lines are ignored."""
    check_text_head(stream.read(SNIFF_BYTES), errors.filename)
    stream.seek(0)
    good = 0
    for number, raw in iter_lines(stream, errors, counter, max_line):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            bad_byte = _first_bad_utf8(raw)
            if bad_byte is not None:
                errors.add(
                    number,
                    None,
                    f"is not UTF-8 text: byte 0x{raw[bad_byte]:02x} cannot start a character",
                    column=bad_byte + 1,
                )
            else:
                errors.add(number, None, f"is not valid JSON: {_json_reason(exc)}", column=exc.colno or None)
            _give_up_if_hopeless(errors, good)
            continue
        if not isinstance(obj, dict):
            errors.add(number, None, f"must be a JSON object, got {_json_type(obj)}")
            continue
        good += 1
        yield number, obj


def _first_bad_utf8(raw: bytes) -> int | None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def _json_reason(exc: orjson.JSONDecodeError) -> str:
    reason = str(exc).split(": line ")[0]
    if "depth limit" in reason or "recursion" in reason:
        return "nested more than 1024 levels deep"
    return reason


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), "null"
    )


def _give_up_if_hopeless(errors: ErrorCollector, good: int) -> None:
    if not good and errors.total >= GIVE_UP_AFTER_BAD_LINES:
        errors.add(0, None, f"stopped reading: none of the first {errors.total} lines is a JSON object; is this JSONL?")
        errors.raise_if_any()


# --- CSV ---------------------------------------------------------------------------------------------------
# Header names map to fields: `id`; `input` (text) or `input.<key>` columns (an object); `reference`;
# `tags` (split on "|"); `output` or `output.<key>`; `score`; a `:json` suffix (`input:json`) parses the
# cell as JSON. Empty cells are absent values.

CsvColumn = tuple[str, str | None, bool]  # (field, key inside an object field, cell is JSON)

# The csv module's field limit belongs to the whole process (the stdlib has no per-reader limit). It is raised
# here, once, when the module is imported, to the most any upload may hold (a cell is at most a line), and no
# call ever changes it again: each call bounds its own cells (`max_line`), so one upload's bound cannot leak
# into another's read running at the same time in the same process.
csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES + 1))


def _csv_columns(header: list[str], allowed: set[str], filename: str) -> list[CsvColumn]:
    columns: list[CsvColumn] = []
    seen: dict[tuple[str, str | None], tuple[int, str]] = {}  # (field, key) -> (column, header name)
    for index, raw_name in enumerate(header, start=1):
        name = raw_name.strip().lstrip("\ufeff")
        field, key, is_json = _csv_column(name, index, allowed, filename)
        _check_csv_clash(seen, name, index, field, key, filename)
        seen[(field, key)] = (index, name)
        columns.append((field, key, is_json))
    if "id" not in {c[0] for c in columns}:
        raise FileRejected(filename, "has no 'id' column", 1)
    return columns


def _csv_column(name: str, index: int, allowed: set[str], filename: str) -> CsvColumn:
    """What one header name sets: a field, or one key of `input` / `output`, and whether its cells are JSON."""
    is_json = name.endswith(":json")
    base = name[: -len(":json")] if is_json else name
    field, dot, key = base.partition(".")
    if field not in allowed or (dot and field not in {"input", "output"}):
        expected = ", ".join(sorted(allowed))
        raise FileRejected(
            filename,
            f"column {name!r} is not a known field (expected {expected}, "
            "input.<key>, output.<key>, or a name ending in :json)",
            1,
            index,
        )
    if dot and not key:
        raise FileRejected(filename, f"column {name!r} has an empty key after '{field}.'", 1, index)
    return field, key or None, is_json


def _check_csv_clash(
    seen: dict[tuple[str, str | None], tuple[int, str]],
    name: str,
    index: int,
    field: str,
    key: str | None,
    filename: str,
) -> None:
    """A cell may set a whole field or one key of it, never both: `input` and `input.k` cannot both hold."""
    same = seen.get((field, key))
    whole = seen.get((field, None))
    keyed = next((v for (f, k), v in seen.items() if f == field and k), None)
    clash = same or (whole if key else keyed)
    if clash:
        other_index, other_name = clash
        what = "repeats" if same else "conflicts with"
        raise FileRejected(
            filename,
            f"column {name!r} (column {index}) {what} column {other_name!r} "
            f"(column {other_index}): both set the field {field!r}",
            1,
            index,
        )


def iter_csv(
    stream: IO[bytes], errors: ErrorCollector, counter: ByteCounter, allowed: set[str], max_line: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, dict]]:
    """CSV with a header row; yields records shaped like the JSONL ones, numbered by their first line. A cell
    longer than `max_line` characters (at most MAX_LINE_BYTES) is an error on its line."""
    if max_line > MAX_LINE_BYTES:
        raise ValueError(f"max_line {max_line} is above the csv module's limit for this process, {MAX_LINE_BYTES}")
    check_text_head(stream.read(SNIFF_BYTES), errors.filename)
    stream.seek(0)
    # TextIOWrapper is documented to take a buffered stream; the raw counting reader goes inside one
    buffered = io.BufferedReader(CountingReader(stream, counter))
    text = io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="strict", newline="")
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        columns = _csv_columns(header, allowed, errors.filename)
        start = reader.line_num + 1
        for cells in reader:
            number, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(columns):
                errors.add(number, None, f"has {len(cells)} cells; the header has {len(columns)}")
                continue
            too_long = next((index for index, cell in enumerate(cells, start=1) if len(cell) > max_line), None)
            if too_long is not None:
                errors.add(number, None, f"has a cell longer than the limit of {_size(max_line)}", column=too_long)
                continue
            record = _csv_record(number, cells, columns, errors)
            if record is not None:
                yield number, record
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):  # past the process-wide bound: the reader cannot go on
            errors.add(reader.line_num, None, f"has a cell longer than the limit of {_size(max_line)}; stopped reading")
        else:
            errors.add(reader.line_num, None, f"is not valid CSV: {exc}")
    except UnicodeDecodeError:
        errors.add(reader.line_num + 1, None, "is not valid UTF-8 text")


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit} characters"


def _csv_record(number: int, cells: list[str], columns: list[CsvColumn], errors: ErrorCollector) -> dict | None:
    record: dict[str, Any] = {}
    for index, (cell, (field, key, is_json)) in enumerate(zip(cells, columns, strict=True), start=1):
        if cell == "":
            continue
        value: Any = cell
        if is_json:
            try:
                value = orjson.loads(cell)
            except orjson.JSONDecodeError as exc:
                errors.add(
                    number, field + (f".{key}" if key else ""), f"is not valid JSON: {_json_reason(exc)}", column=index
                )
                return None
        elif field == "tags":
            value = [tag.strip() for tag in cell.split("|") if tag.strip()]
        elif field == "score":
            try:
                value = float(cell)
            except ValueError:
                errors.add(number, "score", f"must be a number, got {cell[:40]!r}", column=index)
                return None
        if key:
            record.setdefault(field, {})[key] = value
        else:
            record[field] = value
    return record


class CountingReader(io.RawIOBase):
    """Counts the bytes the CSV reader consumes, for progress (public: the Label Studio import reads CSV too)."""

    def __init__(self, stream: IO[bytes], counter: ByteCounter):
        self._stream, self._counter = stream, counter

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        self._counter.bytes += len(data)
        return len(data)


def sniff_format(filename: str, head: bytes) -> str:
    """'jsonl', 'csv' or 'zip', from the name and, when it says nothing useful, the first bytes."""
    lower = filename.lower()
    if head.startswith(b"PK\x03\x04") or lower.endswith(".zip"):
        return "zip"
    if lower.endswith(".csv"):
        return "csv"
    return "jsonl"
