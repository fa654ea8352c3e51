"""Rankings: positions and mean ranks, a ranking read as pairwise comparisons, and Plackett–Luce scores (MM,
Hunter 2004) with ties broken into every order, averaged. Pure numpy."""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.lazy import lazy_module
from reviews.stats._arrays import as_label_array, unique_rows
from reviews.stats.pairwise import LOSS, TIE, WIN, PairwiseCounts
from reviews.stats.proportions import Z_95, mean_interval

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray
else:
    np = lazy_module("numpy")


def ranking_positions(ranking: list[list[int]]) -> dict[int, float]:
    """1-based rank of each version in one ranking; tied versions share the mean of the places they span."""
    positions: dict[int, float] = {}
    place = 1
    for group in ranking:
        shared = place + (len(group) - 1) / 2
        for version in group:
            positions[version] = shared
        place += len(group)
    return positions


def pairwise_from_rankings(rankings: list[list[list[int]]], candidate: int, opponents: list[int]) -> PairwiseCounts:
    """Each ranking read as one comparison of the candidate with each opponent: above wins, level ties."""
    wins = losses = ties = 0
    for ranking in rankings:
        positions = ranking_positions(ranking)
        for opponent in opponents:
            if candidate not in positions or opponent not in positions:
                continue
            if positions[candidate] < positions[opponent]:
                wins += 1
            elif positions[candidate] > positions[opponent]:
                losses += 1
            else:
                ties += 1
    return PairwiseCounts(wins, losses, ties)


def mean_ranks(rankings: list[list[list[int]]]) -> dict[int, dict[str, float]]:
    """Mean rank per version with a normal-approximation 95% interval."""
    by_version: dict[int, list[float]] = {}
    for ranking in rankings:
        for version, position in ranking_positions(ranking).items():
            by_version.setdefault(version, []).append(position)
    return {version: mean_interval(values) for version, values in by_version.items()}


def rank_matrix(
    rankings: list[list[list[Any]]], items: Sequence[Hashable] | None = None
) -> tuple[NDArray[np.float64], list[Any]]:
    """Rankings (each a list of tied groups, best first) as a judgments × items array of positions as in
    `ranking_positions` (tied items share the mean place), NaN where an item was not ranked. Returns (ranks, items);
    items default to every item ranked, sorted. Identical rankings are laid out once (a campaign has few)."""
    patterns: dict[tuple[tuple[Any, ...], ...], int] = {}
    which = [patterns.setdefault(tuple(map(tuple, ranking)), len(patterns)) for ranking in rankings]
    if items is None:
        items = sorted({v for pattern in patterns for group in pattern for v in group})
    index = {item: k for k, item in enumerate(items)}
    rows = np.full((len(patterns), len(items)), np.nan)
    for k, pattern in enumerate(patterns):
        place = 1
        for group in pattern:
            shared = place + (len(group) - 1) / 2
            for version in group:
                rows[k, index[version]] = shared
            place += len(group)
    return rows[np.asarray(which, dtype=np.int64)] if which else np.full((0, len(items)), np.nan), list(items)


def mean_rank_intervals(ranks: ArrayLike, items: Sequence[Hashable]) -> dict[Any, dict[str, float]]:
    """`mean_ranks` over a `rank_matrix`: per item the mean position with a normal-approximation 95% interval."""
    ranks = np.asarray(ranks, dtype=np.float64)
    n = np.count_nonzero(~np.isnan(ranks), axis=0)
    out: dict[Any, dict[str, float]] = {}
    for k, item in enumerate(items):
        if n[k] == 0:
            continue
        column = ranks[~np.isnan(ranks[:, k]), k]
        mean = float(column.mean())
        half = Z_95 * float(column.std(ddof=1)) / math.sqrt(n[k]) if n[k] >= 2 else 0.0
        out[item] = {"mean": mean, "low": mean - half, "high": mean + half, "n": int(n[k])}
    return out


def comparisons_from_ranks(
    ranks: ArrayLike, items: Sequence[Hashable] | None = None
) -> tuple[NDArray[Any], NDArray[Any], NDArray[np.int64], NDArray[np.int64]]:
    """Every ranking read as all its pairwise comparisons, for `bradley_terry(..., groups=group)`.

    Returns (first, second, outcome, group): item labels (column indices when `items` is None), WIN / LOSS / TIE
    from `first`'s side (a lower position wins), and the ranking (row) each comparison came from."""
    ranks = np.asarray(ranks, dtype=np.float64)
    firsts: list[NDArray[np.int64]] = []
    seconds: list[NDArray[np.int64]] = []
    outcomes: list[NDArray[np.int64]] = []
    groups: list[NDArray[np.int64]] = []
    for a, b in itertools.combinations(range(ranks.shape[1]), 2):
        rows = np.flatnonzero(~np.isnan(ranks[:, a]) & ~np.isnan(ranks[:, b]))
        diff = ranks[rows, b] - ranks[rows, a]
        firsts.append(np.full(len(rows), a, dtype=np.int64))
        seconds.append(np.full(len(rows), b, dtype=np.int64))
        outcomes.append(np.select([diff > 0, diff < 0], [WIN, LOSS], TIE))
        groups.append(rows)
    first, second, outcome, group = (
        np.concatenate(x) if x else np.zeros(0, dtype=np.int64) for x in (firsts, seconds, outcomes, groups)
    )
    if items is not None:
        labels = as_label_array(items)
        return labels[first], labels[second], outcome, group
    return first, second, outcome, group


@dataclass(frozen=True, eq=False)
class PlackettLuceFit:
    """Log-strengths (mean 0 over the items ranked) under Plackett–Luce: the best of a set S is i with probability
    exp(score_i) / Σ_{j∈S} exp(score_j). NaN for an item never ranked with another."""

    items: list[Any]
    scores: NDArray[np.float64]
    low: NDArray[np.float64] | None
    high: NDArray[np.float64] | None
    rankings: int
    bootstrap: int
    iterations: int
    converged: bool

    def score(self, item: Hashable) -> float:
        return float(self.scores[self.items.index(item)])

    def as_dict(self) -> dict[str, Any]:
        def value(array: NDArray[np.float64] | None, k: int) -> float | None:
            return None if array is None or np.isnan(array[k]) else float(array[k])

        return {
            "scores": [
                {"item": item, "score": value(self.scores, k), "low": value(self.low, k), "high": value(self.high, k)}
                for k, item in enumerate(self.items)
            ],
            "rankings": self.rankings,
            "bootstrap": self.bootstrap,
            "converged": self.converged,
        }


def _linear_extensions(
    ranks: NDArray[np.float64], max_tied: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.intp]]:
    """Distinct rankings (ties as equal positions) expanded into every strict order their ties allow, each weighted
    1 / (number of orders). Returns (orders (E × L, -1 padded), lengths, pattern of each order, its weight,
    pattern counts)."""
    codes = np.where(np.isnan(ranks), -1.0, ranks)
    first, _, counts = unique_rows(codes)
    patterns = codes[first]
    orders: list[list[int]] = []
    owner: list[int] = []
    weight: list[float] = []
    for u, row in enumerate(patterns):
        present = np.flatnonzero(row >= 0)
        if len(present) < 2:
            continue
        by_place = present[np.argsort(row[present], kind="stable")]
        places = row[by_place]
        groups = np.split(by_place, np.flatnonzero(np.diff(places)) + 1)
        if max(len(g) for g in groups) > max_tied:
            raise ValueError(f"a tie of more than {max_tied} items: too many orders to average over")
        n_orders = math.prod(math.factorial(len(g)) for g in groups)
        for combo in itertools.product(*(itertools.permutations(g.tolist()) for g in groups)):
            orders.append([k for g in combo for k in g])
            owner.append(u)
            weight.append(1.0 / n_orders)
    L = max((len(o) for o in orders), default=0)
    table = np.full((len(orders), L), -1, dtype=np.int64)
    lengths = np.array([len(o) for o in orders], dtype=np.int64)
    for e, o in enumerate(orders):
        table[e, : len(o)] = o
    return table, lengths, np.array(owner, dtype=np.int64), np.array(weight), counts


def _pl_mm(
    weights: NDArray[np.float64],
    orders: NDArray[np.int64],
    lengths: NDArray[np.int64],
    K: int,
    prior: float,
    max_iter: int,
    tol: float,
) -> tuple[NDArray[np.float64], int, NDArray[np.bool_]]:
    """Hunter's MM for Plackett–Luce, batched over replicates: γ_i ← (w_i + prior) / (Σ 1/S + prior), with γ
    rescaled to mean 1 before each update (as choix.mm_rankings does, so a prior > 0 means the same as its alpha).

    weights: (B, E) weight of each strict order per replicate. Returns log γ (B, K) centred, iterations, converged."""
    B, (E, L) = weights.shape[0], orders.shape
    positions = np.arange(L)
    stage = positions[None, :] < (lengths - 1)[:, None]  # a choice is made at this position
    in_order = positions[None, :] < lengths[:, None]
    onehot = np.zeros((E, L, K))
    e_idx, l_idx = np.nonzero(in_order)
    onehot[e_idx, l_idx, orders[e_idx, l_idx]] = 1.0
    wins = weights @ (onehot * stage[:, :, None]).sum(axis=1)  # (B, K)
    safe = np.where(in_order, orders, K)
    flat_onehot = onehot.reshape(E * L, K)
    log_gamma = np.zeros((B, K))
    converged = np.zeros(B, dtype=bool)
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 -- the count is returned after the loop
        gamma = np.exp(log_gamma)
        gamma *= K / gamma.sum(axis=1, keepdims=True)
        gamma = np.concatenate([gamma, np.zeros((B, 1))], axis=1)
        strengths = gamma[:, safe]  # (B, E, L)
        remaining = np.cumsum(strengths[:, :, ::-1], axis=2)[:, :, ::-1]
        with np.errstate(divide="ignore"):
            inverse = np.where(stage, 1.0 / remaining, 0.0)
        reach = np.cumsum(inverse, axis=2) * in_order
        denominators = ((weights[:, :, None] * reach).reshape(B, E * L)) @ flat_onehot
        with np.errstate(divide="ignore", invalid="ignore"):
            new = np.log((wins + prior) / (denominators + prior))
        # an item that never wins (possible only with prior 0) has no finite maximum-likelihood score
        unbounded = ~(np.abs(new) < 700.0).all(axis=1)
        new = np.clip(new, -700.0, 700.0)
        new -= new.mean(axis=1, keepdims=True)
        change = np.abs(new - log_gamma).sum(axis=1)
        log_gamma = np.where(converged[:, None], log_gamma, new)
        converged |= (change <= tol * K) & ~unbounded
        if converged.all():
            break
    return log_gamma, iterations, converged


def plackett_luce(
    ranks: ArrayLike,
    items: Sequence[Hashable] | None = None,
    *,
    prior: float = 0.01,
    bootstrap: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
    max_iter: int = 10000,
    tol: float = 1e-10,
    max_tied: int = 6,
) -> PlackettLuceFit:
    """Plackett–Luce scores from a `rank_matrix` (judgments × items, lower is better, equal = tied, NaN = absent).

    Ties: a tied group is read as every order of its members, each with equal weight (the log-likelihood averaged
    over the orders the expert could have meant). This keeps Hunter's MM exact, reduces to plain Plackett–Luce
    without ties, and costs nothing at the handful of outputs a task shows (a tie of 4 is 24 orders; more than
    `max_tied` is refused). The Davidson–Luce model (Firth et al. 2019) would instead fit a tie parameter per tie
    size; averaging was chosen because its scores stay comparable with the untied case and with choix.
    prior: pseudo-count added to each item's wins and its MM denominator (choix's alpha); it keeps an item that is
    always last finite. bootstrap: seeded percentile intervals over resampled rankings when more than two items."""
    ranks = np.asarray(ranks, dtype=np.float64)
    labels: list[Any] = list(range(ranks.shape[1])) if items is None else list(items)
    orders, lengths, owner, weight, counts = _linear_extensions(ranks, max_tied)
    present = np.zeros(len(labels), dtype=bool)
    present[orders[orders >= 0]] = True
    scores = np.full(len(labels), np.nan)
    used = int(counts[np.unique(owner)].sum()) if len(owner) else 0
    if present.sum() < 2:
        return PlackettLuceFit(labels, scores, None, None, used, 0, 0, True)
    # the fit runs over the items that were ranked with another
    keep = np.flatnonzero(present)
    remap = np.full(len(labels), -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    local = np.where(orders >= 0, remap[np.maximum(orders, 0)], -1)
    K = len(keep)
    log_gamma, iterations, converged = _pl_mm(
        (counts[owner] * weight)[None, :], local, lengths, K, prior, max_iter, tol
    )
    scores[keep] = log_gamma[0]
    low = high = None
    resamples = bootstrap if bootstrap > 0 and K > 2 else 0
    if resamples:
        rng = np.random.default_rng(seed)
        used_patterns = np.unique(owner)
        p = counts[used_patterns] / counts[used_patterns].sum()
        draws = np.zeros((resamples, len(counts)))
        draws[:, used_patterns] = rng.multinomial(used, p, size=resamples)
        boot, _, _ = _pl_mm(draws[:, owner] * weight, local, lengths, K, prior, max_iter, max(tol, 1e-8))
        tail = (1 - confidence) / 2
        low, high = np.full(len(labels), np.nan), np.full(len(labels), np.nan)
        low[keep], high[keep] = np.quantile(boot, [tail, 1 - tail], axis=0)
    return PlackettLuceFit(labels, scores, low, high, used, resamples, iterations, bool(converged[0]))
