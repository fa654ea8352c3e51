"""The anytime-valid sequential test behind the release gate: judgments in arrival order in, pass / fail / continue out. Pure.

The question
------------
Each judgment gives the candidate an outcome y in {0, 0.5, 1}: a win is 1, a loss 0, a tie or "both bad" 0.5.
With p the candidate's mean win rate (ties as half), the gate tests

    H0: p <= p0  (no better than the baseline, p0 = 0.5 by default policy)
    H1: p >= p1  (better by a margin worth shipping)

at level alpha, with power 1 - beta at p1, and it looks at the evidence after *every* judgment. A fixed-sample
interval (a Wilson bound, as `reviews.gate` used) re-checked after every judgment is not a test at level alpha:
with enough looks it passes a candidate that is no better far more often than 5% of the time
(bench/gate_simulation.py measures it). The test here keeps its level however often it is looked at.

The method: Wald's sequential probability ratio test, applied to fractional outcomes
------------------------------------------------------------------------------------
    log L_n = sum_i [ y_i log(p1/p0) + (1 - y_i) log((1 - p1)/(1 - p0)) ]

A win adds log(p1/p0) > 0, a loss adds log((1-p1)/(1-p0)) < 0, and a tie adds half of each.

Why this is valid with ties. Each factor is f(y) = (p1/p0)^y ((1-p1)/(1-p0))^(1-y) = c * r^y, an exponential in y,
hence convex. A convex function on [0, 1] lies below its chord, f(y) <= (1 - y) f(0) + y f(1), so for ANY outcome
distribution on [0, 1] (wins, losses, ties, anything in between) with mean at most p0:

    E f(y) <= (1 - E y) (1-p1)/(1-p0) + (E y) p1/p0 <= (1-p0)(1-p1)/(1-p0) + p0 p1/p0 = (1 - p1) + p1 = 1

(the middle expression grows with E y because p1/p0 > (1-p1)/(1-p0)). The same holds conditionally on the past,
so L_n = prod f(y_i) is a non-negative supermartingale under H0 with L_0 = 1, and Ville's inequality gives

    P_H0( sup_n L_n >= 1/alpha ) <= alpha

under continuous monitoring, with any stopping rule, and without assuming the outcomes identically distributed:
it suffices that each judgment's win rate given everything before it is at most p0. Ties only make E f(y)
strictly smaller than 1 (a conservative test): the drift of log L_n is linear in y, so it is the same as with no
ties at equal mean, while its variance shrinks, so ties cost no power either (at 0.60 with 20% ties the power is
0.88 against 0.82 without; bench/gate_simulation.py).
One caveat: the guarantee needs each judgment's win rate, given all earlier judgments, to be at most p0.
Independent judgments satisfy it. Several reviewers judging the same item (overlap > 1) do not quite: when items
differ in difficulty, one judgment of an item says something about the next. Treat alpha as approximate then,
or feed the test one outcome per item (the mean of its judgments, still in [0, 1], which the argument covers).

Boundaries
----------
    pass   once log L_n >= log(1/alpha)         (Ville: anytime-valid, false pass <= alpha, strictly)
    fail   once log L_n <= log(beta/(1 - alpha)) (Wald's lower boundary: stop for futility)

Wald's classical upper boundary A = (1 - beta)/alpha (16 instead of 20 at alpha 0.05, beta 0.2) is available as
`pass_boundary="wald"` for comparison; it guarantees only alpha/(1 - beta) = 0.0625 by Ville. The strict 1/alpha
boundary meets every target of the simulation (false pass <= 0.05 at and below 0.50; power >= 0.80 at 0.60;
mean judgments within 10% of Wald's SPRT at 0.50 and 0.60; at least 60% fewer than the fixed-sample test at 0.40
and 0.70), so it is the default. At 0.50 vs 0.60, alpha 0.05, beta 0.2, computed exactly: false pass 0.038 at 0.50,
power 0.816 at 0.60, 72 and 110 judgments on average at 0.50 and 0.60 (Wald's boundaries: 0.047, 0.817, 71 and 101).
The decision is final once a boundary is crossed: later judgments do not undo it.

A planned end
-------------
A campaign has a finite number of items, so the test is truncated at that horizon N (`horizon`): it may stop early
at either boundary as above, and at the N-th unit an undecided test passes when the sum of outcomes reaches the
end's bar c, and fails otherwise. c is computed exactly (reviews/lattice.py) as the smallest whole number of wins
that keeps the overall false-pass rate, early passes included, at most alpha at p0, for outcomes with and without
ties; so the gate always ends in pass or fail and its level holds however often it was looked at. `min_n` is a floor: no boundary is
looked at before it (the recursion accounts for that too). Outcomes must lie on the lattice of multiples of
1/`resolution` (2 for win, tie, loss; 2k for the mean of k judgments).

References
----------
A. Wald (1945), "Sequential tests of statistical hypotheses", Ann. Math. Statist. 16(2), 117-186.
J. Ville (1939), "Étude critique de la notion de collectif", Gauthier-Villars, Paris.
A. Ramdas, P. Grunwald, V. Vovk, G. Shafer (2023), "Game-theoretic statistics and safe anytime-valid inference",
Statist. Sci. 38(4), 576-601.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from core.lazy import lazy_module
from reviews import lattice as lattice_mod

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray
else:
    np = lazy_module("numpy")

WIN, TIE, LOSS = 1.0, 0.5, 0.0  # "both bad" counts as a tie

Decision = Literal["pass", "fail", "continue"]


@dataclass(frozen=True, kw_only=True)
class SequentialTest:
    p0: float
    p1: float
    alpha: float = 0.05
    beta: float = 0.2
    pass_boundary: Literal["ville", "wald"] = "ville"
    horizon: int | None = None  # the planned end, in units; None: open-ended
    min_n: int = 1  # no decision of either kind before this many units (capped at the horizon)
    resolution: int = 2  # outcomes are multiples of 1/resolution
    per_item: int = 1  # judgments averaged into one unit (shapes the null's outcome distributions at the end)
    unit: str = "judgment"  # the word for one unit in explanations

    def __post_init__(self) -> None:
        if not 0 < self.p0 < self.p1 < 1:
            raise ValueError("need 0 < p0 < p1 < 1")
        if not (0 < self.alpha < 1 and 0 < self.beta < 1 and self.alpha + self.beta < 1):
            raise ValueError("need alpha and beta in (0, 1) with alpha + beta < 1")
        if self.pass_boundary not in ("ville", "wald"):
            raise ValueError("pass_boundary is 'ville' or 'wald'")
        if self.horizon is not None and self.horizon < 1:
            raise ValueError("horizon must be at least 1")
        if self.min_n < 1 or self.resolution < 1 or self.resolution % (2 * self.per_item):
            raise ValueError("need min_n >= 1 and a resolution that is a multiple of 2 x per_item")

    @property
    def floor(self) -> int:
        return min(self.min_n, self.horizon) if self.horizon else self.min_n

    @property
    def lattice(self) -> lattice_mod.Lattice:
        return lattice_mod.Lattice(
            self.llr_win, self.llr_loss, self.log_pass, self.log_fail, self.resolution, self.floor
        )

    @property
    def end_bar(self) -> int | None:
        """The sum of outcomes, in lattice steps, that passes an undecided test at its horizon (None: no horizon)."""
        return None if self.horizon is None else self.end_bar_at(self.horizon)

    @property
    def end_bar_win_rate(self) -> float | None:
        """The end's bar as a win rate over the horizon."""
        return None if self.horizon is None else self.end_bar_at(self.horizon) / self.resolution / self.horizon

    def end_bar_at(self, horizon: int) -> int:
        """`end_bar` for a test truncated at `horizon` units."""
        return _end_bar(self.lattice, self.p0, self.alpha, horizon, self.per_item)

    def characteristics(self, p: float, *, tie_rate: float = 0.0) -> lattice_mod.Characteristics:
        """Exact pass and fail rates and units to a decision at a true win rate p (unanimous reviewers)."""
        if self.horizon is None:
            raise ValueError("characteristics need a horizon")
        kernel = lattice_mod.outcome_kernels(
            p, resolution=self.resolution, per_item=self.per_item, tie_rates=[tie_rate]
        )[0]
        return lattice_mod.characteristics(
            self.lattice, kernel, horizon=self.horizon, bar=self.end_bar_at(self.horizon)
        )

    @property
    def llr_win(self) -> float:
        return math.log(self.p1 / self.p0)

    @property
    def llr_loss(self) -> float:
        return math.log((1 - self.p1) / (1 - self.p0))

    @property
    def llr_tie(self) -> float:
        return 0.5 * (self.llr_win + self.llr_loss)

    @property
    def log_pass(self) -> float:
        if self.pass_boundary == "wald":
            return math.log((1 - self.beta) / self.alpha)
        return math.log(1 / self.alpha)

    @property
    def log_fail(self) -> float:
        return math.log(self.beta / (1 - self.alpha))

    def describe(self) -> str:
        name = "Wald's classical boundaries" if self.pass_boundary == "wald" else "Wald"
        return (
            f"Sequential probability ratio test ({name}), win rate at most {self.p0:.2f} vs at least {self.p1:.2f}, "
            f"α = {self.alpha:g}, power {1 - self.beta:.2f}: passes once the evidence ratio reaches "
            f"{_ratio(math.exp(self.log_pass))}, fails once it drops to {_ratio(math.exp(self.log_fail))}."
        )

    def llr_cumulative(self, outcomes: ArrayLike) -> NDArray[np.float64]:
        """Cumulative log-LR along the last axis. Computed from the running sum S of outcomes as
        S log(p1/p0) + (n - S) log((1-p1)/(1-p0)): with outcomes in halves S is exact, so the result does
        not depend on the order of the terms and carries no accumulated rounding."""
        y = np.asarray(outcomes, dtype=float)
        if y.size and (not np.all(np.isfinite(y)) or y.min() < 0 or y.max() > 1):
            raise ValueError("outcomes must lie in [0, 1] (win 1, tie 0.5, loss 0)")
        wins = np.cumsum(y, axis=-1)
        n = np.arange(1, y.shape[-1] + 1, dtype=float)
        return wins * self.llr_win + (n - wins) * self.llr_loss

    def lattice_sums(self, outcomes: ArrayLike) -> NDArray[np.float64]:
        """Running sums of outcomes along the last axis, in lattice steps (exact integers)."""
        y = np.asarray(outcomes, dtype=float)
        steps = np.rint(y * self.resolution)
        if y.size and np.abs(y * self.resolution - steps).max() > 1e-6:
            raise ValueError(f"outcomes must be multiples of 1/{self.resolution}")
        return np.cumsum(steps, axis=-1)

    def first_crossings(self, outcomes: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        """Many campaigns at once, one per row of `outcomes` (units in arrival order along each row).
        Returns (decided_at, passed): the 1-based unit count at the decision (0 if none yet) and whether it was
        a pass. Boundaries count from the floor on; at the horizon an undecided row is decided by the end's bar."""
        y = np.atleast_2d(np.asarray(outcomes, dtype=float))
        if y.size and (not np.all(np.isfinite(y)) or y.min() < 0 or y.max() > 1):
            raise ValueError("outcomes must lie in [0, 1] (win 1, tie 0.5, loss 0)")
        if self.horizon is not None:
            y = y[:, : self.horizon]
        h = self.lattice_sums(y)
        n = np.arange(1, y.shape[-1] + 1)
        llr = self.lattice.llr(h, n)
        up, down = (llr >= self.log_pass), (llr <= self.log_fail)
        up[:, : self.floor - 1] = down[:, : self.floor - 1] = False
        if self.horizon is not None and y.shape[-1] == self.horizon:
            end_pass = h[:, -1] >= self.end_bar_at(self.horizon)
            up[:, -1] |= end_pass
            down[:, -1] |= ~end_pass
        return _first_decisions(up, down)

    def path(self, outcomes: Sequence[float] | NDArray[np.float64]) -> SequentialPath:
        """The evidence over units in arrival order and the decision it has reached."""
        y = np.asarray(outcomes, dtype=float).reshape(-1)
        series = self.llr_cumulative(y)
        decided, passed = self.first_crossings(y[np.newaxis, :])
        decided_at = int(decided[0]) or None
        decision: Decision = "continue" if decided_at is None else ("pass" if passed[0] else "fail")
        at_end = (
            decided_at is not None
            and decided_at == self.horizon
            and not (series[decided_at - 1] >= self.log_pass or series[decided_at - 1] <= self.log_fail)
        )
        return SequentialPath(
            test=self,
            decision=decision,
            decided_at=decided_at,
            llr=float(series[-1]) if series.size else 0.0,
            llr_series=series,
            boundaries=(self.log_pass, self.log_fail),
            at_end=at_end,
            sum_at_decision=float(np.sum(y[:decided_at])) if decided_at else None,
            units=int(series.size),
            decided_llr=float(series[decided_at - 1]) if decided_at else None,
        )

    def path_from_running(
        self, *, units: int, steps: int, first_crossing: tuple[int, int] | None
    ) -> SequentialPath | None:
        """The decision `path` would reach, from the running state of the units in arrival order: their count, their
        sum in lattice steps, and the first crossing of a boundary counted from `min_n` (unit count, sum there), as
        recorded while units were appended. None when that state cannot tell: units beyond the horizon (the sum at
        the horizon is not kept). The path carries no per-unit series (`llr_series` is empty)."""
        if self.horizon is not None and units > self.horizon:
            return None
        decided = self._running_decision(units=units, steps=steps, first_crossing=first_crossing)
        lattice = self.lattice
        decision: Decision = "continue"
        decided_at = decided_steps = decided_llr = None
        at_end = False
        if decided is not None:
            decided_at, decided_steps, passed, at_end = decided
            decision = "pass" if passed else "fail"
            decided_llr = float(lattice.llr(decided_steps, decided_at))
        return SequentialPath(
            test=self,
            decision=decision,
            decided_at=decided_at,
            llr=float(lattice.llr(steps, units)) if units else 0.0,
            llr_series=np.zeros(0),
            boundaries=(self.log_pass, self.log_fail),
            at_end=at_end,
            sum_at_decision=None if decided_steps is None else decided_steps / self.resolution,
            units=units,
            decided_llr=decided_llr,
        )

    def _running_decision(
        self, *, units: int, steps: int, first_crossing: tuple[int, int] | None
    ) -> tuple[int, int, bool, bool] | None:
        """(units, sum at the decision, passed, decided by the end's bar) as `first_crossings` finds it, or None."""
        horizon = self.horizon
        if horizon is not None and horizon < self.min_n:
            first_crossing = None  # the floor is the horizon itself: a crossing before it is not looked at
        if first_crossing is not None and (horizon is None or first_crossing[0] < horizon):
            at, at_steps = first_crossing
            return at, at_steps, bool(self.lattice.llr(at_steps, at) >= self.log_pass), False
        if horizon is None or units != horizon:
            return None
        # at the horizon, as `first_crossings`: a boundary or the end's bar, a pass if either says so
        evidence = float(self.lattice.llr(steps, units))
        passed = evidence >= self.log_pass or steps >= self.end_bar_at(horizon)
        return units, steps, passed, self.log_fail < evidence < self.log_pass


@dataclass(frozen=True, kw_only=True, eq=False)
class SequentialPath:
    test: SequentialTest
    decision: Decision
    decided_at: int | None  # 1-based judgment count at the first crossing
    llr: float  # after every judgment so far, including any after the decision
    llr_series: NDArray[np.float64] = field(repr=False)
    boundaries: tuple[float, float]  # (log_pass, log_fail)
    at_end: bool = False  # decided by the end's bar at the horizon, not by crossing a boundary
    sum_at_decision: float | None = None
    units: int = 0  # units in (the series' length when there is one)
    decided_llr: float | None = None  # the evidence at the decision

    @property
    def judgments(self) -> int:
        return self.units

    @property
    def llr_at_decision(self) -> float | None:
        return self.decided_llr

    def explain(self) -> str:
        t, unit = self.test, self.test.unit
        evidence = f"the evidence ratio for a win rate of at least {t.p1:.2f} over at most {t.p0:.2f}"
        pass_at, fail_at = _ratio(math.exp(t.log_pass)), _ratio(math.exp(t.log_fail))
        if self.decided_at is None:
            if not self.judgments:
                return f"No {unit}s yet: {evidence} starts at 1; it passes at {pass_at} and fails at {fail_at}."
            text = (
                f"No decision after {self.judgments} {_plural(unit, self.judgments)}: {evidence} is "
                f"{_ratio(math.exp(self.llr))}, between {fail_at} (fail) and {pass_at} (pass)."
            )
            if self.judgments < t.floor:
                text += f" The policy looks at it from {t.floor} {_plural(unit, t.floor)} on."
            elif t.horizon:
                text += f" At the planned end ({t.horizon} {_plural(unit, t.horizon)}) it decides either way."
            return text
        if self.at_end:
            # path() sets at_end only at the horizon, with the sum of the outcomes up to there
            assert t.horizon is not None and self.sum_at_decision is not None
            needed = t.end_bar_at(t.horizon) / t.resolution
            verb = "passes" if self.decision == "pass" else "fails"
            relation = "at least" if self.decision == "pass" else "short of"
            text = (
                f"Reached the planned end, {t.horizon} {_plural(unit, t.horizon)}: the candidate's wins (ties as half) "
                f"total {_number(self.sum_at_decision)}, {relation} the {_number(needed)} the end asks for, so it {verb}. "
                f"The end's bar keeps the false-pass rate at most {t.alpha:g} however often the gate was looked at."
            )
        else:
            boundary = t.log_pass if self.decision == "pass" else t.log_fail
            assert self.decided_llr is not None  # set with decided_at
            ratio, threshold = _ratio_beside(math.exp(self.decided_llr), math.exp(boundary))
            if self.decision == "pass":
                text = f"Passed at {unit} {self.decided_at}: {evidence} reached {ratio} (threshold {threshold})."
            else:
                text = f"Failed at {unit} {self.decided_at}: {evidence} dropped to {ratio} (threshold {threshold})."
        later = self.judgments - self.decided_at
        if later:
            text += f" The {later} later {_plural(unit, later)} do{'' if later > 1 else 'es'} not change the decision."
        return text


def fixed_sample_size(p0: float, p1: float, alpha: float = 0.05, beta: float = 0.2) -> int:
    """Judgments a one-sided test at a single, pre-set N needs for level alpha and power 1 - beta at p1:
    the normal approximation to the binomial, N = ((z_{1-a} sqrt(p0 q0) + z_{1-b} sqrt(p1 q1)) / (p1 - p0))^2.
    (153 at 0.50 vs 0.60; the exact binomial test needs a few more, 158, so 153 flatters the fixed test.)"""
    if not 0 < p0 < p1 < 1:
        raise ValueError("need 0 < p0 < p1 < 1")
    # lazy on purpose: only the fixed-N comparison needs scipy, and importing it with the module slowed every start
    from scipy.special import ndtri  # -ndtri(q) is exactly what scipy.stats.norm.isf(q) computes

    z_a, z_b = -float(ndtri(alpha)), -float(ndtri(beta))
    n = ((z_a * math.sqrt(p0 * (1 - p0)) + z_b * math.sqrt(p1 * (1 - p1))) / (p1 - p0)) ** 2
    return math.ceil(n - 1e-9)


def _first_decisions(up: NDArray[np.bool_], down: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    if up.shape[-1] == 0:
        empty = np.zeros(up.shape[0], dtype=np.int64)
        return empty, empty.astype(bool)
    decided = up | down
    first = decided.argmax(axis=1)
    rows = np.arange(up.shape[0])
    hit = decided[rows, first]
    return np.where(hit, first + 1, 0), hit & up[rows, first]


@lru_cache(maxsize=512)
def _end_bar(lattice: lattice_mod.Lattice, p0: float, alpha: float, horizon: int, per_item: int) -> int:
    return lattice_mod.design_bar(lattice, p0=p0, alpha=alpha, horizon=horizon, per_item=per_item)


def _plural(unit: str, n: int) -> str:
    return unit if n == 1 else unit + "s"


def _number(x: float) -> str:
    return f"{x:g}" if abs(x - round(x, 2)) < 1e-9 else f"{x:.2f}"


def _ratio(x: float) -> str:
    return f"{x:.3g}" if x >= 1 else f"{x:.2g}"


def _ratio_beside(x: float, threshold: float) -> tuple[str, str]:
    """Both numbers to the same precision, enough digits that a value just past the threshold does not print equal to it."""
    for digits in range(3, 8):
        shown, limit = f"{x:.{digits}g}", f"{threshold:.{digits}g}"
        if shown != limit:
            break
    return shown, limit
