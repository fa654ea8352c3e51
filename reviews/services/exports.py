"""Exports of a campaign, streamed: one row per judgment (de-blinded), or one row per item with its outcome.

Rows are built once as dicts and written as JSON Lines or CSV, so the two formats always say the same thing. The
database is read through `.iterator()` in chunks and rows are written as they come: memory does not grow with
the campaign. Reads only: the API's export views (reviews/api/exports.py) call it, and the results page links them.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import groupby
from typing import Any

from django.db.models import BooleanField, Exists, ExpressionWrapper, FilteredRelation, OuterRef, Q, Subquery

from reviews import stats
from reviews.models import SLOTS, Campaign, Judgment, ReviewerExclusion, Task, TaskOutput
from reviews.problems import VersionNames, judgment_problem
from reviews.results import as_label_set, campaign_version_names, judgment_deblinded
from reviews.services.gold import majority_labels

CHUNK_ROWS = 2000  # rows fetched per round trip (and per server-side cursor fetch on PostgreSQL)
FLUSH_BYTES = 64 * 1024  # written rows are sent in pieces of about this size, not one tiny chunk per row

JUDGMENT_COLUMNS = ["judgment", "task", "item", "reviewer"]
# keyed by str: Campaign.kind is a CharField, and a TextChoices member is equal to (and hashes as) its value
JUDGMENT_KIND_COLUMNS: dict[str, list[str]] = {
    # `choice` and `slots` are what the reviewer saw; the rest says which model version that was
    Campaign.Kind.PAIRWISE: ["candidate", "baseline", "slots", "choice", "winner", "winner_version"],
    Campaign.Kind.RANKING: ["slots", "ranking_as_shown", "ranking", "positions"],
    Campaign.Kind.RATING: ["slots", "ratings_as_shown", "ratings"],
    Campaign.Kind.LABELING: ["labels", "suggestion"],
}
JUDGMENT_TAIL_COLUMNS = [
    "outcome",
    "comment",
    "duration_ms",
    "created_at",
    "status",
    "retracted_at",
    "discarded_at",
    "discarded_by",
    "discard_reason",
]

RESULT_COLUMNS = ["task", "item", "tags", "judgments", "candidate_score"]
RESULT_KIND_COLUMNS: dict[str, list[str]] = {
    Campaign.Kind.PAIRWISE: ["candidate_wins", "candidate_losses", "ties", "both_bad"],
    Campaign.Kind.RANKING: ["mean_rank"],
    Campaign.Kind.RATING: ["mean_ratings"],
    Campaign.Kind.LABELING: ["consensus", "tied", "votes", "unanimous", "candidate_agrees"],
}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _candidate_output(campaign: Campaign, task_ref: str) -> Subquery:
    """The candidate's output for the row's task, read in the same query (labeling shows it as the suggestion)."""
    outputs = TaskOutput.objects.filter(task=OuterRef(task_ref), model_version_id=campaign.candidate_id)
    return Subquery(outputs.values("prediction__output")[:1])


def _candidate_shown(campaign: Campaign, task_ref: str) -> Exists:
    """Whether the row's task still has the candidate's output (a null output is an output; a deleted row is not)."""
    return Exists(TaskOutput.objects.filter(task=OuterRef(task_ref), model_version_id=campaign.candidate_id))


def judgment_export_columns(*, campaign: Campaign) -> list[str]:
    return JUDGMENT_COLUMNS + JUDGMENT_KIND_COLUMNS[campaign.kind] + JUDGMENT_TAIL_COLUMNS


def campaign_judgments_export(*, campaign: Campaign, include_all: bool = False) -> Iterator[dict]:
    """One dict per judgment, oldest first, with model versions named where the reviewer saw only slots.
    Counted judgments only, unless `include_all` (then undone and discarded ones too, with `status` saying which)."""
    names = VersionNames(campaign_version_names(campaign))  # a version no longer in the campaign is still named
    if include_all:  # with why each one does not count: undone, discarded, excluded reviewer, known-answer item
        judgments = Judgment.objects.filter(task__campaign=campaign).annotate(
            known=ExpressionWrapper(Q(task__known_answer__isnull=False), output_field=BooleanField()),
            excluded=Exists(ReviewerExclusion.objects.filter(campaign=campaign, reviewer=OuterRef("reviewer"))),
        )
    else:
        judgments = Judgment.objects.in_results_of(campaign)
    if campaign.kind == Campaign.Kind.LABELING:
        judgments = judgments.annotate(
            suggestion=_candidate_output(campaign, "task_id"), has_suggestion=_candidate_shown(campaign, "task_id")
        )
    fields = [
        "id",
        "task_id",
        "task__item__external_id",
        "reviewer__username",
        "choice",
        "labels",
        "ranking",
        "ratings",
        "assignment__slot_order",
        "assignment__candidate_slot",
        "rationale",
        "duration_ms",
        "created_at",
        "retracted_at",
        "discarded_at",
        "discarded_by__username",
        "discard_reason",
    ]
    if campaign.kind == Campaign.Kind.LABELING:
        fields += ["suggestion", "has_suggestion"]
    if include_all:
        fields += ["known", "excluded"]
    for values in judgments.order_by("id").values(*fields).iterator(chunk_size=CHUNK_ROWS):
        yield _judgment_row(campaign, names, values)


def _judgment_row(campaign: Campaign, names: dict[int, str], j: dict) -> dict:
    order = j["assignment__slot_order"] or []
    row = {
        "judgment": j["id"],
        "task": j["task_id"],
        "item": j["task__item__external_id"],
        "reviewer": j["reviewer__username"],
    }
    slots = {SLOTS[k]: names.get(version, str(version)) for k, version in enumerate(order)}
    # the results leave out a judgment they cannot read (reviews.problems); the export keeps it as stored, unread
    problem = judgment_problem(
        campaign,
        choice=j["choice"],
        labels=j["labels"],
        ranking=j["ranking"],
        ratings=j["ratings"],
        slot_order=order,
        candidate_slot=j["assignment__candidate_slot"],
        has_suggestion=j.get("has_suggestion", True),
    )
    if problem:
        outcome = None
        row.update(_unread_judgment_columns(slots, j))
    else:
        value, outcome = judgment_deblinded(
            campaign,
            choice=j["choice"],
            labels=j["labels"],
            ranking=j["ranking"],
            ratings=j["ratings"],
            slot_order=order,
            candidate_slot=j["assignment__candidate_slot"],
            suggestion=j.get("suggestion"),
        )
        row.update(_JUDGMENT_KIND_COLUMNS[campaign.kind](campaign, names, slots, j, value))
    row.update(
        {
            "outcome": outcome,
            "comment": j["rationale"],
            "duration_ms": j["duration_ms"],
            "created_at": _iso(j["created_at"]),
            "status": _judgment_status(j, unreadable=bool(problem)),
            "retracted_at": _iso(j["retracted_at"]),
            "discarded_at": _iso(j["discarded_at"]),
            "discarded_by": j["discarded_by__username"],
            "discard_reason": j["discard_reason"],
        }
    )
    return row


def _judgment_status(j: dict, *, unreadable: bool) -> str:
    """Why a judgment counts or not, the first reason that applies."""
    reasons = (
        ("retracted", j["retracted_at"]),
        ("discarded", j["discarded_at"]),
        ("excluded", j.get("excluded")),
        ("known_answer", j.get("known")),
        ("unreadable", unreadable),
    )
    return next((status for status, applies in reasons if applies), "counted")


def _unread_judgment_columns(slots: dict, j: dict) -> dict:
    """A judgment the results cannot read, as stored: every field that might hold its answer."""
    return {
        "slots": slots,
        "choice": j["choice"],
        "ranking_as_shown": j["ranking"],
        "ratings_as_shown": j["ratings"],
        "labels": j["labels"],
        "suggestion": j.get("suggestion"),
    }


def _pairwise_judgment_columns(campaign: Campaign, names: dict, slots: dict, j: dict, value: Any) -> dict:
    winner = {"candidate": campaign.candidate_id, "baseline": campaign.baseline_id}.get(value)
    return {
        "candidate": names[campaign.candidate_id],
        "baseline": names[campaign.baseline_id],
        "slots": slots,
        "choice": j["choice"],
        "winner": value,
        "winner_version": names[winner] if winner else None,
    }


def _ranking_judgment_columns(campaign: Campaign, names: dict, slots: dict, j: dict, value: Any) -> dict:
    return {
        "slots": slots,
        "ranking_as_shown": j["ranking"],
        "ranking": [[names[v] for v in group] for group in value],
        "positions": {names[v]: place for v, place in stats.ranking_positions(value).items()},
    }


def _rating_judgment_columns(campaign: Campaign, names: dict, slots: dict, j: dict, value: Any) -> dict:
    return {
        "slots": slots,
        "ratings_as_shown": j["ratings"],
        "ratings": {names[v]: scores for v, scores in value.items()},
    }


def _labeling_judgment_columns(campaign: Campaign, names: dict, slots: dict, j: dict, value: Any) -> dict:
    return {"labels": j["labels"], "suggestion": j.get("suggestion")}


_JUDGMENT_KIND_COLUMNS: dict[str, Callable[[Campaign, dict, dict, dict, Any], dict]] = {
    Campaign.Kind.PAIRWISE: _pairwise_judgment_columns,
    Campaign.Kind.RANKING: _ranking_judgment_columns,
    Campaign.Kind.RATING: _rating_judgment_columns,
    Campaign.Kind.LABELING: _labeling_judgment_columns,
}


def result_export_columns(*, campaign: Campaign) -> list[str]:
    return RESULT_COLUMNS + RESULT_KIND_COLUMNS[campaign.kind]


def campaign_results_export(*, campaign: Campaign) -> Iterator[dict]:
    """One dict per item of the campaign (in task order, judged or not) with the outcome of its counted judgments,
    read as reviews.results reads them. One query: each task joined to its counted judgments, grouped as it streams."""
    names = VersionNames(campaign_version_names(campaign))
    condition = Q(judgments__retracted_at__isnull=True, judgments__discarded_at__isnull=True)
    excluded = list(ReviewerExclusion.objects.filter(campaign=campaign).values_list("reviewer_id", flat=True))
    if excluded:  # as Judgment.objects.in_results_of: the lead's exclusions do not count
        condition &= ~Q(judgments__reviewer_id__in=excluded)
    tasks = (
        Task.objects.ordinary()
        .filter(campaign=campaign)
        .annotate(counted=FilteredRelation("judgments", condition=condition))
    )
    fields = [
        "id",
        "item__external_id",
        "item__tags",
        "counted__id",
        "counted__choice",
        "counted__labels",
        "counted__ranking",
        "counted__ratings",
        "counted__assignment__slot_order",
        "counted__assignment__candidate_slot",
    ]
    if campaign.kind == Campaign.Kind.LABELING:
        tasks = tasks.annotate(
            suggestion=_candidate_output(campaign, "id"), has_suggestion=_candidate_shown(campaign, "id")
        )
        fields += ["suggestion", "has_suggestion"]
    # in the dataset's order (tasks are stored in hand-out order)
    rows = tasks.order_by("item_id", "id", "counted__id").values(*fields).iterator(chunk_size=CHUNK_ROWS)
    for _, judgments in groupby(rows, key=lambda r: r["id"]):
        # one item's judgments: at most the campaign's overlap
        yield _result_row(campaign, names, list(judgments))


def _result_row(campaign: Campaign, names: dict[int, str], group: list[dict]) -> dict:
    first = group[0]
    judged = [
        r
        for r in group
        if r["counted__id"] is not None  # the outer join gives a task without judgments one empty row
        # and, as in the results, a judgment that cannot be read (reviews.problems) is left out
        and not judgment_problem(
            campaign,
            choice=r["counted__choice"],
            labels=r["counted__labels"],
            ranking=r["counted__ranking"],
            ratings=r["counted__ratings"],
            slot_order=r["counted__assignment__slot_order"],
            candidate_slot=r["counted__assignment__candidate_slot"],
            has_suggestion=first.get("has_suggestion", True),
        )
    ]
    read = [
        judgment_deblinded(
            campaign,
            choice=r["counted__choice"],
            labels=r["counted__labels"],
            ranking=r["counted__ranking"],
            ratings=r["counted__ratings"],
            slot_order=r["counted__assignment__slot_order"],
            candidate_slot=r["counted__assignment__candidate_slot"],
            suggestion=first.get("suggestion"),
        )
        for r in judged
    ]
    values, outcomes = [v for v, _ in read], [o for _, o in read]
    row = {
        "task": first["id"],
        "item": first["item__external_id"],
        "tags": first["item__tags"] or [],
        "judgments": len(judged),
        # the same per-item outcome the gate uses with several reviewers per item: the mean of its judgments
        "candidate_score": sum(outcomes) / len(outcomes) if outcomes else None,
    }
    row.update(_RESULT_KIND_COLUMNS[campaign.kind](campaign, names, values, judged, first))
    return row


def _pairwise_result_columns(campaign: Campaign, names: dict, values: list, judged: list, first: dict) -> dict:
    counts = Counter(values)
    return {
        "candidate_wins": counts["candidate"],
        "candidate_losses": counts["baseline"],
        "ties": counts["tie"],
        "both_bad": counts["both_bad"],
    }


def _ranking_result_columns(campaign: Campaign, names: dict, values: list, judged: list, first: dict) -> dict:
    return {"mean_rank": {names[v]: figures["mean"] for v, figures in stats.mean_ranks(values).items()}}


def _rating_result_columns(campaign: Campaign, names: dict, values: list, judged: list, first: dict) -> dict:
    summary = stats.rating_summary(values, campaign.rubric)  # Likert mean, or the pass rate
    return {
        "mean_ratings": {
            names[v]: {criterion: figures["mean"] for criterion, figures in criteria.items()}
            for v, criteria in summary.items()
        }
    }


def _labeling_result_columns(campaign: Campaign, names: dict, values: list, judged: list, first: dict) -> dict:
    label_sets = [r["counted__labels"] for r in judged]
    consensus = majority_labels(label_sets)  # as gold labels are published: None when the top sets tie
    if consensus is not None:
        schema = campaign.labels
        consensus = sorted(consensus, key=lambda x: (schema.index(x) if x in schema else len(schema), x))
    return {
        "consensus": consensus,
        "tied": bool(judged) and consensus is None,
        "votes": dict(Counter("|".join(labels) for labels in label_sets)),
        "unanimous": len({frozenset(labels) for labels in label_sets}) == 1 if len(judged) > 1 else None,
        "candidate_agrees": (
            frozenset(consensus) == as_label_set(first.get("suggestion")) if consensus is not None else None
        ),
    }


_RESULT_KIND_COLUMNS: dict[str, Callable[[Campaign, dict, list, list, dict], dict]] = {
    Campaign.Kind.PAIRWISE: _pairwise_result_columns,
    Campaign.Kind.RANKING: _ranking_result_columns,
    Campaign.Kind.RATING: _rating_result_columns,
    Campaign.Kind.LABELING: _labeling_result_columns,
}


# --- writers -----------------------------------------------------------------------------------------------

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A value as a CSV cell: JSON for lists and objects, and text that a spreadsheet would run as a formula
    (comments, labels and ids are untrusted) defused with a leading apostrophe (OWASP's advice)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _chunked(lines: Iterable[str]) -> Iterator[str]:
    buffer, size = [], 0
    for line in lines:
        buffer.append(line)
        size += len(line)
        if size >= FLUSH_BYTES:
            yield "".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer)


def write_jsonl(rows: Iterable[dict]) -> Iterator[str]:
    return _chunked(json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n" for row in rows)


def write_csv(columns: list[str], rows: Iterable[dict]) -> Iterator[str]:
    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([csv_cell(row.get(column)) for column in columns])
            yield out.getvalue()
            out.seek(0)
            out.truncate()
        if out.tell():
            yield out.getvalue()  # the header alone: there were no rows

    return _chunked(lines())
