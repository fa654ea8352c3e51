"""The sequential test's exact operating characteristics, by forward recursion over the lattice of outcome sums. Pure.

After n units (judged items) the test's state is the sum of their outcomes. Outcomes are multiples of 1/r (r = 2 for
win 1, tie ½, loss 0; r = 2k for the mean of k reviewers' judgments; 2km when a ranking's outcome is a share of m
comparisons), so the sum is an integer h in 0..rn and its evidence is llr(h, n) = (h/r) log(p1/p0) + (n - h/r)
log((1-p1)/(1-p0)), increasing in h. One step convolves the distribution of h with the outcome's distribution; the
mass that crosses a boundary (from the floor `min_n` on) is taken out. The states still undecided always form one
run of consecutive h (a band of width about r (log_pass - log_fail) / (log(p1/p0) - log((1-p1)/(1-p0)))), so a
step costs O(band x models), and a design of thousands of units takes milliseconds.

Truncation. At the planned end every undecided state must be decided: pass when h >= c, fail otherwise, with c
the smallest bar that keeps the overall false-pass rate (early passes plus passes at the end) at most alpha.
Under H0 the outcome's distribution is not fixed by its mean: the same win rate p0 can be any mix of wins, ties and
losses (and, with several reviewers per item, of partial outcomes). The bar is computed for every tie rate on a
grid from none to all (reviewers unanimous, and independent when several judge an item), and then rounded up to a
whole number of wins: at a half-win bar a few ties between the grid's rates passed up to 0.055 at alpha 0.05
(bench/gate_simulation.py found it); at a whole-number bar a tie, or any partial outcome, stands in for a win and a
loss that would have straddled the bar, so the worst case is the one with no ties, which the recursion computes
exactly. The bench checks it at every horizon to 300 and tie rates in steps of 0.001, and against searched
worst-case laws of item means; tests/test_truncated_gate.py keeps some of those.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray
else:
    np = lazy_module("numpy")

NULL_TIE_RATES = 11
NEGLIGIBLE = 1e-15  # undecided mass below this, for every model, ends a recursion early


@dataclass(frozen=True)
class Lattice:
    llr_win: float
    llr_loss: float
    log_pass: float
    log_fail: float
    resolution: int  # outcomes are multiples of 1/resolution
    min_n: int  # no decision before this many units

    def llr(self, h: ArrayLike, n: int | NDArray[np.integer[Any]]) -> NDArray[np.float64]:
        """The evidence at sum h/resolution after n units. The one formula both the recursion and a campaign's path use,
        so a state sits on the same side of a boundary in both."""
        s = np.asarray(h, dtype=float) / self.resolution
        return s * self.llr_win + (n - s) * self.llr_loss


def outcome_kernels(p: float, *, resolution: int, per_item: int, tie_rates: list[float]) -> NDArray[np.float64]:
    """One row per model: the distribution of an outcome on 0..resolution with mean p. Each judgment is a win, a
    tie or a loss (tie rate t); an item's outcome is the mean of `per_item` judgments, all alike (unanimous
    reviewers) or, when per_item > 1, independent as well."""
    if resolution % (2 * per_item):
        raise ValueError("resolution must be a multiple of 2 x per_item")
    spacing = resolution // (2 * per_item)  # lattice steps per half-win of one judgment in the item's mean
    rows = []
    for t in tie_rates:
        judgment = np.array([1 - p - t / 2, t, p - t / 2]).clip(0, 1)
        unanimous = np.zeros(resolution + 1)
        unanimous[[0, resolution // 2, resolution]] = judgment
        rows.append(unanimous)
        if per_item > 1:
            mean = np.ones(1)
            for _ in range(per_item):
                mean = np.convolve(mean, judgment)
            independent = np.zeros(resolution + 1)
            independent[::spacing] = mean
            rows.append(independent)
    return np.array(rows)


def null_tie_rates(p0: float) -> list[float]:
    """From no ties to as many as a win rate of p0 allows (every outcome a tie at 0.5)."""
    return list(np.linspace(0.0, 2 * min(p0, 1 - p0), NULL_TIE_RATES))


@dataclass
class Step:
    n: int
    alive: NDArray[np.float64]  # (models, band): mass still undecided after unit n, at h = lo, lo + 1, ...
    lo: int
    passed: NDArray[np.float64]  # (models,): mass that passed at unit n
    failed: NDArray[np.float64]


def steps(lattice: Lattice, kernels: NDArray[np.float64], n_max: int) -> Iterator[Step]:
    """The recursion, one unit at a time, for every model (row of `kernels`) at once."""
    models, width = kernels.shape[0], kernels.shape[1] - 1
    alive, lo = np.ones((models, 1)), 0
    zero = np.zeros(models)
    for n in range(1, n_max + 1):
        band = alive.shape[1]
        grown = np.zeros((models, band + width))
        for j in range(width + 1):
            if kernels[:, j].any():
                grown[:, j : j + band] += alive * kernels[:, j : j + 1]
        if n < lattice.min_n:
            alive = grown
            yield Step(n, alive, lo, zero, zero)
            continue
        llr = lattice.llr(lo + np.arange(grown.shape[1]), n)
        up, down = llr >= lattice.log_pass, llr <= lattice.log_fail  # a suffix and a prefix: llr grows with h
        keep = np.flatnonzero(~(up | down))
        passed, failed = grown[:, up].sum(axis=1), grown[:, down].sum(axis=1)
        if keep.size:
            alive, lo = grown[:, keep[0] : keep[-1] + 1], lo + int(keep[0])
        else:
            alive = np.zeros((models, 0))
        yield Step(n, alive, lo, passed, failed)


def end_bar(step: Step, early_pass: NDArray[np.float64], alpha: float) -> int:
    """The smallest h at the end (step.n) such that, for every model, early passes plus undecided states at or above
    h pass at most alpha of the time."""
    bars = []
    for row in range(step.alive.shape[0]):
        tail = np.cumsum(step.alive[row][::-1])[::-1]  # tail[i]: undecided mass at h >= lo + i
        ok = np.flatnonzero(early_pass[row] + tail <= alpha)
        bars.append(step.lo + (int(ok[0]) if ok.size else step.alive.shape[1]))
    return max(bars)


@dataclass(frozen=True)
class Characteristics:
    """How the test behaves for one outcome distribution, truncated at `horizon` units."""

    passed: float
    failed: float
    mean_n: float
    p90_n: int


def design_bar(lattice: Lattice, *, p0: float, alpha: float, horizon: int, per_item: int) -> int:
    """The end's bar c (in lattice steps) for a test truncated at `horizon` units."""
    kernels = outcome_kernels(p0, resolution=lattice.resolution, per_item=per_item, tie_rates=null_tie_rates(p0))
    early = np.zeros(kernels.shape[0])
    step = None
    for step in steps(lattice, kernels, horizon):
        early = early + step.passed
        left = step.alive.sum(axis=1)
        if step.n < horizon and step.n >= lattice.min_n and left.max() < NEGLIGIBLE and (early + left).max() <= alpha:
            # next to nothing is left to decide at the end, so any bar keeps alpha: take the natural one (pass when
            # the evidence favours p1 over p0)
            return whole_wins(_natural_bar(lattice, horizon), lattice.resolution)
    if step is None:
        raise ValueError("a truncated test needs a horizon of at least one unit")
    return whole_wins(end_bar(step, early, alpha), lattice.resolution)


def whole_wins(bar: int, resolution: int) -> int:
    """The bar rounded up to a whole number of wins (ties as half). Between the tie rates of the design grid a bar at
    a fractional sum can be reached by a few ties more often than the grid shows; at a whole number a tie or a partial
    outcome stands in for half a win and half a loss and lands below the bar, where a win or a loss would have
    straddled it, so outcomes that are not all wins and losses can only pass less often than those that are.
    (bench/gate_simulation.py scans every horizon to 300 and tie rates in steps of 0.001 to check it.)"""
    return -(-bar // resolution) * resolution


def _natural_bar(lattice: Lattice, n: int) -> int:
    favours_p1 = np.flatnonzero(lattice.llr(np.arange(lattice.resolution * n + 1), n) >= 0)
    return int(favours_p1[0]) if favours_p1.size else lattice.resolution * n + 1


def characteristics(lattice: Lattice, kernel: NDArray[np.float64], *, horizon: int, bar: int) -> Characteristics:
    """Pass and fail probabilities, mean and 90th-percentile units to a decision, for one outcome distribution."""
    passed = failed = mean = 0.0
    cumulative, p90 = 0.0, None
    for step in steps(lattice, kernel[np.newaxis, :], horizon):
        stopped = float(step.passed[0] + step.failed[0])
        passed += float(step.passed[0])
        failed += float(step.failed[0])
        if step.n == horizon:
            alive = step.alive[0]
            h = step.lo + np.arange(alive.size)
            passed += float(alive[h >= bar].sum())
            failed += float(alive[h < bar].sum())
            stopped += float(alive.sum())
        mean += step.n * stopped
        cumulative += stopped
        if p90 is None and cumulative >= 0.9 - 1e-12:
            p90 = step.n
        if step.alive.sum() < NEGLIGIBLE and step.n >= lattice.min_n:
            break
    return Characteristics(passed=passed, failed=failed, mean_n=mean, p90_n=p90 if p90 is not None else horizon)


def units_for_power(
    lattice: Lattice, *, p0: float, p1: float, alpha: float, power: float, per_item: int, n_max: int
) -> int | None:
    """The fewest units whose truncated test has at least `power` at p1 (None if more than n_max): one recursion
    for every horizon at once, since a horizon's end bar needs only the null's state at that step."""
    null = outcome_kernels(p0, resolution=lattice.resolution, per_item=per_item, tie_rates=null_tie_rates(p0))
    alt = outcome_kernels(p1, resolution=lattice.resolution, per_item=per_item, tie_rates=[0.0])[
        :1
    ]  # no ties, unanimous
    kernels = np.vstack([null, alt])
    early = np.zeros(kernels.shape[0])
    for step in steps(lattice, kernels, n_max):
        early = early + step.passed
        if step.n < lattice.min_n:
            continue
        null_step = Step(step.n, step.alive[:-1], step.lo, step.passed[:-1], step.failed[:-1])
        bar = whole_wins(end_bar(null_step, early[:-1], alpha), lattice.resolution)
        alive = step.alive[-1]
        h = step.lo + np.arange(alive.size)
        if early[-1] + alive[h >= bar].sum() >= power:
            return step.n
    return None
