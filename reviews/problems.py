"""Bad data in a campaign, found where the results read it and said in words: judgments an older version wrote in a
shape the results cannot read, model versions no longer in the campaign, outputs or prediction sets gone, and
figures that cannot be computed. One campaign's data never fails a page; its results list what is wrong instead."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from models_app.models import ModelVersion, PredictionSet
from reviews.gate import GateResult
from reviews.models import SLOTS, Campaign

logger = logging.getLogger(__name__)

# What bad data makes the statistics raise. A database error or an import error is not bad data: it still fails.
DATA_ERRORS = (LookupError, TypeError, ValueError, ArithmeticError, AttributeError)
LISTED = 5  # problems name this many judgments or items, then say how many more

T = TypeVar("T")


class Problems(list):
    """[{"block": ..., "message": ...}]: what the results could not read or compute, for the page and the API."""

    def add(self, block: str, message: str) -> None:
        self.append({"block": block, "message": message})


def computed(problems: Problems, campaign: Campaign, block: str, what: str, compute: Callable[[], T], default: T) -> T:
    """`compute()`, or `default` with a problem saying `what` could not be computed, when the data makes it raise."""
    try:
        return compute()
    except DATA_ERRORS as exc:
        logger.exception("campaign %s: the results block %r cannot be computed", campaign.pk, block)
        problems.add(
            block,
            f"{what} cannot be computed from this campaign's data ({type(exc).__name__}: {exc}). "
            "The other figures do not depend on it.",
        )
        return default


def listed(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


def _slots_shown(slot_order: Any) -> list[str] | None:
    return list(SLOTS[: len(slot_order)]) if isinstance(slot_order, list) else None


class _Stored(NamedTuple):
    """A judgment's fields as stored, and what its assignment recorded: whatever shape an older version wrote."""

    choice: Any
    labels: Any
    ranking: Any
    ratings: Any
    slot_order: Any
    candidate_slot: Any
    has_suggestion: bool


def judgment_problem(
    campaign: Campaign,
    *,
    choice: Any,
    labels: Any,
    ranking: Any,
    ratings: Any,
    slot_order: Any,
    candidate_slot: Any,
    has_suggestion: bool = True,
) -> str | None:
    """Why the results cannot read this judgment as its kind means it (an older version wrote it, or its data was
    edited), or None when they can. The API refuses all of these on the way in; rows already stored may hold them."""
    stored = _Stored(choice, labels, ranking, ratings, slot_order, candidate_slot, has_suggestion)
    return _KIND_PROBLEMS[campaign.kind](campaign, stored)


def _pairwise_problem(campaign: Campaign, stored: _Stored) -> str | None:
    if stored.choice not in ("A", "B", "tie", "both_bad"):
        return f"its choice {stored.choice!r} is not A, B, tie or both bad"
    if stored.choice in ("A", "B") and stored.candidate_slot not in ("A", "B"):
        return "it does not record which side showed the candidate"
    return None


def _labeling_problem(campaign: Campaign, stored: _Stored) -> str | None:
    if not isinstance(stored.labels, list) or not all(isinstance(label, str) for label in stored.labels):
        return f"its labels {stored.labels!r} are not a list of labels"
    if not stored.has_suggestion:
        return "the candidate has no output on its item any more (removed from the database), so nothing says whether it agreed"
    return None


_NO_SLOT_ORDER = "its assignment does not record which model version each output was"


def _shown(campaign: Campaign, stored: _Stored) -> list[str] | None:
    """The output slots the reviewer was shown, or None when the assignment does not say which version each was."""
    shown = _slots_shown(stored.slot_order)
    if not shown or campaign.candidate_id not in stored.slot_order:
        return None
    return shown


def _ranking_problem(campaign: Campaign, stored: _Stored) -> str | None:
    shown = _shown(campaign, stored)
    if shown is None:
        return _NO_SLOT_ORDER
    ranking = stored.ranking
    if not isinstance(ranking, list) or not all(isinstance(group, list) for group in ranking):
        return f"its ranking {ranking!r} is not a list of groups of outputs"
    placed = [slot for group in ranking for slot in group]
    strange = sorted({str(slot) for slot in placed} - set(shown))
    if strange:
        return f"its ranking names output {listed(strange)}, which was not shown (outputs {', '.join(shown)} were)"
    missing = sorted(set(shown) - set(placed))
    if missing:
        return f"its ranking leaves out output {', '.join(missing)}"
    if len(placed) != len(set(placed)):
        return "its ranking places an output twice"
    return None


def _rating_problem(campaign: Campaign, stored: _Stored) -> str | None:
    shown = _shown(campaign, stored)
    if shown is None:
        return _NO_SLOT_ORDER
    ratings = stored.ratings
    if not isinstance(ratings, dict) or not ratings:
        return f"its ratings {ratings!r} are not ratings per output"
    strange = sorted(str(slot) for slot in ratings if slot not in shown)
    if strange:
        return f"its ratings name output {listed(strange)}, which was not shown"
    if SLOTS[stored.slot_order.index(campaign.candidate_id)] not in ratings:
        return "it does not rate the candidate's output"
    for slot, scores in ratings.items():
        problem = _scores_problem(campaign.rubric, slot, scores)
        if problem:
            return problem
    return None


def _scores_problem(rubric: list[dict], slot: str, scores: Any) -> str | None:
    """Why one output's scores do not fit the rubric: a criterion missing, or a score off its scale."""
    if not isinstance(scores, dict):
        return f"its ratings of output {slot} are not scores per criterion"
    for criterion in rubric:
        name = criterion["name"]
        if name not in scores:
            return f"its ratings of output {slot} lack the criterion {name!r} (was the rubric changed after it was written?)"
        if not _on_scale(criterion["scale"], scores[name]):
            return f"its rating {scores[name]!r} of output {slot} on {name!r} does not fit the criterion's scale ({criterion['scale']})"
    return None


def _on_scale(scale: str, value: Any) -> bool:
    if scale == "likert":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return value in ("pass", "fail")


_KIND_PROBLEMS: dict[str, Callable[[Campaign, _Stored], str | None]] = {
    Campaign.Kind.PAIRWISE: _pairwise_problem,
    Campaign.Kind.LABELING: _labeling_problem,
    Campaign.Kind.RANKING: _ranking_problem,
    Campaign.Kind.RATING: _rating_problem,
}


def unreadable_message(unreadable: list[tuple[int, str, str]]) -> str:
    """unreadable: (judgment id, item, why) per judgment the results leave out."""
    said = [f"judgment {jid} (item {item}): {why}" for jid, item, why in unreadable[:LISTED]]
    more = f"; and {len(unreadable) - LISTED} more" if len(unreadable) > LISTED else ""
    return (
        f"{len(unreadable)} counted judgment{'s' if len(unreadable) != 1 else ''} cannot be read and "
        f"{'are' if len(unreadable) != 1 else 'is'} left out of every figure: "
        + "; ".join(said)
        + more
        + ". Discard them on the judgments page (or correct them) so the gate can decide."
    )


def gate_held(gate: GateResult, unreadable: int) -> GateResult:
    """With judgments the results cannot read, the gate says neither pass nor fail: its evidence is incomplete."""
    if not unreadable or gate.status == "pending":
        return gate
    return GateResult(
        "pending",
        [
            *gate.reasons,
            (
                f"The gate would say {gate.status}, but {unreadable} counted judgment{'s' if unreadable != 1 else ''} cannot be read "
                "(see the problems above): it decides once they are discarded or corrected."
            ),
        ],
        None,
        gate.path,
    )


class VersionNames(dict):
    """Model version names by id. A version that judgments name but the campaign no longer lists (removed from its
    versions after it was judged) is looked up once, named as such and remembered in `strays`, rather than failing."""

    def __init__(self, names: dict[int, str]):
        super().__init__(names)
        self.strays: list[int] = []

    def __missing__(self, pk: int) -> str:
        version = ModelVersion.objects.select_related("model").filter(pk=pk).first() if isinstance(pk, int) else None
        name = f"{version} (no longer in this campaign)" if version else f"model version #{pk} (deleted)"
        self[pk] = name
        self.strays.append(pk)
        return name


def stray_versions_message(names: VersionNames) -> str | None:
    if not names.strays:
        return None
    return (
        f"Judgments name {listed([names[pk] for pk in names.strays])}: the campaign does not list "
        f"{'these model versions' if len(names.strays) > 1 else 'this model version'} any more. Their judgments "
        "still count, and the version is shown under that name."
    )


def missing_prediction_sets(campaign: Campaign, versions: list[ModelVersion]) -> list[str]:
    """The campaign's versions whose prediction set on its dataset version is gone (deleted outside the app)."""
    present = set(
        PredictionSet.objects.filter(
            model_version__in=versions, dataset_version_id=campaign.dataset_version_id
        ).values_list("model_version_id", flat=True)
    )
    return [str(version) for version in versions if version.pk not in present]
