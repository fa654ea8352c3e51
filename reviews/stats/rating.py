"""Ratings on a rubric (Likert 1..5 or pass/fail per criterion): normalised scores, per-version means with
intervals, and the candidate's difference to the baseline (paired when rated in the same judgment, else Welch)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.lazy import lazy_module
from reviews.stats._arrays import distinct_count
from reviews.stats.pairwise import PairwiseCounts
from reviews.stats.proportions import Difference, mean_interval, paired_difference, welch_difference, wilson_interval

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike
else:
    np = lazy_module("numpy")

# One output's scores by criterion name: an int (Likert 1..5) or "pass" / "fail".
Scores = dict[str, Any]


def normalised_score(scores: Scores, rubric: list[dict[str, Any]]) -> float:
    """One output's rating on [0, 1]: Likert 1..5 maps to 0..1, pass to 1 and fail to 0, averaged over criteria."""
    parts = []
    for criterion in rubric:
        value = scores[criterion["name"]]
        parts.append((value - 1) / 4 if criterion["scale"] == "likert" else (1.0 if value == "pass" else 0.0))
    return sum(parts) / len(parts)


def acceptable(scores: Scores, rubric: list[dict[str, Any]]) -> bool:
    """Every pass/fail criterion passes and every Likert criterion is at least 4 ('agree')."""
    return all((scores[c["name"]] >= 4) if c["scale"] == "likert" else (scores[c["name"]] == "pass") for c in rubric)


def rating_summary(
    ratings: list[dict[int, Scores]], rubric: list[dict[str, Any]]
) -> dict[int, dict[str, dict[str, float]]]:
    """Per version and criterion: the mean Likert score, or the pass rate, with a 95% interval."""
    summary: dict[int, dict[str, dict[str, float]]] = {}
    for criterion in rubric:
        name = criterion["name"]
        values: dict[int, list[float]] = {}
        for judgment in ratings:
            for version, scores in judgment.items():
                value = scores[name]
                values.setdefault(version, []).append(
                    float(value) if criterion["scale"] == "likert" else float(value == "pass")
                )
        for version, series in values.items():
            if criterion["scale"] == "likert":
                summary.setdefault(version, {})[name] = mean_interval(series)
            else:
                rate = wilson_interval(sum(series), len(series))
                # never empty, so every figure is a number
                assert rate.estimate is not None and rate.low is not None and rate.high is not None
                summary.setdefault(version, {})[name] = {
                    "mean": rate.estimate,
                    "low": rate.low,
                    "high": rate.high,
                    "n": len(series),
                }
    return summary


def pairwise_from_ratings(
    ratings: list[dict[int, Scores]], rubric: list[dict[str, Any]], candidate: int, baseline: int | None
) -> PairwiseCounts:
    """With a baseline: the higher normalised score wins each judgment. Without: the candidate 'wins' a judgment
    when its output is acceptable (see `acceptable`)."""
    wins = losses = ties = 0
    for judgment in ratings:
        if candidate not in judgment:
            continue
        if baseline is None or baseline not in judgment:
            if acceptable(judgment[candidate], rubric):
                wins += 1
            else:
                losses += 1
            continue
        mine, theirs = normalised_score(judgment[candidate], rubric), normalised_score(judgment[baseline], rubric)
        if math.isclose(mine, theirs):
            ties += 1
        elif mine > theirs:
            wins += 1
        else:
            losses += 1
    return PairwiseCounts(wins, losses, ties)


def rating_difference(
    candidate: ArrayLike,
    baseline: ArrayLike,
    *,
    candidate_judgments: ArrayLike | None = None,
    baseline_judgments: ArrayLike | None = None,
    paired: bool | None = None,
    confidence: float = 0.95,
) -> Difference:
    """Mean of `candidate` minus mean of `baseline` (one value per rated output) with a 95% interval.

    With the judgment of each value given, and every judgment having rated both (paired=None decides so), the
    interval is the paired one: mean of per-judgment differences ± t(n-1). paired=True pairs the judgments that
    rated both and ignores the rest. Otherwise (no judgments, or some rated only one): Welch's interval."""
    c, b = np.asarray(candidate, dtype=float), np.asarray(baseline, dtype=float)
    if candidate_judgments is not None and baseline_judgments is not None and paired is not False:
        cj, bj = np.asarray(candidate_judgments), np.asarray(baseline_judgments)
        if distinct_count(cj) != len(cj) or distinct_count(bj) != len(bj):
            raise ValueError("a judgment rates each output once")
        common, ci, bi = np.intersect1d(cj, bj, assume_unique=True, return_indices=True)
        if paired or (len(common) == len(cj) == len(bj)):
            result = paired_difference(c[ci], b[bi], confidence)
            return Difference(result.estimate, result.low, result.high, result.method, len(c), len(b), result.df)
    elif paired:
        raise ValueError("pairing needs the judgment of every value")
    return welch_difference(c, b, confidence)


def rating_differences(
    ratings: list[dict[int, Scores]],
    rubric: list[dict[str, Any]],
    candidate: int,
    baseline: int,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """`rating_difference` per criterion (Likert points, or pass-rate difference for pass/fail) and for the
    normalised score, over judgments in the `rating_summary` format. {"criteria": {name: Difference},
    "normalised": Difference}."""

    def series(version: int, value_of: Callable[[Scores], float]) -> tuple[list[float], list[int]]:
        values: list[float] = []
        judgments: list[int] = []
        for k, judgment in enumerate(ratings):
            if version in judgment:
                values.append(value_of(judgment[version]))
                judgments.append(k)
        return values, judgments

    def difference(value_of: Callable[[Scores], float]) -> Difference:
        cv, cj = series(candidate, value_of)
        bv, bj = series(baseline, value_of)
        return rating_difference(cv, bv, candidate_judgments=cj, baseline_judgments=bj, confidence=confidence)

    def criterion_value(name: str, likert: bool) -> Callable[[Scores], float]:
        return (lambda s: float(s[name])) if likert else (lambda s: float(s[name] == "pass"))

    criteria: dict[str, Difference] = {}
    for criterion in rubric:
        name = criterion["name"]
        criteria[name] = difference(criterion_value(name, criterion["scale"] == "likert"))
    return {"criteria": criteria, "normalised": difference(lambda s: normalised_score(s, rubric))}
