"""One item's counted judgments as the results read them, in two written-out statements.

The gate's running tally reads them inside the judgment's transaction while it holds the campaign's tally lock, so
every judgment of the campaign waits for this read: building the same query with the ORM took about three times as
long as running it (docs/bench-next-task.md). The columns are those of reviews.results' `_rows` query, in its
order; tests/test_gate_tally.py checks that both read the same rows for every kind."""

from functools import cache

from django.db import connection

from core.models import User
from core.rawsql import column_name, sql_naming
from datasets.models import Item
from models_app.models import Prediction
from reviews.models import Assignment, Campaign, Judgment, ReviewerExclusion, Task, TaskOutput

_JUDGMENTS_SQL = sql_naming(
    """
SELECT j.{Judgment.id}, j.{Judgment.task}, i.{Item.external_id}, CAST(i.{Item.tags} AS text), u.{User.username},
       {{epoch}}, j.{Judgment.choice}, {{labels}}, {{ranking}}, {{ratings}}, {{slot_order}},
       a.{Assignment.candidate_slot},
       (t.{Task.known_answer} IS NULL AND j.{Judgment.reviewer} NOT IN (
           SELECT x.{ReviewerExclusion.reviewer} FROM {ReviewerExclusion} x WHERE x.{ReviewerExclusion.campaign} = %s
       )),
       j.{Judgment.duration_ms}
FROM {Judgment} j
JOIN {Task} t ON t.{Task.id} = j.{Judgment.task}
JOIN {Item} i ON i.{Item.id} = t.{Task.item}
JOIN {User} u ON u.{User.id} = j.{Judgment.reviewer}
JOIN {Assignment} a ON a.{Assignment.id} = j.{Judgment.assignment}
WHERE j.{Judgment.task} = %s AND t.{Task.campaign} = %s
  AND j.{Judgment.retracted_at} IS NULL AND j.{Judgment.discarded_at} IS NULL
ORDER BY j.{Judgment.id}
""",
    Judgment=Judgment,
    Task=Task,
    Item=Item,
    User=User,
    Assignment=Assignment,
    ReviewerExclusion=ReviewerExclusion,
)

_SUGGESTION_SQL = sql_naming(
    """
SELECT o.{TaskOutput.task}, CAST(p.{Prediction.output} AS text)
FROM {TaskOutput} o JOIN {Prediction} p ON p.{Prediction.id} = o.{TaskOutput.prediction}
WHERE o.{TaskOutput.task} = %s AND o.{TaskOutput.model_version} = %s
""",
    TaskOutput=TaskOutput,
    Prediction=Prediction,
)

# whole seconds since the epoch, as reviews.results.EpochSeconds reads them
_EPOCH = {
    "postgresql": "FLOOR(EXTRACT(EPOCH FROM j.{created}))::bigint",
    "sqlite": "unixepoch(j.{created})",
}


def written_out() -> bool:
    """Whether this database has the statements (the others read through the ORM's query)."""
    return connection.vendor in _EPOCH


@cache
def _judgments_sql(vendor: str, reads: frozenset[str]) -> str:
    quote = connection.ops.quote_name

    def stored(field: str, alias: str) -> str:
        model = Assignment if alias == "a" else Judgment
        return f"CAST({alias}.{quote(column_name(model, field))} AS text)" if field in reads else "NULL"

    return _JUDGMENTS_SQL.format(
        epoch=_EPOCH[vendor].format(created=quote(column_name(Judgment, "created_at"))),
        labels=stored("labels", "j"),
        ranking=stored("ranking", "j"),
        ratings=stored("ratings", "j"),
        slot_order=stored("slot_order", "a"),
    )


def item_judgment_values(
    campaign: Campaign, *, task_id: int, reads: frozenset[str]
) -> tuple[list[tuple], dict[int, str | None]]:
    """The item's counted judgments in id order, in `_rows`' columns (the stored JSON fields in `reads` as text,
    the others NULL), and, labeling, the candidate's output on it as JSON text."""
    with connection.cursor() as cursor:
        cursor.execute(_judgments_sql(connection.vendor, reads), [campaign.pk, task_id, campaign.pk])
        judgments = cursor.fetchall()
        suggestions: dict[int, str | None] = {}
        if campaign.kind == Campaign.Kind.LABELING:
            cursor.execute(_SUGGESTION_SQL, [task_id, campaign.candidate_id])
            suggestions = dict(cursor.fetchall())
    return judgments, suggestions
