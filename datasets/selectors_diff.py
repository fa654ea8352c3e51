"""The difference between two versions of a dataset: items added, removed and changed, matched by external id.

Computed in the database, so a million-item version is never loaded into Python: the counts are one join, and each
list is one ordered page. Raw SQL because the ORM has no self-join on a column that is not a foreign key, and no
null-safe comparison. Items match on (version, external_id), which the unique index of Item serves on both sides.

What "changed" means: `input`, `reference` or `tags` differ, or an image appeared or disappeared (image files are
stored per version, so their names always differ; their content is not compared). On PostgreSQL the JSON columns
are jsonb and compare as values (key order and spacing do not matter); on SQLite they compare as minified text,
so the same object written with its keys in another order counts as changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from core.rawsql import column_name
from datasets.models import DatasetVersion, Item

PAGE_SIZE = 100
CLASSES = ("added", "removed", "changed")
FIELDS = ("input", "reference", "tags", "image")


@dataclass
class DiffPage:
    kind: str  # added, removed or changed
    offset: int
    limit: int
    ids: list[str]
    next_offset: int | None
    fields: dict[str, list[str]] = field(default_factory=dict)  # changed: external id -> the fields that differ
    values: dict[str, dict] = field(default_factory=dict)  # changed, when asked: external id -> {field: (old, new)}

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset else None

    @property
    def end(self) -> int:
        return self.offset + len(self.ids)

    @property
    def rows(self) -> list[dict]:
        """For a page to render: each id with its changed fields and their old and new values."""
        return [
            {
                "id": i,
                "fields": self.fields.get(i, []),
                "values": [
                    {"field": name, "old": old, "new": new} for name, (old, new) in self.values.get(i, {}).items()
                ],
            }
            for i in self.ids
        ]

    def as_dict(self) -> dict:
        items = [{"id": i, "fields": self.fields[i]} for i in self.ids] if self.kind == "changed" else self.ids
        return {"offset": self.offset, "next_offset": self.next_offset, "items": items}


def _sql() -> dict[str, str]:
    qn = connection.ops.quote_name
    table = qn(Item._meta.db_table)

    def column(name: str) -> str:
        return qn(column_name(Item, name))

    if connection.vendor == "postgresql":
        json_differs = "n.{0} IS DISTINCT FROM o.{0}"
    else:  # SQLite: `IS NOT` is its null-safe inequality; json() minifies, so spacing alone is no change (and it
        # is only parsed when the texts differ: equal text is the common case)
        json_differs = "n.{0} IS NOT o.{0} AND json(n.{0}) IS NOT json(o.{0})"
    differs = {name: json_differs.format(column(name)) for name in ("input", "reference", "tags")}
    differs["image"] = f"(n.{column('image')} = '') <> (o.{column('image')} = '')"
    any_differs = " OR ".join(f"({condition})" for condition in differs.values())
    flags = ", ".join(f"CASE WHEN {condition} THEN 1 ELSE 0 END" for condition in differs.values())
    eid, version = column("external_id"), column("version")
    matched = f"{table} n JOIN {table} o ON o.{eid} = n.{eid} AND o.{version} = %(old)s WHERE n.{version} = %(new)s"
    only_in = (
        f"SELECT a.{eid} FROM {table} a WHERE a.{version} = %(a)s AND NOT EXISTS "
        f"(SELECT 1 FROM {table} b WHERE b.{version} = %(b)s AND b.{eid} = a.{eid}) "
        f"ORDER BY a.{eid} LIMIT %(limit)s OFFSET %(offset)s"
    )
    return {
        "counts": f"SELECT (SELECT COUNT(*) FROM {table} WHERE {version} = %(old)s), "
        f"(SELECT COUNT(*) FROM {table} WHERE {version} = %(new)s), "
        f"COUNT(*), COALESCE(SUM(CASE WHEN {any_differs} THEN 1 ELSE 0 END), 0) FROM {matched}",
        "only_in": only_in,
        "changed": f"SELECT n.{eid}, {flags} FROM {matched} AND ({any_differs}) "
        f"ORDER BY n.{eid} LIMIT %(limit)s OFFSET %(offset)s",
    }


def version_diff_counts(*, old: DatasetVersion, new: DatasetVersion) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(_sql()["counts"], {"old": old.pk, "new": new.pk})
        old_total, new_total, matched, changed = cursor.fetchone()
    return {
        "added": new_total - matched,
        "removed": old_total - matched,
        "changed": changed,
        "unchanged": matched - changed,
    }


def version_diff_page(
    *,
    old: DatasetVersion,
    new: DatasetVersion,
    kind: str,
    offset: int = 0,
    limit: int = PAGE_SIZE,
    with_values: bool = False,
) -> DiffPage:
    """One page of a class of the diff, in external id order. `with_values` also reads the old and new value of each
    changed field (for the page to show; at most `limit` items of each version)."""
    if kind not in CLASSES:
        raise ValueError(f"kind must be one of {CLASSES}")
    sql = _sql()
    params = {"limit": limit + 1, "offset": offset}  # one more than asked says whether there is a next page
    with connection.cursor() as cursor:
        if kind == "changed":
            cursor.execute(sql["changed"], {**params, "old": old.pk, "new": new.pk})
        else:
            a, b = (new, old) if kind == "added" else (old, new)
            cursor.execute(sql["only_in"], {**params, "a": a.pk, "b": b.pk})
        rows = cursor.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    page = DiffPage(
        kind=kind,
        offset=offset,
        limit=limit,
        ids=[row[0] for row in rows],
        next_offset=offset + limit if more else None,
    )
    if kind == "changed":
        page.fields = {row[0]: [name for name, flag in zip(FIELDS, row[1:], strict=True) if flag] for row in rows}
        if with_values and page.ids:
            page.values = _changed_values(old, new, page.fields)
    return page


def _changed_values(old: DatasetVersion, new: DatasetVersion, fields: dict[str, list[str]]) -> dict[str, dict]:
    items = Item.objects.filter(version__in=[old, new], external_id__in=list(fields)).values(
        "version_id", "external_id", "input", "reference", "tags", "image"
    )
    by_key: dict[tuple[int, str], Mapping[str, Any]] = {
        (item["version_id"], item["external_id"]): item for item in items
    }
    values = {}
    for external_id, names in fields.items():
        before, after = by_key[(old.pk, external_id)], by_key[(new.pk, external_id)]
        values[external_id] = {
            name: (bool(before[name]), bool(after[name])) if name == "image" else (before[name], after[name])
            for name in names
        }
    return values
