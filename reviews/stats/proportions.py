"""Shares and means with 95% intervals: Wilson for proportions, normal and t intervals for means, paired and
Welch intervals for a difference of means. Pure (numpy; scipy.special imported lazily for t quantiles)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray
else:
    np = lazy_module("numpy")

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    estimate: float | None
    low: float | None
    high: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


def wilson_interval(successes: float, n: float, z: float = Z_95) -> Interval:
    """Wilson score interval for a proportion; `successes` may be fractional (ties count as half)."""
    if n <= 0:
        return Interval(None, None, None)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At p = 0 or p = 1 the bound is exactly 0 or 1; rounding would otherwise leave it a hair inside,
    # and a gate with min_win_rate 1.0 would 'fail' a candidate that won every judgment.
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return Interval(p, low, high)


def wilson_bounds(
    successes: ArrayLike, n: ArrayLike, z: float = Z_95
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """`wilson_interval` elementwise over arrays: (estimate, low, high), NaN where n is 0."""
    successes = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = successes / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        low = np.where(successes <= 0, 0.0, np.maximum(0.0, centre - half))
        high = np.where(successes >= n, 1.0, np.minimum(1.0, centre + half))
    empty = n <= 0
    return np.where(empty, np.nan, p), np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def mean_interval(values: list[float]) -> dict[str, float]:
    """Mean with a normal-approximation 95% interval (what `mean_ranks` and `rating_summary` report)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return {"mean": mean, "low": mean, "high": mean, "n": n}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = Z_95 * sd / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n}


def _t_quantile(df: float, confidence: float) -> float:
    from scipy.special import stdtrit  # lazy on purpose: scipy loads only when a result needs it (test_layering)

    return float(stdtrit(df, 0.5 + confidence / 2))


def t_interval(values: ArrayLike, confidence: float = 0.95) -> Interval:
    """Mean ± t(n-1) · sd / √n. Fewer than two values: the mean without bounds."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return Interval(None, None, None)
    mean = float(x.mean())
    if x.size < 2:
        return Interval(mean, None, None)
    half = _t_quantile(x.size - 1, confidence) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return Interval(mean, mean - half, mean + half)


@dataclass(frozen=True)
class Difference:
    """Candidate minus baseline with a confidence interval, and how it was computed."""

    estimate: float | None
    low: float | None
    high: float | None
    method: str | None  # "paired" | "welch" | None (not enough data)
    n_candidate: int
    n_baseline: int
    df: float | None = None

    def as_dict(self) -> dict[str, float | str | int | None]:
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "method": self.method,
            "n_candidate": self.n_candidate,
            "n_baseline": self.n_baseline,
            "df": self.df,
        }


def paired_difference(candidate: ArrayLike, baseline: ArrayLike, confidence: float = 0.95) -> Difference:
    """Mean of the per-judgment differences with a t interval (the two arrays are aligned by judgment)."""
    c, b = np.asarray(candidate, dtype=float), np.asarray(baseline, dtype=float)
    if c.shape != b.shape:
        raise ValueError("paired values must be aligned: one candidate and one baseline value per judgment")
    t = t_interval(c - b, confidence)
    return Difference(
        t.estimate,
        t.low,
        t.high,
        "paired" if t.low is not None else None,
        c.size,
        b.size,
        float(c.size - 1) if c.size >= 2 else None,
    )


def welch_difference(candidate: ArrayLike, baseline: ArrayLike, confidence: float = 0.95) -> Difference:
    """Difference of means with Welch's unequal-variance t interval (independent samples)."""
    c, b = np.asarray(candidate, dtype=float), np.asarray(baseline, dtype=float)
    if c.size == 0 or b.size == 0:
        return Difference(None, None, None, None, c.size, b.size)
    estimate = float(c.mean() - b.mean())
    if c.size < 2 or b.size < 2:
        return Difference(estimate, None, None, None, c.size, b.size)
    vc, vb = c.var(ddof=1) / c.size, b.var(ddof=1) / b.size
    se2 = vc + vb
    if se2 == 0:
        return Difference(estimate, estimate, estimate, "welch", c.size, b.size, None)
    df = se2 * se2 / (vc * vc / (c.size - 1) + vb * vb / (b.size - 1))
    half = _t_quantile(df, confidence) * math.sqrt(se2)
    return Difference(estimate, estimate - half, estimate + half, "welch", c.size, b.size, float(df))


def implied_win_rate(changed_rate: Interval, *, changed: int, identical: int) -> Interval:
    """A diff-first campaign's win rate over all items, its identical outputs counted as ties: the map
    w -> (w·c + ½·i) / (c + i) applied to the win rate on changed items and to both ends of its interval.

    Why scaling the interval is right: c and i are counted over the whole dataset version, not sampled, and an
    identical pair can only be judged a tie (both sides show the same output), so the implied rate is a fixed,
    increasing affine function of the changed-items rate; an interval that covers w with 95 % probability maps to
    one that covers the implied rate with the same probability, and is c/(c+i) as wide. (Pretending the identical
    items were judged, a Wilson interval on c+i outcomes, would add sampling noise to values that are known.)"""
    total = changed + identical
    if total <= 0 or changed_rate.estimate is None:
        return Interval(None, None, None)

    def scaled(w: float | None) -> float | None:
        return None if w is None else (w * changed + 0.5 * identical) / total

    return Interval(scaled(changed_rate.estimate), scaled(changed_rate.low), scaled(changed_rate.high))
