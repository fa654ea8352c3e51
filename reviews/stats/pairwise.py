"""Pairwise comparisons: the candidate's win rate, Bradley–Terry scores with ties (Davidson 1970) and bootstrap
intervals, position bias, and de-blinded choices as nominal categories. Pure numpy."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.lazy import lazy_module
from reviews.stats._arrays import LabelsLike, as_label_array, factorize, unique_rows
from reviews.stats.proportions import Interval, wilson_interval

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray
else:
    np = lazy_module("numpy")

WIN, TIE, LOSS = 1, 0, -1  # a comparison's outcome from the first item's side
PAIRWISE_CATEGORIES = ("candidate", "baseline", "tie", "both_bad")
DENSE_LIMIT = 20_000_000  # cells of the groups × cells table the grouped bootstrap may build


@dataclass(frozen=True)
class PairwiseCounts:
    wins: int = 0
    losses: int = 0
    ties: int = 0
    both_bad: int = 0

    @property
    def total(self) -> int:
        return self.wins + self.losses + self.ties + self.both_bad

    def win_rate(self) -> Interval:
        """Candidate's win rate against the baseline; a tie or 'both bad' counts as half a win."""
        return wilson_interval(self.wins + 0.5 * (self.ties + self.both_bad), self.total)


def pairwise_categories(
    chosen: LabelsLike, candidate: Hashable | LabelsLike, baseline: Hashable | LabelsLike
) -> NDArray[np.int8]:
    """De-blinded choices as codes into PAIRWISE_CATEGORIES (0 candidate, 1 baseline, 2 tie, 3 both_bad).

    `chosen` holds, per judgment, the version preferred, or "tie" / "both_bad". `candidate` and `baseline` are the
    two versions compared: scalars, or one per judgment when a campaign pairs more than two versions (then code 0
    means "the first version of the task's pair"). A choice that is none of these is an error."""
    ch = as_label_array(chosen).astype(object)
    cand = np.broadcast_to(np.asarray(candidate, dtype=object), ch.shape)
    base = np.broadcast_to(np.asarray(baseline, dtype=object), ch.shape)
    codes = np.full(ch.shape, -1, dtype=np.int8)
    codes[ch == base] = 1
    codes[ch == cand] = 0
    codes[ch == "tie"] = 2
    codes[ch == "both_bad"] = 3
    if (codes < 0).any():
        bad = ch[np.argmax(codes < 0)]
        raise ValueError(f"choice {bad!r} is neither version compared nor 'tie' / 'both_bad'")
    return codes


def pairwise_counts(categories: ArrayLike) -> PairwiseCounts:
    """Counts from `pairwise_categories` codes."""
    c = np.bincount(np.asarray(categories, dtype=np.int64), minlength=4)
    return PairwiseCounts(int(c[0]), int(c[1]), int(c[2]), int(c[3]))


@dataclass(frozen=True)
class PositionBias:
    """How often the output shown in slot A won among decisive judgments (0.5 = no bias)."""

    slot_a: int
    slot_b: int
    undecided: int  # ties and 'both bad', left out of the rate
    rate: Interval
    p_value: float | None  # exact two-sided binomial test of rate = 0.5

    def as_dict(self) -> dict[str, Any]:
        return {
            "slot_a": self.slot_a,
            "slot_b": self.slot_b,
            "undecided": self.undecided,
            **self.rate.as_dict(),
            "p_value": self.p_value,
        }


def position_bias(chosen_slots: Sequence[str] | NDArray[Any]) -> PositionBias:
    """`chosen_slots`: per judgment the slot chosen ("A" / "B") or "tie" / "both_bad" (before de-blinding)."""
    slots = as_label_array(chosen_slots)
    a, b = int(np.count_nonzero(slots == "A")), int(np.count_nonzero(slots == "B"))
    p_value: float | None = None
    if a + b:
        from scipy.special import bdtr  # lazy on purpose: scipy loads only when a result needs it (test_layering)

        p_value = 1.0 if a == b else min(1.0, 2.0 * float(bdtr(min(a, b), a + b, 0.5)))
    return PositionBias(a, b, len(slots) - a - b, wilson_interval(a, a + b), p_value)


@dataclass(frozen=True, eq=False)
class BradleyTerryFit:
    """Log-strengths (mean 0 over the items compared; NaN for one never compared) under the Bradley–Terry model
    with Davidson's ties.

    P(i beats j) = πi / (πi + πj + ν√(πiπj)), P(tie) = ν√(πiπj) / (same), with πi = exp(score_i)."""

    items: list[Any]
    scores: NDArray[np.float64]
    low: NDArray[np.float64] | None  # bootstrap percentile interval, None when not computed
    high: NDArray[np.float64] | None
    tie: float  # Davidson's ν: 0 when no comparison tied, inf when none was decisive
    tie_low: float | None
    tie_high: float | None
    comparisons: int
    bootstrap: int  # resamples behind low/high (0: none)
    iterations: int
    converged: bool

    def score(self, item: Hashable) -> float:
        return float(self.scores[self.items.index(item)])

    def probabilities(self, first: Hashable, second: Hashable) -> tuple[float, float, float]:
        """(first wins, tie, second wins) under the fitted model."""
        s1, s2 = self.score(first), self.score(second)
        if math.isinf(self.tie):
            return 0.0, 1.0, 0.0
        tie = self.tie * math.exp((s1 + s2) / 2)
        total = math.exp(s1) + math.exp(s2) + tie
        return math.exp(s1) / total, tie / total, math.exp(s2) / total

    def as_dict(self) -> dict[str, Any]:
        def value(array: NDArray[np.float64] | None, k: int) -> float | None:
            return None if array is None or np.isnan(array[k]) else float(array[k])

        rows = [
            {"item": item, "score": value(self.scores, k), "low": value(self.low, k), "high": value(self.high, k)}
            for k, item in enumerate(self.items)
        ]
        return {
            "scores": rows,
            "tie": self.tie,
            "tie_low": self.tie_low,
            "tie_high": self.tie_high,
            "comparisons": self.comparisons,
            "bootstrap": self.bootstrap,
            "converged": self.converged,
        }


def _scatter(values: NDArray[np.float64], index: NDArray[np.int64], size: int) -> NDArray[np.float64]:
    """Per replicate b: out[b, k] = Σ values[b, j] over j with index[j] == k (one bincount for all replicates)."""
    B = values.shape[0]
    offsets = (np.arange(B)[:, None] * size + index[None, :]).ravel()
    # numpy's stub types bincount as intp whatever the weights; with float weights it returns float64
    return np.bincount(offsets, weights=values.ravel(), minlength=B * size).reshape(B, size)  # type: ignore[return-value]


def _davidson_fit(
    Y: NDArray[np.float64],
    pair_a: NDArray[np.int64],
    pair_b: NDArray[np.int64],
    n_items: int,
    prior: float,
    max_iter: int,
    tol: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], int, NDArray[np.bool_]]:
    """Newton–Raphson on the (concave) penalised Davidson log-likelihood, batched over replicates.

    Each pair is a three-way choice (a wins, b wins, tie) with logits θa, θb and log ν + (θa + θb)/2, so the
    gradient is Σ (observed − expected) of those coordinates and the information n · Cov of them, a 3 × 3 block on
    (a, b, ν) per pair scattered into a (K + 1)² matrix. Y: (B, P, 3) counts per replicate and pair.
    Returns θ (B, K) centred, ν (B,), iterations, converged (B,)."""
    B, K = Y.shape[0], n_items
    D = K + 1
    ties = Y[:, :, 2].sum(axis=1)
    decisive = Y[:, :, :2].sum(axis=(1, 2))
    free_tie = (ties > 0) & (decisive > 0)
    Y = np.where((decisive > 0)[:, None, None], Y, 0.0)  # nothing decisive: ν = inf, scores 0
    n = Y.sum(axis=2)
    params = np.zeros((B, D))
    with np.errstate(divide="ignore"):
        params[:, K] = np.where(free_tie, np.log(2 * ties / np.maximum(decisive, 1)), 0.0)
    lam = np.full(len(pair_a), K)
    flat = np.concatenate(
        [
            pair_a * D + pair_a,
            pair_b * D + pair_b,
            pair_a * D + pair_b,
            pair_b * D + pair_a,
            pair_a * D + lam,
            lam * D + pair_a,
            pair_b * D + lam,
            lam * D + pair_b,
            lam * D + lam,
        ]
    )
    fixed = np.zeros((D, D))
    fixed[:K, :K] = 1.0 / K  # the scores' common shift is free: pin it (the iterate is centred anyway)
    fixed += np.diag(np.r_[np.full(K, prior), 0.0]) + 1e-9 * np.eye(D)

    def logits(p: NDArray[np.float64]) -> NDArray[np.float64]:
        ta, tb = p[:, pair_a], p[:, pair_b]
        tie = np.where(free_tie[:, None], p[:, K:] + (ta + tb) / 2, -np.inf)
        eta = np.stack([ta, tb, tie], axis=2)
        top = eta.max(axis=2, keepdims=True)
        return eta - (top + np.log(np.exp(eta - top).sum(axis=2, keepdims=True)))

    def loglik(p: NDArray[np.float64], logp: NDArray[np.float64]) -> NDArray[np.float64]:
        return (Y * np.where(Y > 0, logp, 0.0)).sum(axis=(1, 2)) - 0.5 * prior * (p[:, :K] ** 2).sum(axis=1)

    logp = logits(params)
    ll = loglik(params, logp)
    converged = np.zeros(B, dtype=bool)
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 -- the count is returned after the loop
        prob = np.exp(logp)
        pa, pb, pt = prob[:, :, 0], prob[:, :, 1], prob[:, :, 2]
        r = Y - n[:, :, None] * prob
        grad = np.zeros((B, D))
        grad[:, :K] = (
            _scatter(r[:, :, 0] + r[:, :, 2] / 2, pair_a, K)
            + _scatter(r[:, :, 1] + r[:, :, 2] / 2, pair_b, K)
            - prior * params[:, :K]
        )
        grad[:, K] = np.where(free_tie, r[:, :, 2].sum(axis=1), 0.0)
        ea, eb = pa + pt / 2, pb + pt / 2
        aa, bb, ab = n * (pa + pt / 4 - ea * ea), n * (pb + pt / 4 - eb * eb), n * (pt / 4 - ea * eb)
        at, bt, tt = n * (pt / 2 - ea * pt), n * (pt / 2 - eb * pt), n * (pt - pt * pt)
        info = _scatter(np.concatenate([aa, bb, ab, ab, at, at, bt, bt, tt], axis=1), flat, D * D).reshape(B, D, D)
        info += fixed
        info[~free_tie, K, :] = 0.0
        info[~free_tie, :, K] = 0.0
        info[~free_tie, K, K] = 1.0
        step = np.linalg.solve(info, grad[:, :, None])[:, :, 0]
        step[converged] = 0.0
        size = np.ones(B)
        for _ in range(40):  # backtracking: never accept a step that lowers the likelihood
            trial = params + size[:, None] * step
            trial[:, :K] -= trial[:, :K].mean(axis=1, keepdims=True)
            trial_logp = logits(trial)
            trial_ll = loglik(trial, trial_logp)
            worse = ~(trial_ll >= ll - 1e-12 * np.abs(ll))
            if not worse.any():
                break
            size = np.where(worse, size / 2, size)
        moved = np.abs(size[:, None] * step).max(axis=1)
        params, logp, ll = trial, trial_logp, trial_ll
        converged |= moved < tol
        if converged.all():
            break
    nu = np.where(free_tie, np.exp(params[:, K]), np.where(decisive > 0, 0.0, np.inf))
    return params[:, :K], nu, iterations, converged


def _bootstrap_counts(
    cells: NDArray[np.int64], n_cells: int, groups: LabelsLike | None, resamples: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    """Cell counts of `resamples` bootstrap replicates, resampling judgments (or whole `groups`) with replacement.

    Identical judgments (same cells) are collapsed into patterns first, so one replicate is one multinomial draw
    over patterns; this equals resampling rows and needs no per-row work per replicate."""
    if groups is None:
        counts = np.bincount(cells, minlength=n_cells)
        keep = np.flatnonzero(counts)
        patterns, weights = np.eye(n_cells, dtype=np.int64)[keep], counts[keep]
    else:
        _, g = factorize(groups)
        G = int(g.max()) + 1 if len(g) else 0
        if G * n_cells > DENSE_LIMIT:  # too many for a dense groups × cells table: resample group by group
            out = np.empty((resamples, n_cells), dtype=np.int64)
            for r in range(resamples):
                weight = np.bincount(rng.integers(0, G, G), minlength=G)
                out[r] = np.bincount(cells, weights=weight[g], minlength=n_cells)
            return out
        per_group = np.bincount(g * n_cells + cells, minlength=G * n_cells).reshape(G, n_cells)
        first, _, weights = unique_rows(per_group)
        patterns = per_group[first]
    total = int(weights.sum())
    draws = rng.multinomial(total, weights / total, size=resamples)
    return draws @ patterns


def bradley_terry(
    first: LabelsLike,
    second: LabelsLike,
    outcome: ArrayLike,
    *,
    items: Sequence[Hashable] | None = None,
    groups: LabelsLike | None = None,
    prior: float = 0.01,
    bootstrap: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> BradleyTerryFit:
    """Bradley–Terry scores with ties by Davidson's method, fitted by Newton–Raphson on a comparisons table.

    first, second: the two items of each comparison (any labels, e.g. model version ids); outcome: WIN (1) when
    `first` was preferred, LOSS (-1) when `second` was, TIE (0). A 'both bad' is the caller's to map (tie or drop).
    items: the labels to report, in order (default: those present, sorted). groups: the judgment of each comparison
    when one judgment yields several (a ranking read as pairs); the bootstrap then resamples whole judgments.
    prior: L2 penalty prior/2·Σscore² (a Gaussian prior with variance 1/prior), which keeps scores finite when one
    item wins every comparison; 0 gives the maximum-likelihood fit (choix.opt_pairwise's alpha is prior/2).
    bootstrap: percentile-interval resamples (seeded), computed only when more than two items are compared;
    with two, the win rate's Wilson interval says the same more directly."""
    first, second = as_label_array(first), as_label_array(second)
    outcome = np.asarray(outcome, dtype=np.int64).ravel()
    if not (len(first) == len(second) == len(outcome)):
        raise ValueError("first, second and outcome must have one entry per comparison")
    if np.isin(outcome, (WIN, TIE, LOSS), invert=True).any():
        raise ValueError("outcome must be 1 (first wins), 0 (tie) or -1 (second wins)")
    if groups is not None and len(as_label_array(groups)) != len(first):
        raise ValueError("groups must have one entry per comparison")
    labels, codes = factorize(np.concatenate([first, second]), items)
    N = len(first)
    scores = np.full(len(labels), np.nan)  # NaN for an item in `items` that was never compared
    if N == 0:
        return BradleyTerryFit(labels, scores, None, None, math.nan, None, None, 0, 0, 0, True)
    present = np.flatnonzero(np.bincount(codes, minlength=len(labels)))
    local = np.full(len(labels), -1, dtype=np.int64)
    local[present] = np.arange(len(present))
    K = len(present)
    i, j = local[codes[:N]], local[codes[N:]]
    if (i == j).any():
        raise ValueError("an item cannot be compared with itself")
    a, b = np.minimum(i, j), np.maximum(i, j)
    result = np.where(i == a, outcome, -outcome)  # from a's side
    pair_keys, pair = np.unique(a * K + b, return_inverse=True)
    pair_a, pair_b = pair_keys // K, pair_keys % K
    cells = pair.ravel() * 3 + np.select([result == WIN, result == LOSS], [0, 1], 2)
    n_cells = 3 * len(pair_keys)
    Y = np.bincount(cells, minlength=n_cells).reshape(1, -1, 3).astype(float)
    theta, nu, iterations, converged = _davidson_fit(Y, pair_a, pair_b, K, prior, max_iter, tol)
    scores[present] = theta[0]
    low = high = None
    tie_low = tie_high = None
    resamples = bootstrap if bootstrap > 0 and K > 2 else 0
    if resamples:
        rng = np.random.default_rng(seed)
        Yb = _bootstrap_counts(cells, n_cells, groups, resamples, rng).reshape(resamples, -1, 3).astype(float)
        theta_b, nu_b, _, _ = _davidson_fit(Yb, pair_a, pair_b, K, prior, max_iter, max(tol, 1e-8))
        tail = (1 - confidence) / 2
        low, high = np.full(len(labels), np.nan), np.full(len(labels), np.nan)
        low[present], high[present] = np.quantile(theta_b, [tail, 1 - tail], axis=0)
        tie_low, tie_high = (float(v) for v in np.quantile(nu_b, [tail, 1 - tail], method="inverted_cdf"))
    return BradleyTerryFit(
        labels, scores, low, high, float(nu[0]), tie_low, tie_high, N, resamples, iterations, bool(converged[0])
    )
