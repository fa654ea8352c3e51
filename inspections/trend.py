"""The drop test behind an inspection alert, and each period's quality with its interval. Pure (no Django).

The test: the last period against the pooled previous k periods, one-sided (is the last one worse?), at alpha.
- labeling (accuracy, a proportion): two-proportion z-test with the pooled proportion under H0,
  z = (p_last - p_prev) / sqrt(p (1 - p) (1/n_last + 1/n_prev)), p-value = Phi(z).
- rating (mean normalised score per judgment): Welch's t-test (unequal variances, Welch-Satterthwaite df),
  p-value = T_df(t).
Cross-checked with scipy in tests/test_inspections_trend.py."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reviews.stats.proportions import t_interval, wilson_interval

ALPHA = 0.05
PREVIOUS_PERIODS = 4  # k: the last period is compared with up to this many before it, pooled
# scores live on [0, 1]: a squared standard error below this is rounding, not spread (and its square underflows)
NO_VARIANCE = 1e-18


@dataclass(frozen=True)
class DropTest:
    test: str  # "two-proportion z-test" or "Welch t-test"
    statistic: float
    p_value: float
    last: float
    previous: float

    def as_dict(self) -> dict[str, float | str]:
        return {
            "test": self.test,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "last": self.last,
            "previous": self.previous,
        }


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2))


def proportion_drop(successes_last: int, n_last: int, successes_prev: int, n_prev: int) -> DropTest | None:
    """One-sided two-proportion z-test of H1: p_last < p_prev. None when either side is empty or the pooled
    proportion is 0 or 1 (no variance: nothing can be clear)."""
    if n_last <= 0 or n_prev <= 0:
        return None
    pooled = (successes_last + successes_prev) / (n_last + n_prev)
    if pooled in (0.0, 1.0):
        return None
    p_last, p_prev = successes_last / n_last, successes_prev / n_prev
    z = (p_last - p_prev) / math.sqrt(pooled * (1 - pooled) * (1 / n_last + 1 / n_prev))
    return DropTest("two-proportion z-test", z, _normal_cdf(z), p_last, p_prev)


def _student_t_cdf(t: float, df: float) -> float:
    from scipy.special import stdtr  # lazy on purpose: scipy loads only when a rating trend is tested

    return float(stdtr(df, t))


def mean_drop(last: Sequence[float], previous: Sequence[float]) -> DropTest | None:
    """One-sided Welch t-test of H1: mean(last) < mean(previous). None with fewer than 2 values a side or no
    variance on either side."""
    n1, n2 = len(last), len(previous)
    if n1 < 2 or n2 < 2:
        return None
    m1, m2 = sum(last) / n1, sum(previous) / n2
    v1 = sum((x - m1) ** 2 for x in last) / (n1 - 1)
    v2 = sum((x - m2) ** 2 for x in previous) / (n2 - 1)
    se2 = v1 / n1 + v2 / n2
    if se2 <= NO_VARIANCE:
        return None
    t = (m1 - m2) / math.sqrt(se2)
    df = se2 * se2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1))
    return DropTest("Welch t-test", t, _student_t_cdf(t, df), m1, m2)


def proportion_point(successes: int, n: int) -> dict[str, float | None]:
    """Accuracy with its Wilson 95% interval."""
    return {**wilson_interval(successes, n).as_dict(), "n": n}


def mean_point(values: Sequence[float]) -> dict[str, float | None]:
    """Mean normalised score with its t 95% interval (the estimate alone for one value)."""
    return {**t_interval(list(values)).as_dict(), "n": len(values)}


def drop_check(kind: str, periods: Sequence[Any], floor: float | None) -> dict[str, Any] | None:
    """Whether the last period alerts, and why: its quality is below `floor`, or it is clearly worse than the
    previous PREVIOUS_PERIODS periods pooled (one-sided, p < ALPHA). `periods` are oldest first: (correct, n)
    per period for labeling, the normalised scores per period for rating. None: no alert."""
    if not periods:
        return None
    last, previous = periods[-1], periods[-1 - PREVIOUS_PERIODS : -1]
    estimate, test = _labeling_drop(last, previous) if kind == "labeling" else _rating_drop(last, previous)
    reasons = []
    if floor is not None and estimate is not None and estimate < floor:
        reasons.append(f"quality {estimate:.3f} is below the floor {floor:.3f}")
    if test is not None and test.p_value < ALPHA:
        reasons.append(
            f"quality fell from {test.previous:.3f} (previous {len(previous)} periods) to {test.last:.3f}: "
            f"{test.test}, one-sided p = {test.p_value:.2g} < {ALPHA}"
        )
    if not reasons:
        return None
    return {"estimate": estimate, "floor": floor, "reasons": reasons, "test": test.as_dict() if test else None}


def _labeling_drop(last: tuple[int, int], previous: Sequence[tuple[int, int]]) -> tuple[float | None, DropTest | None]:
    correct, n = last
    pooled_correct, pooled_n = sum(p[0] for p in previous), sum(p[1] for p in previous)
    return (correct / n if n else None), proportion_drop(correct, n, pooled_correct, pooled_n)


def _rating_drop(last: Sequence[float], previous: Sequence[Sequence[float]]) -> tuple[float | None, DropTest | None]:
    scores = list(last)
    estimate = sum(scores) / len(scores) if scores else None
    return estimate, mean_drop(scores, [s for p in previous for s in p])
