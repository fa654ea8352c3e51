"""Rows COPYed straight into their table (PostgreSQL), for uploads whose every row is certainly valid.

The staging path (bulkload.py) writes every row twice, to a TEMP table and then to the real one. The COPY paths
(datasets/services/item_copy.py, models_app/services/prediction_copy.py) check each row in one tight loop and
write it once, inside the transaction that creates its version or set, while PostgreSQL parses and indexes the
rows on the other core. At the first row they are not certain of they raise NotClean; the caller rolls back
and reads the file again by the staging path, which reports every error with its line. Errors are rare, and
that way one piece of code explains them.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

import orjson
from django.db import IntegrityError, connection

from datasets.readers import MAX_LINE_BYTES, SNIFF_BYTES, ByteCounter, sniff_format

BATCH_ROWS = 8192


class NotClean(Exception):
    """A row the staging path must explain."""


def file_format(file: IO[bytes], filename: str) -> str:
    """'jsonl', 'csv' or 'zip', as the readers will see it."""
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    return sniff_format(filename, head)


def json_objects(file: IO[bytes], counter: ByteCounter) -> Iterator[dict]:
    """The records of a JSONL file; NotClean at the first line the readers would report (datasets/readers.py)."""
    readline, loads = file.readline, orjson.loads
    while raw := readline(MAX_LINE_BYTES + 1):
        counter.bytes += len(raw)
        try:
            obj = loads(raw)
        except orjson.JSONDecodeError:
            if raw.strip():
                raise NotClean from None
            continue  # blank lines are allowed
        if type(obj) is not dict or len(raw) > MAX_LINE_BYTES:
            raise NotClean
        yield obj


def clean_id(value: Any) -> str:
    """An id as validate_item / validate_prediction take it (an integer becomes text), or NotClean."""
    if type(value) is int:
        value = str(value)
    if type(value) is not str or not value.strip() or len(value) > 255 or "\x00" in value:
        raise NotClean
    return value


# COPY's text format: a backslash starts an escape, a tab ends a column, a newline or carriage return ends the row,
# and a column that is \N alone is NULL. The four are written as escapes, which also turns a value that is the two
# characters \N into \\N, read back as text. The COPY paths write every column with `copy_text` or COPY_NULL (the
# staging tables are filled by psycopg's write_row, which escapes for itself).
COPY_NULL = b"\\N"


def copy_text(value: bytes, *, is_json: bool = False) -> bytes:
    """A UTF-8 value as one column of COPY's text format; NotClean if it holds NUL, which no PostgreSQL text can.

    `is_json`: the value is JSON text, which holds no control character (JSON writes them as escapes), so its
    backslashes are all there is to escape. The ingest loop's shortcut: the three other scans of every value cost
    more than orjson took to write it. Tests hold the shortcut to the full escaping."""
    if is_json:
        return value.replace(b"\\", b"\\\\")
    if b"\x00" in value:
        raise NotClean
    return value.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n").replace(b"\r", b"\\r")


def json_bytes(value: Any) -> bytes:
    """The value as JSON for a jsonb column, as COPY text; NotClean if jsonb cannot hold it."""
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:
        raise NotClean from None
    if b"\\u0000" in text:
        raise NotClean
    return copy_text(text, is_json=True)


def copy_rows(
    table: str,
    columns: Sequence[str],
    rows: Iterator[Any],
    to_text: Callable[[list], bytes],
    progress: Callable[[int], None],
) -> int:
    """COPY rows in batches of BATCH_ROWS, each batch turned into COPY text by `to_text`; returns the count.
    A unique index refusing a row raises NotClean."""
    count = 0
    batch: list = []
    try:  # psycopg's copy raises its own errors: Django's wrapper names them as the ORM does
        with (
            _cyclic_gc_paused(),
            connection.wrap_database_errors,
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                batch.append(row)
                if len(batch) == BATCH_ROWS:
                    copy.write(to_text(batch))
                    count += len(batch)
                    batch.clear()
                    progress(count)
            if batch:
                copy.write(to_text(batch))
                count += len(batch)
    except IntegrityError:  # an id named twice
        raise NotClean from None
    return count


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """The loop makes millions of short-lived, acyclic objects (dicts, tuples, bytes): reference counting frees
    them all, and the cycle collector's passes over each batch cost ~8 % of the loop."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
