"""A campaign's results: every figure, the gate, each reviewer's quality figures, and the evidence frozen into a
verdict; and the versions a campaign compares, which services read from here. Reads only: nothing here imports a
service, so services, selectors and the gate check import it without a cycle.

The database is read once (one row per counted judgment, in arrival order); everything after that is the pure
statistics of reviews.stats and the sequential gate of reviews.gate.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.db.models import (
    BigIntegerField,
    BooleanField,
    Count,
    ExpressionWrapper,
    F,
    Func,
    QuerySet,
    TextField,
    Value,
)
from django.db.models.functions import Cast

from core.lazy import lazy_module
from core.models import User
from models_app.models import ModelVersion, PredictionSet
from reviews import item_rows, stats
from reviews.gate import GatePolicy, GateResult, gate_decide
from reviews.models import (
    SLOTS,
    Assignment,
    Campaign,
    Judgment,
    ReviewerExclusion,
    Task,
    TaskOutput,
    in_results_condition,
)
from reviews.plan import outcome_resolution
from reviews.problems import (
    DATA_ERRORS,
    Problems,
    VersionNames,
    computed,
    gate_held,
    judgment_problem,
    listed,
    missing_prediction_sets,
    stray_versions_message,
    unreadable_message,
)
from reviews.quality import judgment_too_fast, judgments_too_fast, known_answer_correct, known_answer_text
from reviews.sequential import SequentialPath, SequentialTest
from reviews.stats.rating import Scores

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
else:
    np = lazy_module("numpy")

SEQUENCE_POINTS = 400  # the gate's path is thinned to this many points for charts

# A judgment de-blinded, by kind: pairwise the side that won ("candidate", "baseline", "tie", "both_bad"), labeling
# the labels joined by "|", ranking the groups of model version ids best first (a group holds the tied), rating
# each version's scores by criterion. Code that knows the campaign's kind reads that shape through _rankings,
# _ratings or _label_sets.
Ranking = list[list[int]]
Ratings = dict[int, Scores]
Answer = str | Ranking | Ratings


@dataclass(slots=True)
class Row:
    """One counted judgment, de-blinded."""

    id: int
    task: int
    item: str
    tags: list[str]
    reviewer: str
    arrived: int  # when it was made, in whole seconds since the epoch (UTC): the timeline's buckets need no more
    choice: str
    chosen_slot: str  # pairwise: the slot as shown ("A", "B", "tie", "both_bad")
    value: Answer  # the de-blinded answer: a category, label set, version order or ratings
    outcome: float  # the candidate's result: 1 win, 0.5 tie, 0 loss (or a share, against several versions)


def _rankings(rows: list[Row]) -> list[Ranking]:
    """The answers of a ranking campaign's rows."""
    return cast(list[Ranking], [row.value for row in rows])


def _ratings(rows: list[Row]) -> list[Ratings]:
    """The answers of a rating campaign's rows."""
    return cast(list[Ratings], [row.value for row in rows])


def _label_sets(rows: list[Row]) -> list[str]:
    """The answers of a labeling campaign's rows: each judgment's labels, "|"-joined."""
    return cast(list[str], [row.value for row in rows])


def _versions_judged(campaign: Campaign, rows: list[Row]) -> Iterator[int]:
    """Every model version id the answers name (rankings and ratings name them), as often as they name it."""
    if campaign.kind == Campaign.Kind.RATING:
        for ratings in _ratings(rows):
            yield from ratings
    elif campaign.kind == Campaign.Kind.RANKING:
        for ranking in _rankings(rows):
            for group in ranking:
                yield from group


def campaign_versions(campaign: Campaign) -> list[ModelVersion]:
    """Candidate, baseline, then the others: the versions every task of the campaign shows."""
    others = sorted(campaign.others.all(), key=lambda v: v.pk)
    return [campaign.candidate] + ([campaign.baseline] if campaign.baseline else []) + others


def campaign_version_names(campaign: Campaign) -> dict[int, str]:
    return {v.pk: str(v) for v in campaign_versions(campaign)}


def campaign_outcome_resolution(campaign: Campaign) -> int:
    return outcome_resolution(
        kind=campaign.kind,
        overlap=campaign.overlap,
        compared_versions=len(campaign_versions(campaign)),
        has_baseline=campaign.baseline_id is not None,
    )


def as_label_set(output: Any) -> frozenset[str]:
    """A model's output read as the labels it gives: a label, a list of them, or {"label"|"labels": ...}. Nothing
    (null, "", {}, [], a dict without a label) is the empty set; any other value is the label its text spells."""
    if output is None or output == "":
        return frozenset()
    if isinstance(output, list):
        return frozenset().union(*(as_label_set(x) for x in output))
    if isinstance(output, dict):
        output = output.get("label", output.get("labels"))
        return as_label_set(output) if output is not None else frozenset()
    return frozenset([str(output)])


def judgment_deblinded(
    campaign: Campaign,
    *,
    choice: str,
    labels: list,
    ranking: list,
    ratings: dict,
    slot_order: list,
    candidate_slot: str,
    suggestion: Any = None,
) -> tuple[Answer, float]:
    """One judgment with its slots replaced by model version ids, and the candidate's outcome in it (1 win, ½ tie,
    0 loss; a share against several versions). `suggestion` is the candidate's output (labeling only).
    Results and exports both read judgments through this, so they cannot disagree on what one meant."""
    if campaign.kind == Campaign.Kind.PAIRWISE:
        return _pairwise_deblinded(choice, candidate_slot)
    if campaign.kind == Campaign.Kind.LABELING:
        return _labeling_deblinded(labels, suggestion)
    if campaign.kind == Campaign.Kind.RANKING:
        return _ranking_deblinded(campaign, ranking, slot_order)
    return _rating_deblinded(campaign, ratings, slot_order)


def _pairwise_deblinded(choice: str, candidate_slot: str) -> tuple[str, float]:
    if choice in ("tie", "both_bad"):
        return choice, 0.5
    return ("candidate", 1.0) if choice == candidate_slot else ("baseline", 0.0)


def _labeling_deblinded(labels: list, suggestion: object) -> tuple[str, float]:
    return "|".join(labels), 1.0 if frozenset(labels) == as_label_set(suggestion) else 0.0


def _ranking_deblinded(campaign: Campaign, ranking: list, slot_order: list) -> tuple[Ranking, float]:
    """The ranking by version id; the candidate's outcome is its share of the versions it is compared with (the
    baseline, or every other version shown) that it was ranked above, level counting half."""
    value = [[slot_order[SLOTS.index(s)] for s in group] for group in ranking]
    positions = stats.ranking_positions(value)
    candidate = campaign.candidate_id
    opponents = [campaign.baseline_id] if campaign.baseline_id else [v for v in slot_order if v != candidate]
    scores = [_ranked_above(positions[candidate], positions[o]) for o in opponents if o in positions]
    return value, sum(scores) / len(scores) if scores else 0.5


def _ranked_above(mine: float, theirs: float) -> float:
    return 1.0 if mine < theirs else 0.5 if mine == theirs else 0.0


def _rating_deblinded(campaign: Campaign, ratings: dict, slot_order: list) -> tuple[Ratings, float]:
    """The scores by version id; against a baseline the candidate wins on its normalised score (level: ½), alone it
    wins when its scores are acceptable."""
    value = {slot_order[SLOTS.index(s)]: scores for s, scores in ratings.items()}
    candidate, baseline = campaign.candidate_id, campaign.baseline_id
    if baseline and baseline in value:
        mine = stats.normalised_score(value[candidate], campaign.rubric)
        theirs = stats.normalised_score(value[baseline], campaign.rubric)
        return value, 0.5 if np.isclose(mine, theirs) else float(mine > theirs)
    return value, float(stats.acceptable(value[candidate], campaign.rubric))


def json_decoder() -> Callable[[str | None], Any]:
    """json.loads that decodes each distinct text once: a campaign's 100,000 judgments hold a handful of distinct
    slot orders, tag lists and empty answers, and decoding them row by row was most of the results' time. The
    values it returns are shared between rows: read them, never change them."""
    decoded: dict[str | None, Any] = {}

    def decode(text: str | None) -> Any:
        if text not in decoded:
            decoded[text] = None if text is None else json.loads(text)
        return decoded[text]

    return decode


def as_text(field: str) -> Cast:
    """A JSON column read as its text, for json_decoder (the ORM would decode it row by row)."""
    return Cast(field, output_field=TextField())


class EpochSeconds(Func):
    """A datetime column as whole seconds since the epoch: 100,000 integers read far faster than 100,000 datetimes."""

    output_field = BigIntegerField()
    template = "unixepoch(%(expressions)s)"  # SQLite 3.38+
    # both databases already answer an int: no int() per row (Django converts a Func's integers by default)
    convert_value = property(lambda self: self._convert_value_noop)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="FLOOR(EXTRACT(EPOCH FROM %(expressions)s))::bigint", **extra)


# The JSON fields a judgment stores its answer in (with their paths from Judgment), and which of them each kind's
# reading looks at (reviews.problems.judgment_problem and judgment_deblinded; choice and candidate_slot always).
_STORED = (
    ("labels", "labels"),
    ("ranking", "ranking"),
    ("ratings", "ratings"),
    ("slot_order", "assignment__slot_order"),
)
_KIND_READS: dict[str, set[str]] = {
    Campaign.Kind.PAIRWISE: set(),
    Campaign.Kind.LABELING: {"labels"},
    Campaign.Kind.RANKING: {"ranking", "slot_order"},
    Campaign.Kind.RATING: {"ratings", "slot_order"},
}

# What one judgment reads as: (problem, value, outcome), the problem None when it is readable.
_Reading = tuple[str | None, Any, float]


def _rows(
    campaign: Campaign,
    unreadable: list[tuple[int, str, str]] | None = None,
    durations: dict[str, list[int | None]] | None = None,
    *,
    task_id: int | None = None,
) -> list[Row]:
    """The counted judgments in the results (Judgment.objects.in_results_of) they can read; each one they cannot
    (reviews.problems.judgment_problem) is left out and, when `unreadable` is given, appended to it as (judgment id,
    item, why). `durations`, when given, gets each reviewer's durations over all their counted judgments (what
    reviewer_quality reads): the same query reads them, rather than a second one over 100,000 judgments. `task_id`: of
    that item only (the gate's running tally)."""
    judgments, suggestions = judgment_values(campaign, task_id=task_id)
    return read_rows(campaign, judgments, suggestions, unreadable, durations)


def judgment_values(
    campaign: Campaign, *, task_id: int | None = None, after: int = 0
) -> tuple[list[tuple], dict[int, str | None]]:
    """What `_rows` reads: the counted judgments in id order as tuples of read_rows' columns (of one item with
    `task_id`, or only those with an id above `after`), and the labeling candidate's outputs as JSON text by task."""
    # only the stored fields the kind's reading looks at are read (the others stay None): pairwise reads none of
    # the JSON ones, and leaving them out halves the rows the database sorts and sends
    kind_fields = {
        f: as_text(path) if f in _KIND_READS[campaign.kind] else Value(None, output_field=TextField())
        for f, path in _STORED
    }
    which = {} if task_id is None else {"task_id": task_id}
    # in id order, sorted here: the database would sort 100,000 wide rows on disk (default work_mem) more slowly
    judgments = sorted(
        Judgment.objects.counted()
        .filter(task__campaign=campaign, **which, **({"pk__gt": after} if after else {}))
        .annotate(in_results=ExpressionWrapper(in_results_condition(campaign), output_field=BooleanField()))
        .order_by()
        .values_list(
            "id",
            "task_id",
            "task__item__external_id",
            as_text("task__item__tags"),
            "reviewer__username",
            EpochSeconds("created_at"),
            "choice",
            *kind_fields.values(),
            "assignment__candidate_slot",
            "in_results",
            "duration_ms",
        )
    )
    suggestions: dict[int, str | None] = {}
    if campaign.kind == Campaign.Kind.LABELING:
        outputs = TaskOutput.objects.filter(task__campaign=campaign, model_version_id=campaign.candidate_id, **which)
        if after:  # only the items of the judgments read
            outputs = outputs.filter(task_id__in={judgment[1] for judgment in judgments})
        suggestions = dict(outputs.values_list("task_id", as_text("prediction__output")))
    return judgments, suggestions


def read_rows(
    campaign: Campaign,
    judgments: Iterable[tuple],
    suggestions: dict[int, str | None],
    unreadable: list[tuple[int, str, str]] | None,
    durations: dict[str, list[int | None]] | None,
) -> list[Row]:
    """`_rows` from what its statements read (judgment_values): the judgments in id order, in its column order,
    and the labeling candidate's output (as JSON text) by task."""
    decode = json_decoder()
    # A reading depends only on the stored fields (and the candidate's output, labeling), and 100,000 judgments
    # hold few distinct ones (pairwise: choice x candidate side x slot order): each is read once.
    readings: dict[tuple, _Reading] = {}
    rows: list[Row] = []
    for jid, task, item, tags, reviewer, arrived, choice, labels, ranking, ratings, order, cslot, used, ms in judgments:
        if durations is not None:
            durations.setdefault(reviewer, []).append(ms)
        if not used:
            continue
        suggestion = suggestions.get(task)
        key = (choice, labels, ranking, ratings, order, cslot, task in suggestions, suggestion)
        reading = readings.get(key)
        if reading is None:
            reading = readings[key] = _reading(campaign, key, decode)
        problem, value, outcome = reading
        if problem:
            if unreadable is not None:
                unreadable.append((jid, item, problem))
            continue
        rows.append(Row(jid, task, item, decode(tags) or [], reviewer, arrived, choice, choice, value, outcome))
    return rows


def _reading(campaign: Campaign, key: tuple, decode: Callable[[str | None], Any]) -> _Reading:
    """One judgment's stored fields (as text, in _rows' key) read: its problem, or its value and outcome."""
    choice, labels, ranking, ratings, order, cslot, has_suggestion, suggestion = key
    stored = {
        "choice": choice,
        "labels": decode(labels),
        "ranking": decode(ranking),
        "ratings": decode(ratings),
        "slot_order": decode(order),
        "candidate_slot": cslot,
    }
    problem = judgment_problem(campaign, **stored, has_suggestion=has_suggestion)
    if problem:
        return problem, None, 0.0
    value, outcome = judgment_deblinded(campaign, **stored, suggestion=decode(suggestion))
    return None, value, outcome


def _gate_outcomes(campaign: Campaign, rows: list[Row]) -> list[float]:
    """The gate's unit is the judged item: one outcome per item whose `overlap` judgments are in (their mean, since
    judgments of one item are not independent), in the order items completed. With overlap 1 that is one outcome
    per judgment, in arrival order."""
    return [outcome for _, outcome in gate_units(campaign, rows)]


def gate_units(campaign: Campaign, rows: list[Row]) -> list[tuple[int, float]]:
    """`_gate_outcomes` with the id of the judgment that completed each item, which orders them: `item_unit` of each
    item, computed with numpy (a Python pass per item took a fifth of a cold answer at 100,000 judgments;
    tests/test_results_fast.py checks it against the definition)."""
    k, n = campaign.overlap, len(rows)
    if n < k:
        return []
    tasks = np.fromiter((r.task for r in rows), dtype=np.int64, count=n)
    order = np.argsort(tasks, kind="stable")  # by item; the rows are in id order, and stay so within an item
    by_item = tasks[order]
    starts = np.flatnonzero(np.r_[True, by_item[1:] != by_item[:-1]])
    full = starts[np.diff(np.r_[starts, n]) >= k]  # items with `overlap` judgments in
    outcomes = np.fromiter((r.outcome for r in rows), dtype=float, count=n)
    total = np.zeros(len(full))
    for j in range(k):  # added in the order item_unit's sum() adds them: the same floats, bit for bit
        total += outcomes[order[full + j]]
    completed = np.fromiter((r.id for r in rows), dtype=np.int64, count=n)[order[full + k - 1]]
    path = np.argsort(completed)
    return list(zip(completed[path].tolist(), (total[path] / k).tolist(), strict=True))


def item_unit(campaign: Campaign, rows: list[Row]) -> tuple[int, float] | None:
    """One item's unit of the gate from its counted judgments in id order: (the id of the judgment that completed
    it, the mean outcome of the first `overlap`), or None while it has fewer."""
    k = campaign.overlap
    return (rows[k - 1].id, sum(r.outcome for r in rows[:k]) / k) if len(rows) >= k else None


def counted_rows(
    campaign: Campaign, *, task_id: int | None = None, unreadable: list[tuple[int, str, str]] | None = None
) -> list[Row]:
    """What the results are made of (`_rows`), for the gate's running tally: of one item, or all of them."""
    if task_id is None or not item_rows.written_out():
        return _rows(campaign, unreadable, task_id=task_id)
    judgments, suggestions = item_rows.item_judgment_values(
        campaign, task_id=task_id, reads=frozenset(_KIND_READS[campaign.kind])
    )
    return read_rows(campaign, judgments, suggestions, unreadable, None)


def campaign_agreement(campaign: Campaign, rows: list[Row]) -> dict | None:
    """The results' agreement figures (`_agreement`), for a gate check whose policy asks for them."""
    return _agreement(campaign, rows)


def outcome_counts(campaign: Campaign, rows: list[Row]) -> stats.PairwiseCounts:
    """The wins, losses and ties behind the results' win rate (`_counts`), for the gate's running tally."""
    return _counts(campaign, rows)


def _work_remains(campaign: Campaign) -> bool:
    """Whether another judged item can still arrive: an open assignment, or an item with room that some reviewer of
    the campaign has not had yet (every reviewer may have skipped the rest)."""
    if campaign.status == Campaign.Status.CLOSED:
        return False
    if Assignment.objects.filter(campaign=campaign, status=Assignment.Status.OPEN).exists():
        return True
    reviewers = campaign.reviewers.exclude(pk__in=campaign.exclusions.values("reviewer_id")).count()
    return (
        Task.objects.ordinary()
        .filter(campaign=campaign, assigned_count__lt=F("capacity"))
        .annotate(had=Count("assignments"))
        .filter(had__lt=reviewers)
        .exists()
    )


def gate_for(
    campaign: Campaign, outcomes: list[float], *, agreement: float | None
) -> tuple[GatePolicy, GateResult, dict]:
    """The gate on these outcomes (`gate_for_units`)."""
    return gate_for_units(
        campaign, units=len(outcomes), path_of=lambda test: test.path(outcomes), agreement=lambda: agreement
    )


def gate_for_units(
    campaign: Campaign,
    *,
    units: int,
    path_of: Callable[[SequentialTest], SequentialPath],
    agreement: Callable[[], float | None],
) -> tuple[GatePolicy, GateResult, dict]:
    """The gate on `units` judged items whose path `path_of` gives (from their outcomes, or from the gate's running
    tally), truncated at the campaign's planned end (its ordinary items), or earlier when no more items can be
    judged. A campaign closed before it decided has no end bar: only the anytime-valid boundary can pass it. Once
    decided, it is read at the horizon it decided at (stored with the decision). The results and the gate check
    both decide here."""
    policy = GatePolicy.from_dict(campaign.gate_policy)
    planned = (campaign.plan or {}).get("max_judgments")
    if planned is None:
        planned = Task.objects.ordinary().filter(campaign=campaign).count()
    more = _work_remains(campaign)
    state = campaign.gate_state or {}
    if campaign.decision and "horizon" in state:
        horizon, closed_early = state["horizon"], state["horizon"] is None
    else:
        closed_early = campaign.status == Campaign.Status.CLOSED and units < planned
        horizon = None if closed_early else planned if more else min(planned, units)
    gate = gate_decide(
        policy,
        units=units,
        path_of=path_of,
        agreement=agreement,
        planned_end=horizon,
        per_item=campaign.overlap,
        resolution=campaign_outcome_resolution(campaign),
        unit="item",
        more_to_come=more,
    )
    if closed_early and gate.status == "pending":
        gate = GateResult(
            "fail",
            [
                *gate.reasons,
                "The campaign was closed before the gate decided: without that evidence the candidate does not pass.",
            ],
            None,
            gate.path,
        )
    test = gate.path.test if gate.path else None
    unit = f"item (mean of its {campaign.overlap} judgments)" if campaign.overlap > 1 else "item"
    end = {
        "planned_end": planned,
        "judged": units,
        "more_to_come": more,
        "unit": unit,
        "horizon": horizon,
        "end_bar_win_rate": test.end_bar_win_rate if test and test.horizon else None,
    }
    return policy, gate, end


def _agreement(campaign: Campaign, rows: list[Row]) -> dict | None:
    """Krippendorff's alpha with the metric that fits the kind, Cohen's kappa per pair, consensus and outliers."""
    if campaign.overlap < 2 or len(rows) < 2:
        return None
    metric, values = _agreement_values(campaign, rows)
    data = stats.reliability_matrix([r.reviewer for r in rows], [r.task for r in rows], values)
    alpha = stats.krippendorff_alpha(data.matrix, metric)
    kappa = stats.cohen_kappa_pairs(
        data.matrix, reviewers=data.reviewers, weights=None if metric == "nominal" else "linear"
    )
    consensus = stats.consensus_agreement(data.matrix, reviewers=data.reviewers)
    # 1.4826 turns the MAD into a standard-deviation estimate: raw MAD is too narrow when reviewers are alike
    outliers = stats.flag_outliers(consensus, min_units=10, mad_scale=1.4826)
    return {
        "krippendorff_alpha": alpha,
        "metric": metric,
        "units": int(np.sum(np.sum(~np.isnan(data.matrix), axis=0) >= 2)),
        "pairs": kappa.pairs(),
        "consensus": consensus.rows(),
        "outliers": outliers.as_dict(),
    }


def _agreement_values(campaign: Campaign, rows: list[Row]) -> tuple[str, list[Any]]:
    """What reviewers agree on, per judgment, and the metric it is compared with: the answer itself (pairwise,
    labeling), the candidate's position (ranking), or its rating (ordinal with a Likert criterion, else pass/fail)."""
    if campaign.kind in (Campaign.Kind.PAIRWISE, Campaign.Kind.LABELING):
        return "nominal", [row.value for row in rows]
    if campaign.kind == Campaign.Kind.RANKING:
        positions = [stats.ranking_positions(ranking) for ranking in _rankings(rows)]
        return "interval", [float(p[campaign.candidate_id]) for p in positions]
    candidate, rubric = campaign.candidate_id, campaign.rubric
    if any(c["scale"] == "likert" for c in rubric):
        return "ordinal", [stats.normalised_score(ratings[candidate], rubric) for ratings in _ratings(rows)]
    return "nominal", [str(stats.acceptable(ratings[candidate], rubric)) for ratings in _ratings(rows)]


def _counts(campaign: Campaign, rows: list[Row]) -> stats.PairwiseCounts:
    if campaign.kind == Campaign.Kind.PAIRWISE:
        sides = Counter(cast(str, r.value) for r in rows)
        return stats.PairwiseCounts(
            wins=sides["candidate"], losses=sides["baseline"], ties=sides["tie"], both_bad=sides["both_bad"]
        )
    if campaign.kind == Campaign.Kind.RANKING:
        opponents = (
            [campaign.baseline_id]
            if campaign.baseline_id
            else [v for v in campaign_version_names(campaign) if v != campaign.candidate_id]
        )
        return stats.pairwise_from_rankings(_rankings(rows), campaign.candidate_id, opponents)
    return stats.PairwiseCounts(
        wins=sum(r.outcome == 1.0 for r in rows),
        losses=sum(r.outcome == 0.0 for r in rows),
        ties=sum(r.outcome == 0.5 for r in rows),
    )


# keyed by str: Campaign.kind is a CharField, and a TextChoices member is equal to (and hashes as) its value
WIN_RATE_METHODS: dict[str, str] = {
    Campaign.Kind.PAIRWISE: "Wilson 95% interval; a tie or 'both bad' counts as half a win",
    Campaign.Kind.LABELING: "share of judgments where the candidate's output equals the expert's labels (Wilson 95% interval)",
    Campaign.Kind.RANKING: "each ranking read as comparisons of the candidate with {against}; a tie counts as half (Wilson 95% interval)",
    Campaign.Kind.RATING: "",
}


def _method(campaign: Campaign) -> str:
    if campaign.kind == Campaign.Kind.RANKING:
        return WIN_RATE_METHODS[campaign.kind].format(
            against="the baseline" if campaign.baseline_id else "every other version"
        )
    if campaign.kind == Campaign.Kind.RATING:
        return (
            "the candidate wins a judgment when its mean normalised rating beats the baseline's (Wilson 95% interval)"
            if campaign.baseline_id
            else "share of judgments where the candidate's output is acceptable: every pass/fail criterion passes and "
            "every Likert criterion is 4 or more (Wilson 95% interval)"
        )
    return WIN_RATE_METHODS[campaign.kind]


def diff_first_block(campaign: Campaign, changed_rate: stats.Interval) -> dict | None:
    """What a diff-first campaign's gate and win rate are about, in words and figures; None for other campaigns."""
    if campaign.items != Campaign.Items.CHANGED:
        return None
    changed = (campaign.plan or {}).get("max_judgments")
    if changed is None:
        changed = Task.objects.ordinary().filter(campaign=campaign).count()
    identical = campaign.identical_items
    return {
        "changed_items": changed,
        "identical_items": identical,
        "text": f"Diff-first: the gate tests the candidate's win rate on the {changed} items whose outputs differ "
        f"from the baseline's; the {identical} items with identical outputs were not reviewed.",
        "implied_win_rate": stats.implied_win_rate(changed_rate, changed=changed, identical=identical).as_dict(),
        "implied_method": "the win rate over all items with identical outputs counted as ties: the changed-items "
        "win rate w and both ends of its interval mapped by (w·c + ½·i)/(c + i), c changed and i identical "
        "items (an exact map: i is counted, not sampled, and identical outputs can only tie)",
    }


def _kind_block(campaign: Campaign, rows: list[Row], names: dict[int, str], problems: Problems | None = None) -> dict:
    return _KIND_BLOCKS[campaign.kind](campaign, rows, names, problems)


def _pairwise_block(campaign: Campaign, rows: list[Row], names: dict[int, str], problems: Problems | None) -> dict:
    bias = stats.position_bias([row.chosen_slot for row in rows])
    return {"position_bias": bias.as_dict()}


def _ranking_block(campaign: Campaign, rows: list[Row], names: dict[int, str], problems: Problems | None) -> dict:
    rankings = _rankings(rows)
    block: dict[str, Any] = {"mean_rank": {names[v]: figures for v, figures in stats.mean_ranks(rankings).items()}}
    if rankings:
        ranks, items = stats.rank_matrix(rankings, items=list(names))
        fit = stats.plackett_luce(ranks, items, bootstrap=100 if len(names) > 2 else 0).as_dict()
        block["plackett_luce"] = {**fit, "scores": [{**s, "item": names[s["item"]]} for s in fit["scores"]]}
        if len(names) > 2:  # Bradley–Terry with Davidson's ties on the comparisons the rankings imply
            first, second, outcome, group = stats.comparisons_from_ranks(ranks, items)
            bt = stats.bradley_terry(first, second, outcome, items=items, groups=group, bootstrap=100).as_dict()
            block["bradley_terry"] = _renamed(bt, names)
    return block


def _rating_block(campaign: Campaign, rows: list[Row], names: dict[int, str], problems: Problems | None) -> dict:
    ratings = _ratings(rows)
    block: dict[str, Any] = {
        "criteria": {names[v]: figures for v, figures in stats.rating_summary(ratings, campaign.rubric).items()}
    }
    if campaign.baseline_id and ratings:
        differences = stats.rating_differences(ratings, campaign.rubric, campaign.candidate_id, campaign.baseline_id)
        block["difference_to_baseline"] = {
            "criteria": {name: d.as_dict() for name, d in differences["criteria"].items()},
            "normalised": differences["normalised"].as_dict(),
        }
    return block


def _labeling_kind_block(campaign: Campaign, rows: list[Row], names: dict[int, str], problems: Problems | None) -> dict:
    return {"labeling": _labeling_block(campaign, rows, names, problems)}


_KIND_BLOCKS: dict[str, Callable[[Campaign, list[Row], dict[int, str], Problems | None], dict]] = {
    Campaign.Kind.PAIRWISE: _pairwise_block,
    Campaign.Kind.RANKING: _ranking_block,
    Campaign.Kind.RATING: _rating_block,
    Campaign.Kind.LABELING: _labeling_kind_block,
}


def _renamed(fit: dict, names: dict[int, str]) -> dict:
    """A fit's dict with model version ids replaced by their names wherever an item is named."""
    if isinstance(fit, dict):
        return {
            key: (names.get(value, value) if key == "item" else _renamed(value, names)) for key, value in fit.items()
        }
    if isinstance(fit, list):
        return [_renamed(value, names) for value in fit]
    return fit


def _finite(value: Any) -> Any:
    """NaN and infinity have no JSON form (and PostgreSQL's jsonb refuses them): they become null."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, (np.floating, np.integer)):
        return _finite(value.item())
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _labeling_block(
    campaign: Campaign, rows: list[Row], names: dict[int, str], problems: Problems | None = None
) -> dict:
    gold = stats.gold_labels([row.task for row in rows], _label_sets(rows))
    outputs: defaultdict[int, dict[int, str]] = defaultdict(dict)  # version -> task -> its labels, "|"-joined
    outside: dict[str, str] = {}  # item -> the candidate's labels that are not the campaign's
    shown = TaskOutput.objects.filter(task__campaign=campaign).values_list(
        "task_id", "task__item__external_id", "model_version_id", "prediction__output"
    )
    for task, item, version, output in shown.order_by("task__item_id", "task_id"):  # in the dataset's order
        given = as_label_set(output)
        outputs[version][task] = "|".join(
            sorted(given, key=lambda x: (campaign.labels.index(x) if x in campaign.labels else 999, x))
        )
        if version == campaign.candidate_id and given - set(campaign.labels):
            outside[item] = ", ".join(sorted(given - set(campaign.labels)))
    if outside and problems is not None:
        problems.add(
            "labeling",
            (
                f"The candidate's output on {listed(list(outside))} is not among the campaign's labels "
                f"({listed(sorted(set(outside.values())))}; the labels are {', '.join(campaign.labels)}): it counts as wrong, "
                "and the confusion matrix shows each such label as a class of its own."
            ),
        )
    accuracy = {
        names[v]: stats.accuracy_vs_gold(gold.gold, predictions).as_dict() for v, predictions in outputs.items()
    }
    # a label outside the campaign's (a model's output, or an old judgment's) is a class of its own, after them
    extra = sorted((set(outputs[campaign.candidate_id].values()) | set(gold.gold.values())) - set(campaign.labels))
    matrix = stats.confusion(
        gold.gold, outputs[campaign.candidate_id], labels=campaign.labels + extra if not campaign.multi_label else None
    )
    return {
        "gold_items": len(gold.gold),
        "tied_items": len(gold.tied),
        "accuracy": accuracy,
        "confusion": matrix.as_dict(),
    }


class Disagreement(TypedDict):
    task: int
    item: str
    judgments: int
    majority_share: float  # of the most given answer


def _disagreements(rows: list[Row], limit: int = 50) -> list[Disagreement]:
    """Items whose counted judgments disagree, most divided first (ties: more judgments first, then the item judged
    first). Counted with numpy over (task, answer) codes: a Python dict per item cost a quarter second at 100,000."""
    if not rows:
        return []
    codes: dict[Any, int] = {}
    # answers of one kind are all strings or all not: comparing strings themselves is comparing their reprs
    answers = np.fromiter(
        (codes.setdefault(r.value if isinstance(r.value, str) else repr(r.value), len(codes)) for r in rows),
        dtype=np.int64,
        count=len(rows),
    )
    tasks = np.fromiter((r.task for r in rows), dtype=np.int64, count=len(rows))
    # one entry per (task, answer): how many judgments gave it, and the row of the first of them
    order = np.lexsort((answers, tasks))
    pairs, start, given = np.unique(
        np.stack([tasks[order], answers[order]], axis=1), axis=0, return_index=True, return_counts=True
    )
    task_of_pair = pairs[:, 0]
    bounds = np.flatnonzero(np.r_[True, task_of_pair[1:] != task_of_pair[:-1]])  # where each task's pairs start
    distinct = np.diff(np.r_[bounds, len(pairs)])
    judgments = np.add.reduceat(given, bounds)
    majority = np.maximum.reduceat(given, bounds)
    first_row = np.minimum.reduceat(order[start], bounds)  # the task's first judgment, in id order
    contested = np.flatnonzero(distinct > 1)
    share = majority[contested] / judgments[contested]
    ranked = contested[np.lexsort((first_row[contested], -judgments[contested], share))][:limit]
    return [
        Disagreement(
            task=int(task_of_pair[bounds[i]]),
            item=rows[int(first_row[i])].item,
            judgments=int(judgments[i]),
            majority_share=int(majority[i]) / int(judgments[i]),
        )
        for i in ranked
    ]


def _slices(rows: list[Row]) -> dict:
    outcomes = np.array([row.outcome for row in rows], dtype=float)
    figures = stats.by_slice(
        [row.tags for row in rows], lambda idx: stats.wilson_interval(float(outcomes[idx].sum()), len(idx)), min_size=10
    )
    return {tag: figure.as_dict() for tag, figure in figures.items()}


def _sequence(policy: GatePolicy, path: SequentialPath | None) -> dict | None:
    if path is None:
        return None
    series = path.llr_series
    step = max(1, len(series) // SEQUENCE_POINTS)
    index = np.arange(0, len(series), step)
    return {
        "n": (index + 1).tolist(),
        "llr": series[index].round(4).tolist(),
        "log_pass": path.boundaries[0],
        "log_fail": path.boundaries[1],
        "decided_at": path.decided_at,
    }


def _timeline(rows: list[Row]) -> dict:
    """Judgments per hour (or per day for long campaigns, in UTC), cumulative."""
    if not rows:
        return {"times": [], "cumulative": []}
    arrived = np.fromiter((row.arrived for row in rows), dtype=np.int64, count=len(rows))
    span = int(arrived[-1] - arrived[0])
    unit = "hour" if span < 3 * 86400 else "day"
    width = 3600 if unit == "hour" else 86400
    times, counts = np.unique(arrived // width * width, return_counts=True)
    return {
        "unit": unit,
        "times": [datetime.fromtimestamp(int(t), tz=UTC).isoformat() for t in times],
        "cumulative": np.cumsum(counts).tolist(),
    }


def campaign_progress(campaign: Campaign, *, judgments: int | None = None) -> dict:
    """Items, judgments (`judgments`: the caller has counted Judgment.objects.in_results_of already), flags."""
    tasks = campaign.tasks.ordinary().count()  # known-answer items are not the campaign's work (reviews.quality)
    done = Judgment.objects.in_results_of(campaign).count() if judgments is None else judgments
    return {
        "tasks": tasks,
        "judgments": done,
        "judgments_planned": tasks * campaign.overlap,
        "flagged_items": Assignment.objects.filter(campaign=campaign, flagged=True).values("task").distinct().count(),
        "tasks_open": Task.objects.ordinary().filter(campaign=campaign, assigned_count__lt=F("capacity")).count(),
    }


RowsRead = tuple[list[Row], list[tuple[int, str, str]], dict[str, list[int | None]]]


def _rows_read(campaign: Campaign) -> RowsRead:
    unreadable: list[tuple[int, str, str]] = []  # (judgment id, item, why)
    durations: dict[str, list[int | None]] = {}  # each reviewer's, read with the rows, for reviewer_quality
    return _rows(campaign, unreadable, durations), unreadable, durations


def campaign_results(*, campaign: Campaign, read: Callable[[Campaign], RowsRead] = _rows_read) -> dict:
    """Every figure of the campaign. `read`: how its rows are read, with the judgments they cannot read and each
    reviewer's durations (reviews.results_rows reuses an earlier read of this process for the pages and the API)."""
    # Bad data never fails the results: a judgment they cannot read is left out (and holds the gate), a block they
    # cannot compute is left empty, and `problems` says which and why (reviews.problems).
    problems = Problems()
    rows, unreadable, durations = read(campaign)
    if unreadable:
        problems.add("judgments", unreadable_message(unreadable))
    versions = campaign_versions(campaign)
    names = VersionNames({v.pk: str(v) for v in versions})
    for version in _versions_judged(campaign, rows):  # versions no longer listed get their names here, once
        names[version]
    if stray := stray_versions_message(names):
        problems.add("versions", stray)
    if missing := missing_prediction_sets(campaign, versions):
        problems.add(
            "evidence",
            (
                f"{listed(missing)} has no prediction set on {campaign.dataset_version} any more (deleted outside the app): "
                "the outputs shown are kept, but a verdict cannot record the set's content hash."
            ),
        )
    agreement = computed(
        problems, campaign, "agreement", "Agreement between reviewers", lambda: _agreement(campaign, rows), None
    )
    policy, gate, end = computed(
        problems,
        campaign,
        "gate",
        "The gate",
        lambda: gate_for(
            campaign, _gate_outcomes(campaign, rows), agreement=agreement["krippendorff_alpha"] if agreement else None
        ),
        None,
    ) or (_gate_unavailable(campaign))
    gate = gate_held(gate, len(unreadable))
    no_disagreements: list[Disagreement] = []  # what the results show when they cannot be computed
    counts = computed(
        problems,
        campaign,
        "win_rate",
        "The candidate's wins and losses",
        lambda: _counts(campaign, rows),
        stats.PairwiseCounts(),
    )
    diff_first = diff_first_block(campaign, counts.win_rate())
    return _finite(
        {
            "campaign": campaign.pk,
            "kind": campaign.kind,
            "judgments": len(rows),
            "candidate": {
                "wins": counts.wins,
                "losses": counts.losses,
                "ties": counts.ties,
                "both_bad": counts.both_bad,
            },
            "win_rate": counts.win_rate().as_dict(),
            "win_rate_method": _method(campaign),
            "diff_first": diff_first,
            "gate": {
                **gate.as_dict(),
                "method": policy.test().describe(),
                **end,
                "recorded": {
                    "decision": campaign.decision,
                    "at": campaign.decided_at.isoformat() if campaign.decided_at else None,
                    "after_judgments": campaign.decided_after,
                },
            },
            "sequence": computed(
                problems,
                campaign,
                "sequence",
                "The gate's evidence over time",
                lambda: _sequence(policy, gate.path),
                None,
            ),
            "policy": {
                **policy.as_dict(),
                "text": policy.describe() + (f" {diff_first['text']}" if diff_first else ""),
            },
            "progress": campaign_progress(campaign, judgments=len(rows) + len(unreadable)),
            "agreement": agreement,
            "slices": computed(problems, campaign, "slices", "The win rate per slice", lambda: _slices(rows), {}),
            "disagreements": computed(
                problems, campaign, "disagreements", "Contested items", lambda: _disagreements(rows), no_disagreements
            ),
            "timeline": computed(
                problems,
                campaign,
                "timeline",
                "Judgments over time",
                lambda: _timeline(rows),
                {"times": [], "cumulative": []},
            ),
            "versions": [str(v) for v in versions],
            # each reviewer's quality (known-answer items, time per judgment) and the lead's exclusions, on record
            "reviewers": computed(
                problems,
                campaign,
                "reviewers",
                "Reviewer quality",
                lambda: reviewer_quality(campaign, durations),
                {
                    "known_answer_items": 0,
                    "known_answer_rate": campaign.known_answer_rate,
                    "min_seconds": campaign.min_seconds,
                    "by_reviewer": [],
                },
            ),
            "exclusions": campaign_exclusions(campaign),
            **computed(
                problems,
                campaign,
                campaign.kind,
                f"The {campaign.kind} figures",
                lambda: _kind_block(campaign, rows, names, problems),
                {},
            ),
            "problems": problems,
        }
    )


def _gate_unavailable(campaign: Campaign) -> tuple[GatePolicy, GateResult, dict]:
    """The gate when it cannot be computed: neither pass nor fail, and why."""
    try:
        policy = GatePolicy.from_dict(campaign.gate_policy)
    except DATA_ERRORS:
        policy = GatePolicy()
    gate = GateResult(
        "pending",
        [
            (
                "The gate cannot be computed from this campaign's data (see the problems above), "
                "so it says neither pass nor fail."
            )
        ],
    )
    return (
        policy,
        gate,
        {
            "planned_end": (campaign.plan or {}).get("max_judgments"),
            "judged": 0,
            "more_to_come": False,
            "unit": "item",
            "horizon": None,
            "end_bar_win_rate": None,
        },
    )


def campaign_evidence(*, campaign: Campaign) -> dict:
    """Everything an approver saw, frozen into the verdict: results, the gate, and content hashes."""

    def role(version: ModelVersion) -> str:
        return {campaign.candidate_id: "candidate", campaign.baseline_id: "baseline"}.get(version.pk, "compared")

    versions = campaign_versions(campaign)
    # a prediction set deleted outside the app has no hash to record: null, and the results' problems say so
    hashes = dict(
        PredictionSet.objects.filter(
            model_version__in=versions, dataset_version_id=campaign.dataset_version_id
        ).values_list("model_version_id", "sha256")
    )

    return {
        "results": campaign_results(campaign=campaign),
        "dataset": {
            "name": campaign.dataset_version.dataset.name,
            "version": campaign.dataset_version.number,
            "sha256": campaign.dataset_version.sha256,
        },
        "prediction_sets": [
            {"model": mv.model.name, "version": mv.version, "role": role(mv), "sha256": hashes.get(mv.pk)}
            for mv in versions
        ],
    }


# --- each reviewer's figures (known-answer items, time per judgment) and the lead's exclusions ---------------


def reviewer_quality(campaign: Campaign, durations: dict[str, list[int | None]] | None = None) -> dict:
    """Per reviewer: known-answer items answered and right (accuracy, Wilson 95% interval), the median time per
    judgment and how many judgments were faster than `min_seconds`, over their counted judgments of every task.
    `durations`: those judgments' durations by reviewer, when the caller has read them already (_rows)."""
    excluded = set(ReviewerExclusion.objects.filter(campaign=campaign).values_list("reviewer__username", flat=True))
    figures: dict[str, dict] = {
        name: {"judgments": 0, "known": 0, "correct": 0, "durations": [], "fast": 0}
        for name in campaign.reviewers.values_list("username", flat=True)
    }
    counted = Judgment.objects.counted().filter(task__campaign=campaign)
    by_reviewer = (
        _durations_by_reviewer(counted)
        if durations is None
        else {name: np.array(given, dtype=np.float64) for name, given in durations.items()}  # None -> NaN
    )
    for reviewer, taken in by_reviewer.items():
        mine = figures.setdefault(reviewer, {"judgments": 0, "known": 0, "correct": 0, "durations": [], "fast": 0})
        timed = taken[~np.isnan(taken)]
        mine["judgments"] = len(taken)
        mine["durations"] = timed
        mine["fast"] = judgments_too_fast(timed, campaign.min_seconds)
    # only known-answer items are marked right or wrong: their answers are the only ones read (a few per reviewer)
    known = counted.filter(task__known_answer__isnull=False).values_list(
        "reviewer__username",
        "task__known_answer",
        "choice",
        "labels",
        "ranking",
        "ratings",
        "assignment__slot_order",
        "assignment__candidate_slot",
    )
    for reviewer, answer, choice, labels, ranking, ratings, order, cslot in known:
        if answer is not None and not judgment_problem(
            campaign,
            choice=choice,
            labels=labels,
            ranking=ranking,
            ratings=ratings,
            slot_order=order or [],
            candidate_slot=cslot,
        ):
            value, _ = judgment_deblinded(
                campaign,
                choice=choice,
                labels=labels,
                ranking=ranking,
                ratings=ratings,
                slot_order=order or [],
                candidate_slot=cslot,
            )
            figures[reviewer]["known"] += 1
            figures[reviewer]["correct"] += known_answer_correct(campaign, answer, value)
    return {
        "known_answer_items": Task.objects.known().filter(campaign=campaign).count(),
        "known_answer_rate": campaign.known_answer_rate,
        "min_seconds": campaign.min_seconds,
        "by_reviewer": [
            {
                "reviewer": name,
                "excluded": name in excluded,
                "judgments": f["judgments"],
                "known_answered": f["known"],
                "known_correct": f["correct"],
                "accuracy": stats.wilson_interval(f["correct"], f["known"]).as_dict(),
                "median_seconds": round(float(np.median(f["durations"])) / 1000, 3) if len(f["durations"]) else None,
                "timed_judgments": len(f["durations"]),
                "fast_judgments": f["fast"],
            }
            for name, f in sorted(figures.items())
        ],
    }


def _durations_by_reviewer(judgments: QuerySet[Judgment]) -> dict[str, NDArray[np.float64]]:
    """Each reviewer's judgment durations in ms, NaN where none was recorded: one array per reviewer, not a Python
    object per judgment (floats hold these ids and milliseconds exactly)."""
    pairs = np.array(list(judgments.values_list("reviewer_id", "duration_ms")), dtype=np.float64)
    if not len(pairs):
        return {}
    names = dict(User.objects.filter(pk__in=np.unique(pairs[:, 0]).tolist()).values_list("pk", "username"))
    by_reviewer = pairs[np.argsort(pairs[:, 0], kind="stable")]
    ids, starts = np.unique(by_reviewer[:, 0], return_index=True)
    return {names[int(i)]: part[:, 1] for i, part in zip(ids, np.split(by_reviewer, starts[1:]), strict=True)}


EXCLUDED_AFTER_RESULTS = "excluded after results were visible"


def campaign_exclusions(campaign: Campaign) -> list[dict]:
    """The lead's exclusions, on record, as the results and the verdict's evidence carry them."""
    return [
        {
            "reviewer": e.reviewer.username,
            "reason": e.reason,
            "excluded_by": e.excluded_by.username,
            "at": e.created_at.isoformat(),
            "after_results_visible": e.after_results_visible,
            "note": EXCLUDED_AFTER_RESULTS if e.after_results_visible else "excluded before anyone saw results",
        }
        for e in ReviewerExclusion.objects.filter(campaign=campaign).select_related("reviewer", "excluded_by")
    ]


def item_rows_with_quality(campaign: Campaign, rows: list[dict], names: dict[int, str]) -> list[dict]:
    """The lead's per-item rows (reviews.selectors.campaign_item_judgments) with what quality adds: the known
    answer and whether each judgment gave it, and judgments faster than `min_seconds`."""
    for row in rows:
        tasks = [entry["judgment"].task for entry in row["judgments"]] + [skip.task for skip in row["skips"]]
        answer = tasks[0].known_answer if tasks else None
        row["known_answer"] = None
        for entry in row["judgments"]:
            judgment = entry["judgment"]
            entry["fast"] = judgment_too_fast(judgment.duration_ms, campaign.min_seconds)
            entry["correct"] = None
            if answer is not None and not judgment_problem(
                campaign,
                choice=judgment.choice,
                labels=judgment.labels,
                ranking=judgment.ranking,
                ratings=judgment.ratings,
                slot_order=judgment.assignment.slot_order,
                candidate_slot=judgment.assignment.candidate_slot,
            ):
                value, _ = judgment_deblinded(
                    campaign,
                    choice=judgment.choice,
                    labels=judgment.labels,
                    ranking=judgment.ranking,
                    ratings=judgment.ratings,
                    slot_order=judgment.assignment.slot_order,
                    candidate_slot=judgment.assignment.candidate_slot,
                )
                entry["correct"] = known_answer_correct(campaign, answer, value)
        if answer is not None:
            row["known_answer"] = known_answer_text(campaign, answer, names)
    return rows
