"""The prediction diff: where two model versions' outputs on one dataset version are identical, changed or missing.

Computed in the database, as the dataset-version diff is (datasets/selectors_diff.py): every item of the dataset
version is joined to each version's prediction (the unique (prediction_set, item) index serves both joins), classed
in SQL, and counted or paged; no output is loaded into Python but the page's. Raw SQL because the ORM cannot join a
table to itself twice on a column pair that is not a foreign key, nor compare two JSON columns.

What "identical" means:
- exact (the default): on PostgreSQL the outputs are jsonb and compare as values (key order and spacing do not
  matter; a text output is a JSON string, so text compares exactly, character for character). On SQLite they
  compare as minified JSON text (`json()`): spacing does not matter, but the same object with its keys in another
  order counts as changed (uploads keep the order they were written in, so a model that writes its keys in a
  stable order compares as on PostgreSQL).
- `whitespace_case`: the output's text (a string's own characters; an object's JSON text) with spaces, tabs,
  carriage returns and newlines removed and letters lower-cased. PostgreSQL's lower() folds every letter of the
  database's locale; SQLite's folds ASCII letters only (documented in the README).
An item is "missing" when either version has no prediction for it; it is neither identical nor changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from core.errors import ApplicationError
from datasets.models import DatasetVersion, Item
from models_app.models import ModelVersion, Prediction, PredictionSet

PAGE_SIZE = 100
NORMALIZE = ("exact", "whitespace_case")
CLASSES = ("identical", "changed", "missing")


@dataclass
class PredictionDiff:
    identical: int
    changed: int
    missing: int
    by_tag: dict[str, dict[str, int]]


@dataclass
class ChangedPage:
    offset: int
    limit: int
    # external id, its tags, the version's output, the other version's output
    rows: list[dict[str, Any]] = field(default_factory=list)
    next_offset: int | None = None

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset else None

    @property
    def end(self) -> int:
        return self.offset + len(self.rows)

    def as_dict(self) -> dict:
        return {"offset": self.offset, "next_offset": self.next_offset, "items": self.rows}


def prediction_sets_for_diff(
    *, version: ModelVersion, against: ModelVersion, dataset_version: DatasetVersion
) -> tuple[PredictionSet, PredictionSet]:
    """Both versions' prediction sets on the dataset version (one query); refused in words when one has none."""
    found = {
        s.model_version_id: s
        for s in PredictionSet.objects.filter(dataset_version=dataset_version, model_version__in=[version, against])
    }
    for side, name in ((version, "version"), (against, "against")):
        if side.pk not in found:
            raise ApplicationError(
                f"{side} has no predictions on {dataset_version}; upload them first.",
                code="predictions_missing",
                extra={"field": name},
            )
    return found[version.pk], found[against.pk]


def _text(alias: str, output: str) -> str:
    """SQL for the output's text with whitespace removed and letters lower-cased."""
    if connection.vendor == "postgresql":
        return f"lower(translate({alias}.{output} #>> '{{}}', E' \\t\\r\\n', ''))"
    text = f"json_extract({alias}.{output}, '$')"
    for char in ("' '", "char(9)", "char(10)", "char(13)"):
        text = f"replace({text}, {char}, '')"
    return f"lower({text})"


def _sql(normalize: str) -> dict[str, str]:
    qn = connection.ops.quote_name
    items, predictions = qn(Item._meta.db_table), qn(Prediction._meta.db_table)
    output = qn("output")
    item_id, set_id = qn("item_id"), qn("prediction_set_id")
    if normalize == "whitespace_case":
        equal = f"{_text('a', output)} = {_text('b', output)}"
    elif connection.vendor == "postgresql":
        equal = f"a.{output} = b.{output}"
    else:  # equal text is the common case: json() only parses when the texts differ
        equal = f"(a.{output} = b.{output} OR json(a.{output}) = json(b.{output}))"
    cls = f"CASE WHEN a.{item_id} IS NULL OR b.{item_id} IS NULL THEN 2 WHEN {equal} THEN 0 ELSE 1 END"
    joined = (
        f"{items} i LEFT JOIN {predictions} a ON a.{set_id} = %(a)s AND a.{item_id} = i.{qn('id')} "
        f"LEFT JOIN {predictions} b ON b.{set_id} = %(b)s AND b.{item_id} = i.{qn('id')} "
        f"WHERE i.{qn('version_id')} = %(dv)s"
    )
    if connection.vendor == "postgresql":
        tag_join = f"CROSS JOIN LATERAL jsonb_array_elements_text(i.{qn('tags')}) t(tag)"
        tag = "t.tag"
    else:
        tag_join, tag = f", json_each(i.{qn('tags')}) t", "t.value"
    head, where = joined.split(" WHERE ")
    tagged = f"{head} {tag_join} WHERE {where}"  # one row per (item, tag): an untagged item is in no tag's count
    return {
        "counts": f"SELECT {cls} AS c, COUNT(*) FROM {joined} GROUP BY c",
        "by_tag": f"SELECT {tag} AS tag, {cls} AS c, COUNT(*) FROM {tagged} GROUP BY tag, c",
        "changed": f"SELECT i.{qn('external_id')}, i.{qn('tags')}, a.{output}, b.{output}, i.{qn('id')} "
        f"FROM {joined} AND {cls} = 1 ORDER BY i.{qn('external_id')} LIMIT %(limit)s OFFSET %(offset)s",
        "classes": f"SELECT i.{qn('id')}, {cls} FROM {joined}",
        "identical_ids": f"SELECT i.{qn('external_id')} FROM {joined} AND {cls} = 0",
    }


def _check_normalize(normalize: str) -> None:
    if normalize not in NORMALIZE:
        raise ApplicationError(
            f"normalize must be one of {', '.join(NORMALIZE)}; got {normalize!r}.",
            code="invalid",
            extra={"field": "normalize"},
        )


def _params(a: PredictionSet, b: PredictionSet) -> dict[str, int]:
    return {"a": a.pk, "b": b.pk, "dv": a.dataset_version_id}


def prediction_diff_counts(*, a: PredictionSet, b: PredictionSet, normalize: str = "exact") -> PredictionDiff:
    """Identical, changed and missing outputs over the dataset version's items, and per tag (two queries)."""
    _check_normalize(normalize)
    sql = _sql(normalize)
    totals = [0, 0, 0]
    by_tag: dict[str, dict[str, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql["counts"], _params(a, b))
        for cls, count in cursor.fetchall():
            totals[cls] = count
        cursor.execute(sql["by_tag"], _params(a, b))
        for tag, cls, count in cursor.fetchall():
            by_tag.setdefault(str(tag), dict.fromkeys(CLASSES, 0))[CLASSES[cls]] = count
    return PredictionDiff(
        identical=totals[0], changed=totals[1], missing=totals[2], by_tag=dict(sorted(by_tag.items()))
    )


def _json(value: Any) -> Any:
    # the backends hand JSON columns back as text (Django keeps psycopg from decoding jsonb)
    return json.loads(value) if isinstance(value, str) else value


def prediction_diff_changed_page(
    *, a: PredictionSet, b: PredictionSet, normalize: str = "exact", offset: int = 0, limit: int = PAGE_SIZE
) -> ChangedPage:
    """One page of the changed items in external id order, with both outputs (one query)."""
    _check_normalize(normalize)
    with connection.cursor() as cursor:
        cursor.execute(_sql(normalize)["changed"], {**_params(a, b), "limit": limit + 1, "offset": offset})
        rows = cursor.fetchall()
    more = len(rows) > limit
    return ChangedPage(
        offset=offset,
        limit=limit,
        rows=[
            {"id": eid, "tags": _json(tags) or [], "output": _json(out_a), "against_output": _json(out_b)}
            for eid, tags, out_a, out_b, _ in rows[:limit]
        ],
        next_offset=offset + limit if more else None,
    )


def prediction_diff_item_classes(*, a: PredictionSet, b: PredictionSet) -> dict[int, str]:
    """Item id -> identical, changed or missing (exact comparison), for a diff-first campaign choosing its items."""
    with connection.cursor() as cursor:
        cursor.execute(_sql("exact")["classes"], _params(a, b))
        return {item_id: CLASSES[cls] for item_id, cls in cursor.fetchall()}


def prediction_diff_identical_external_ids(*, a: PredictionSet, b: PredictionSet) -> set[str]:
    """The external ids of the items with identical outputs (exact comparison), in one query."""
    with connection.cursor() as cursor:
        cursor.execute(_sql("exact")["identical_ids"], _params(a, b))
        return {row[0] for row in cursor.fetchall()}
