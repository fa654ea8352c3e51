"""The CSV reader's cell bound is per call: reading one upload never changes the bound another read in the same
process is using (the csv module's own limit is process-wide, set once at import and never by a request)."""

import csv
import io

import pytest

from datasets.parsers import ErrorCollector
from datasets.readers import MAX_LINE_BYTES, ByteCounter, iter_csv

# The CSV reader alone: nothing here reads the database or the broker.
pytestmark = pytest.mark.db_agnostic


def reader(content: bytes, max_line: int = MAX_LINE_BYTES):
    errors = ErrorCollector("items.csv")
    return iter_csv(io.BytesIO(content), errors, ByteCounter(), {"id", "input"}, max_line), errors


def rows(cell_lengths: list[int]) -> bytes:
    return b"id,input\n" + b"".join(f"r{i},".encode() + b"x" * n + b"\n" for i, n in enumerate(cell_lengths))


def test_reading_a_csv_does_not_change_the_process_wide_limit():
    before = csv.field_size_limit()
    records, errors = reader(rows([5, 50]), max_line=10)
    assert [number for number, _ in records] == [2]
    assert errors.errors[0].line == 3 and "longer than the limit of 10 characters" in errors.errors[0].message
    assert csv.field_size_limit() == before


def test_a_small_bound_started_first_does_not_stop_a_large_read_interleaved_with_it():
    small, small_errors = reader(rows([5, 5, 500]), max_line=10)
    large, large_errors = reader(rows([5, 1000, 5000]))
    assert next(small)[0] == 2  # the small-bounded read has started ...
    assert [len(record["input"]) for _, record in large] == [5, 1000, 5000]  # ... and the other reads big cells
    assert not large_errors.errors
    assert [number for number, _ in small] == [3]  # and the small read still refuses its own long cell
    assert small_errors.errors[0].line == 4


def test_a_large_read_started_first_does_not_lift_a_small_bound_interleaved_with_it():
    large, _ = reader(rows([5, 1000]))
    small, small_errors = reader(rows([5, 500]), max_line=10)
    assert next(large)[0] == 2
    assert next(small)[0] == 2
    assert [len(record["input"]) for _, record in large] == [1000]
    assert list(small) == [] and "longer than the limit" in small_errors.errors[0].message


def test_a_bound_above_the_process_limit_is_refused():
    records, _ = reader(rows([5]), max_line=MAX_LINE_BYTES + 1)
    with pytest.raises(ValueError):
        next(records)
