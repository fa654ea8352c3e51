"""Staging tables: uploaded rows land in a TEMP table first, then move to the real table in one statement.

Why stage: the database then answers the questions that would otherwise need every id in Python's memory
(is an id repeated? does the item exist?) with the line numbers to report, and the real tables are written
only once every row has been read, in one short transaction: a failed or killed upload leaves nothing, as
a TEMP table dies with its session.

PostgreSQL fills it with COPY (psycopg 3); SQLite with batched inserts. SQLite keeps TEMP tables apart from
the main database file, so reading a long upload does not hold the main write lock other users need.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction

BATCH_ROWS = 20_000


class Staging:
    """`with Staging(columns) as stage: stage.add(row) ...; stage.flush()`, then SQL on `stage.table`.

    columns: (name, SQL type) pairs: integer, text, real, or json (jsonb on PostgreSQL, text on SQLite)."""

    def __init__(self, columns: Sequence[tuple[str, str]]):
        self.columns = list(columns)
        self.count = 0  # rows written
        self.added = 0  # rows written or buffered
        self.table = f"signoff_stage_{uuid.uuid4().hex[:12]}"
        self._buffer: list[tuple[Any, ...]] = []
        self._postgres = connection.vendor == "postgresql"

    def __enter__(self) -> Staging:
        json_type = "jsonb" if self._postgres else "text"
        columns = ", ".join(f"{name} {json_type if kind == 'json' else kind}" for name, kind in self.columns)
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMP TABLE {self.table} ({columns})")
        return self

    def __exit__(self, *exc_info) -> None:
        if connection.connection is None or connection.needs_rollback:
            return  # the session's end drops it
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
        except Exception:
            pass

    def add(self, row: tuple[Any, ...]) -> None:
        self._buffer.append(row)
        self.added += 1
        if len(self._buffer) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write buffered rows. Between flushes the connection is free for other statements (progress)."""
        if not self._buffer:
            return
        names = ", ".join(name for name, _ in self.columns)
        if self._postgres:
            with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {self.table} ({names}) FROM STDIN") as copy:
                for row in self._buffer:
                    copy.write_row(row)
        else:
            marks = ", ".join("%s" for _ in self.columns)
            with transaction.atomic(), connection.cursor() as cursor:  # one commit a batch, not one a row
                cursor.executemany(f"INSERT INTO {self.table} ({names}) VALUES ({marks})", self._buffer)
        self.count += len(self._buffer)
        self._buffer.clear()

    def finish(self) -> None:
        self.flush()
        if self._postgres:
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {self.table}")  # the planner sizes the final join by it

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run a query in which `{stage}` names this table."""
        with connection.cursor() as cursor:
            cursor.execute(sql.format(stage=self.table), params)
            return cursor.fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql.format(stage=self.table), params)
            return cursor.rowcount


def repeated_ids(stage: Staging, column: str, limit: int) -> tuple[list[tuple[int, str, int]], int]:
    """(line, id, first line) of each later occurrence of a repeated id, the first `limit` by line, and the total."""
    repeats = (
        f"SELECT s.line, s.{column}, f.first_line FROM {{stage}} s JOIN "
        f"(SELECT {column}, MIN(line) AS first_line FROM {{stage}} GROUP BY {column} HAVING COUNT(*) > 1) f "
        f"ON f.{column} = s.{column} WHERE s.line > f.first_line"
    )
    rows = stage.fetch(repeats + " ORDER BY s.line LIMIT %s", [limit])
    total = stage.fetch(f"SELECT COUNT(*) FROM ({repeats}) r")[0][0] if len(rows) == limit else len(rows)
    return rows, total


def bulk_transaction_settings() -> None:
    """Inside the publishing transaction: room for the join and sort of a million rows in memory."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '256MB'")


def refresh_statistics(table: str) -> None:
    """After a large insert: the planner's row counts must know, or the next join against it is planned
    for a thousand rows (autovacuum may be off or late)."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")
