"""Agreement between experts, over a reliability matrix (reviewers × units, NaN where a reviewer did not judge
a unit): Krippendorff's alpha, Cohen's kappa per pair of reviewers, each reviewer's agreement with the
consensus of the others, and outlier flags. Pure numpy, vectorised with bincount."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.lazy import lazy_module
from reviews.stats._arrays import LabelsLike, as_label_array, distinct_count, factorize
from reviews.stats.proportions import wilson_bounds

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray
else:
    np = lazy_module("numpy")

LEVELS = ("nominal", "ordinal", "interval", "ratio")


@dataclass(frozen=True, eq=False)
class ReliabilityData:
    matrix: NDArray[np.float64]  # reviewers × units, float, NaN = not judged
    reviewers: list[Any]
    units: list[Any]
    categories: list[Any] | None  # for non-numeric values: categories[int(code)] is the value a code stands for


def reliability_matrix(
    reviewers: LabelsLike,
    units: LabelsLike,
    values: LabelsLike,
    *,
    reviewer_labels: Iterable[Hashable] | None = None,
    unit_labels: Iterable[Hashable] | None = None,
) -> ReliabilityData:
    """From one row per judgment (who, which unit, what value) to the reviewers × units matrix. Numeric values are
    kept (so ordinal and interval levels see them); anything else (strings, `pairwise_categories` names) becomes
    category codes. A reviewer judging a unit twice is an error."""
    reviewer_names, r = factorize(reviewers, reviewer_labels)
    unit_names, u = factorize(units, unit_labels)
    given = as_label_array(values)
    if not (len(r) == len(u) == len(given)):
        raise ValueError("reviewers, units and values must have one entry per judgment")
    categories = None
    if given.dtype.kind in "iufb":
        numeric = given.astype(float)
    else:
        categories, codes = factorize(given)
        numeric = codes.astype(float)
    R, U = len(reviewer_names), len(unit_names)
    cell = r * U + u
    if distinct_count(cell) != len(cell):
        raise ValueError("a reviewer judged the same unit twice")
    matrix = np.full((R, U), np.nan)
    matrix[r, u] = numeric
    return ReliabilityData(matrix, reviewer_names, unit_names, categories)


def _codes(matrix: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """(domain of observed values sorted, integer codes with -1 where missing)."""
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2:
        raise ValueError("expected a 2-D reliability matrix (reviewers × units)")
    seen = ~np.isnan(m)
    domain, inverse = np.unique(m[seen], return_inverse=True)
    codes = np.full(m.shape, -1, dtype=np.int64)
    codes[seen] = inverse
    return domain, codes


def coincidence_matrix(matrix: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Krippendorff's coincidence matrix o (values × values) over pairable units, and the value domain.

    o_ck = Σ_u (n_uc · n_uk − [c = k] · n_uc) / (m_u − 1), with n_uc the reviewers giving value c to unit u and m_u
    the values unit u received (units with fewer than two are not pairable). One bincount builds n_uc for every
    unit; o is then one matrix product (in chunks of units when the value domain is large)."""
    domain, codes = _codes(matrix)
    V, U = len(domain), codes.shape[1]
    r_idx, u_idx = np.nonzero(codes >= 0)
    values = codes[r_idx, u_idx]
    m_u = np.bincount(u_idx, minlength=U)
    with np.errstate(divide="ignore"):
        weight = np.where(m_u >= 2, 1.0 / (m_u - 1), 0.0)
    o = np.zeros((V, V))
    chunk = max(1, 20_000_000 // max(V, 1))  # bounded memory for large value domains
    for start in range(0, U, chunk):
        stop = min(U, start + chunk)
        if start == 0 and stop == U:
            uu, vv = u_idx, values
        else:
            inside = (u_idx >= start) & (u_idx < stop)
            uu, vv = u_idx[inside] - start, values[inside]
        counts = np.bincount(uu * V + vv, minlength=(stop - start) * V).reshape(stop - start, V).astype(float)
        scaled = counts * weight[start:stop, None]
        o += scaled.T @ counts - np.diag(scaled.sum(axis=0))
    return o, domain


def _distances(level: str, domain: NDArray[np.float64], n_c: NDArray[np.float64]) -> NDArray[np.float64]:
    """Squared difference δ²(c, k) for the level of measurement (Krippendorff 2011, section E)."""
    if level == "nominal":
        return 1.0 - np.eye(len(domain))
    if level == "interval":
        return (domain[:, None] - domain[None, :]) ** 2
    if level == "ratio":
        total = domain[:, None] + domain[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total == 0, 0.0, ((domain[:, None] - domain[None, :]) / total) ** 2)
    if level == "ordinal":
        cumulative = np.cumsum(n_c)
        lo = np.minimum.outer(np.arange(len(domain)), np.arange(len(domain)))
        hi = np.maximum.outer(np.arange(len(domain)), np.arange(len(domain)))
        between = cumulative[hi] - cumulative[lo] + n_c[lo]  # Σ_{g=c}^{k} n_g
        return (between - (n_c[:, None] + n_c[None, :]) / 2) ** 2
    raise ValueError(f"level must be one of {', '.join(LEVELS)}")


def krippendorff_alpha(matrix: ArrayLike, level: str = "nominal") -> float | None:
    """Krippendorff's alpha, α = 1 − (n − 1) Σ o_ck δ²_ck / Σ n_c n_k δ²_ck, by the coincidence-matrix method
    (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"). None when undefined: no pairable values,
    or no variation at all (every value the same)."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    o, domain = coincidence_matrix(matrix)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if n <= 1:
        return None
    delta = _distances(level, domain, n_c)
    expected = (np.outer(n_c, n_c) * delta).sum()
    if expected <= 0:
        return None
    return float(1.0 - (n - 1) * (o * delta).sum() / expected)


@dataclass(frozen=True, eq=False)
class KappaTable:
    reviewers: list[Any]
    kappa: NDArray[
        np.float64
    ]  # reviewers × reviewers, symmetric; NaN where undefined or fewer than min_units in common
    n: NDArray[np.int64]  # units both reviewers judged

    def pairs(self) -> list[dict[str, Any]]:
        """One row per pair of reviewers with units in common, kappa None where undefined."""
        rows = []
        R = len(self.reviewers)
        for a in range(R):
            for b in range(a + 1, R):
                if self.n[a, b]:
                    k = self.kappa[a, b]
                    rows.append(
                        {
                            "a": self.reviewers[a],
                            "b": self.reviewers[b],
                            "n": int(self.n[a, b]),
                            "kappa": None if np.isnan(k) else float(k),
                        }
                    )
        return rows


def _co_ratings(codes: NDArray[np.int64], V: int) -> NDArray[np.int64]:
    """joint[a, b, c, k]: units where reviewer a gave value c and reviewer b gave value k.

    Walks the judgments sorted by unit and pairs each with the ones d places later in the same unit, for
    d = 1 .. (most reviewers on one unit) - 1: work proportional to judgments × overlap, not units × reviewers²."""
    R = codes.shape[0]
    u_idx, r_idx = np.nonzero(codes.T >= 0)  # sorted by unit
    values = codes[r_idx, u_idx]
    size = R * R * V * V
    joint = np.zeros(size, dtype=np.int64)
    most = int(np.bincount(u_idx).max()) if len(u_idx) else 0
    for d in range(1, most):
        i = np.flatnonzero(u_idx[d:] == u_idx[:-d])
        j = i + d
        a, b, ca, cb = r_idx[i], r_idx[j], values[i], values[j]
        joint += np.bincount(((a * R + b) * V + ca) * V + cb, minlength=size)
        joint += np.bincount(((b * R + a) * V + cb) * V + ca, minlength=size)
    return joint.reshape(R, R, V, V)


def cohen_kappa_pairs(
    matrix: ArrayLike, *, reviewers: Sequence[Any] | None = None, weights: str | None = None, min_units: int = 1
) -> KappaTable:
    """Cohen's kappa for every pair of reviewers over the units both judged.

    weights: None (nominal), "linear" or "quadratic" (weighted kappa for ordinal values; the distance is the
    difference of the values' places in the sorted domain of the whole matrix, like sklearn's with labels=domain)."""
    domain, codes = _codes(matrix)
    R = codes.shape[0]
    V = max(len(domain), 1)
    if reviewers is None:
        reviewers = list(range(R))
    joint = _co_ratings(codes, V).astype(float)
    n = joint.sum(axis=(2, 3))
    place = np.arange(V, dtype=float)
    if weights is None:
        w = 1.0 - np.eye(V)
    elif weights == "linear":
        w = np.abs(place[:, None] - place[None, :])
    elif weights == "quadratic":
        w = (place[:, None] - place[None, :]) ** 2
    else:
        raise ValueError("weights must be None, 'linear' or 'quadratic'")
    rows, cols = joint.sum(axis=3), joint.sum(axis=2)  # [a, b, c]
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.einsum("abc,abk,ck->ab", rows, cols, w) / n
        observed = np.einsum("abck,ck->ab", joint, w)
        kappa = 1.0 - observed / expected
    kappa[(n < max(min_units, 1)) | ~(expected > 0)] = np.nan
    np.fill_diagonal(kappa, np.nan)
    return KappaTable(list(reviewers), kappa, n.astype(np.int64))


@dataclass(frozen=True, eq=False)
class ConsensusAgreement:
    """Per reviewer: on how many units they matched the plurality of the other reviewers."""

    reviewers: list[Any]
    agreed: NDArray[np.int64]
    units: NDArray[np.int64]  # units with at least one other reviewer and a single most common answer among them
    tied: NDArray[np.int64]  # units left out because the other reviewers' top answers tied
    share: NDArray[np.float64]  # agreed / units, NaN with no units
    low: NDArray[np.float64]  # Wilson 95% interval of the share
    high: NDArray[np.float64]

    def rows(self) -> list[dict[str, Any]]:
        def value(x: float) -> float | None:
            return None if np.isnan(x) else float(x)

        return [
            {
                "reviewer": r,
                "agreed": int(self.agreed[k]),
                "units": int(self.units[k]),
                "tied": int(self.tied[k]),
                "share": value(self.share[k]),
                "low": value(self.low[k]),
                "high": value(self.high[k]),
            }
            for k, r in enumerate(self.reviewers)
        ]


def consensus_agreement(matrix: ArrayLike, *, reviewers: Sequence[Any] | None = None) -> ConsensusAgreement:
    """Each reviewer's share of units where their answer equals the most common answer of the OTHER reviewers of
    the unit (nominal). A unit where the others' top answers tie, or no one else judged it, is left out."""
    domain, codes = _codes(matrix)
    R, U = codes.shape
    V = max(len(domain), 1)
    if reviewers is None:
        reviewers = list(range(R))
    r_idx, u_idx = np.nonzero(codes >= 0)
    values = codes[r_idx, u_idx]
    counts = np.bincount(u_idx * V + values, minlength=U * V).reshape(U, V)
    # Per unit the largest count t1, how many answers reach it (c1) and the next count down (s2, 0 if none):
    # enough to know the others' top answer once the reviewer's own answer is taken out, without an N × V array.
    ranked = np.sort(counts, axis=1)
    t1 = ranked[:, -1]
    c1 = (counts == t1[:, None]).sum(axis=1)
    s2 = ranked[:, -2] if V > 1 else np.zeros(U, dtype=counts.dtype)
    own, top, ties, second = counts[u_idx, values], t1[u_idx], c1[u_idx], s2[u_idx]
    is_top = own == top
    # the reviewer's answer was the unique top: it stays the others' top if it still beats the runner-up
    alone = is_top & (ties == 1)
    others_top = np.where(alone, np.maximum(top - 1, second), top)
    n_top = np.where(alone, np.where(top - 1 > second, 1, 2), np.where(is_top, ties - 1, ties))
    judged = others_top > 0
    decided = judged & (n_top == 1)
    match = decided & alone & (top - 1 > second)
    units = np.bincount(r_idx, weights=decided, minlength=R)
    agreed = np.bincount(r_idx, weights=match, minlength=R)
    tied = np.bincount(r_idx, weights=judged & ~decided, minlength=R)
    share, low, high = wilson_bounds(agreed, units)
    return ConsensusAgreement(
        list(reviewers), agreed.astype(np.int64), units.astype(np.int64), tied.astype(np.int64), share, low, high
    )


@dataclass(frozen=True)
class OutlierReport:
    median: float | None
    mad: float | None
    threshold: float | None  # median − mads · MAD (None with fewer than three eligible reviewers)
    floor: float | None
    min_units: int
    flagged: list[dict[str, Any]] = field(default_factory=list)  # {"reviewer", "share", "units", "reasons"}
    too_few_units: list[Any] = field(default_factory=list)  # reviewers not assessed

    def as_dict(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "mad": self.mad,
            "threshold": self.threshold,
            "floor": self.floor,
            "min_units": self.min_units,
            "flagged": self.flagged,
            "too_few_units": self.too_few_units,
        }


def flag_outliers(
    agreement: ConsensusAgreement,
    *,
    floor: float | None = None,
    min_units: int = 20,
    mads: float = 2.0,
    mad_scale: float = 1.0,
) -> OutlierReport:
    """Reviewers with at least `min_units` assessed units whose agreement with the consensus is below the median
    minus `mads` MAD (median absolute deviation over those reviewers, times `mad_scale`; needs three of them), or
    below `floor`. The raw MAD is small when reviewers are alike, so the rule can flag an honest reviewer whose
    share is only noise away; mad_scale=1.4826 makes the MAD estimate a standard deviation, and a floor guards the
    other side. With a MAD of 0 any share below the median is flagged."""
    eligible = agreement.units >= min_units
    shares = agreement.share[eligible]
    median = mad = threshold = None
    if eligible.sum() >= 3:
        median = float(np.median(shares))
        mad = float(np.median(np.abs(shares - median))) * mad_scale
        threshold = median - mads * mad
    flagged: list[dict[str, Any]] = []
    for k in np.flatnonzero(eligible):
        share = float(agreement.share[k])
        reasons: list[str] = []
        if threshold is not None and share < threshold:
            reasons.append(f"below the median minus {mads:g} MAD ({threshold:.3f})")
        if floor is not None and share < floor:
            reasons.append(f"below the floor ({floor:.3f})")
        if reasons:
            flagged.append(
                {
                    "reviewer": agreement.reviewers[k],
                    "share": share,
                    "units": int(agreement.units[k]),
                    "reasons": reasons,
                }
            )
    too_few = [agreement.reviewers[k] for k in np.flatnonzero(~eligible)]
    return OutlierReport(median, mad, threshold, floor, min_units, flagged, too_few)
