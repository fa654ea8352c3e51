"""Simulate release-gate campaigns and check the sequential gate (reviews/sequential.py) against its targets.

    .venv/bin/python bench/gate_simulation.py [--campaigns 10000] [--seed 1] [--tie-rate 0.0] [--max-n 2000]

For each true win rate in 0.40 ... 0.70 (ties as half a win) it draws --campaigns campaigns of up to --max-n
judgments arriving one by one (a campaigns x max_n matrix: win 1, tie 0.5, loss 0; running sums along rows) and
checks every gate after every judgment, at p0 = 0.50, p1 = 0.60, alpha = 0.05, power 0.80:

    (a) the sequential gate: SPRT with Ville's pass boundary 1/alpha (the default of SequentialTest), and the same
        test computed exactly by recursion over the lattice of half-wins, as a check on the simulation;
    (b) Wald's SPRT with the classical boundaries A = (1 - beta)/alpha, B = beta/(1 - alpha): the reference;
    (c) the fixed-sample one-sided test at N = fixed_sample_size(...): one look, at N;
    (d) naive peeking: pass as soon as the Wilson 95% lower bound is at least 0.50, looked at after every judgment
        from 10 to N (fail at N otherwise);
    (e) the gate Signoff had before the sequential test (at least 30 judgments, pass when the Wilson lower bound is at least 0.50,
        fail when the upper bound is below it), looked at after every judgment up to max_n.

Without --tie-rate it runs tie rates 0 and 0.2; a tie is y = 0.5, and wins and losses split the rest so that the
mean win rate with ties as half is the target. Seeded: the same arguments print the same tables. Exits 1 if a
target is missed.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from reviews.sequential import SequentialTest, fixed_sample_size  # noqa: E402
from reviews.stats import Z_95  # noqa: E402
from reviews.stats import wilson_bounds as stats_wilson_bounds  # noqa: E402

P0, P1, ALPHA, BETA = 0.5, 0.6, 0.05, 0.2
WIN_RATES = (0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70)
PEEK_FROM = 10
GATE_PY_MIN_JUDGMENTS = 30
CHUNK = 2500  # campaigns per matrix: 2500 x 2000 float64 is 40 MB

METHODS = {  # the gates simulated, in table order
    "sequential": "(a) sequential gate, pass at 1/α",
    "wald": "(b) Wald SPRT, classical A, B",
    "fixed": "(c) fixed N, one look",
    "peek": "(d) naive peeking, Wilson, 10..N",
    "gate_py": "(e) previous gate, Wilson, 30..max_n",
}
LABELS = {**METHODS, "exact": "    the same, exact (lattice recursion)"}


@dataclass(frozen=True)
class Outcome:
    """Operating characteristics of one gate at one true win rate. `judgments` counts an undecided campaign at its horizon."""
    passed: float
    failed: float
    undecided: float
    mean_n: float
    p90_n: float
    campaigns: int | None = None  # None: computed exactly

    def se(self, rate: float) -> float:
        return math.sqrt(rate * (1 - rate) / self.campaigns) if self.campaigns else 0.0


def draw_outcomes(rng: np.random.Generator, *, p: float, tie_rate: float, campaigns: int, max_n: int) -> np.ndarray:
    """campaigns x max_n outcomes in {0, 0.5, 1} with mean p: P(win) = p - t/2, P(tie) = t, P(loss) = 1 - p - t/2."""
    win = p - tie_rate / 2
    if not (0 <= win and win + tie_rate <= 1):
        raise ValueError(f"a win rate of {p} is impossible with a tie rate of {tie_rate}")
    u = rng.random((campaigns, max_n))
    y = (u < win).astype(float)
    if tie_rate:
        y[(u >= win) & (u < win + tie_rate)] = 0.5
    return y


def wilson_bounds(successes: np.ndarray, n: np.ndarray, z: float = Z_95) -> tuple[np.ndarray, np.ndarray]:
    """reviews.stats.wilson_interval, elementwise (the stats package's own array form)."""
    _, low, high = stats_wilson_bounds(successes, n, z)
    return low, high


def fixed_threshold(n: int, p0: float = P0, alpha: float = ALPHA) -> float:
    """The one-sided test at a fixed n (normal approximation): pass when the wins (ties as half) reach this."""
    return p0 * n + norm.isf(alpha) * math.sqrt(n * p0 * (1 - p0))


def _first_true(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    first = mask.argmax(axis=1)
    return mask[np.arange(mask.shape[0]), first], first


def naive_peeking(wins: np.ndarray, *, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """(d) from running win counts (one campaign per row): pass at the first n in PEEK_FROM..horizon whose Wilson
    lower bound is at least P0, else fail at the horizon. Returns (judgments used, 1 pass / 0 fail)."""
    n = np.arange(PEEK_FROM, horizon + 1, dtype=float)
    low, _ = wilson_bounds(wins[:, PEEK_FROM - 1:horizon], n)
    hit, first = _first_true(low >= P0)
    return np.where(hit, first + PEEK_FROM, horizon), hit.astype(int)


def gate_py_today(wins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(e) the previous gate (Wilson interval, at least 30 judgments, bar P0), evaluated after every
    judgment until it says pass or fail. Returns (judgments used, 1 pass / 0 fail / -1 still pending at the end)."""
    max_n = wins.shape[1]
    n = np.arange(GATE_PY_MIN_JUDGMENTS, max_n + 1, dtype=float)
    low, high = wilson_bounds(wins[:, GATE_PY_MIN_JUDGMENTS - 1:], n)
    hit, first = _first_true((low >= P0) | (high < P0))
    verdict = np.where(hit, (low[np.arange(len(wins)), first] >= P0).astype(int), -1)
    return np.where(hit, first + GATE_PY_MIN_JUDGMENTS, max_n), verdict


def simulate(*, p: float, tie_rate: float, campaigns: int, max_n: int, seed: int) -> dict[str, Outcome]:
    """All gates on the same simulated campaigns (common random numbers), seeded by (seed, p, tie rate)."""
    rng = np.random.default_rng([seed, round(p * 1000), round(tie_rate * 1000)])
    sequential = SequentialTest(p0=P0, p1=P1, alpha=ALPHA, beta=BETA)
    wald = SequentialTest(p0=P0, p1=P1, alpha=ALPHA, beta=BETA, pass_boundary="wald")
    n_fixed = fixed_sample_size(P0, P1, ALPHA, BETA)
    if n_fixed > max_n:
        raise ValueError(f"max_n must be at least the fixed sample size {n_fixed}")
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {name: [] for name in METHODS}  # (judgments, 1 pass / 0 fail / -1 none)
    for start in range(0, campaigns, CHUNK):
        y = draw_outcomes(rng, p=p, tie_rate=tie_rate, campaigns=min(CHUNK, campaigns - start), max_n=max_n)
        for name, test in (("sequential", sequential), ("wald", wald)):
            decided_at, passed = test.first_crossings(y)
            verdict = np.where(decided_at == 0, -1, passed.astype(int))
            parts[name].append((np.where(decided_at == 0, max_n, decided_at), verdict))
        wins = np.cumsum(y, axis=1)

        passed = wins[:, n_fixed - 1] >= fixed_threshold(n_fixed)
        parts["fixed"].append((np.full(len(y), n_fixed), passed.astype(int)))

        parts["peek"].append(naive_peeking(wins, horizon=n_fixed))
        parts["gate_py"].append(gate_py_today(wins))

    results = {}
    for name, chunks in parts.items():
        judgments = np.concatenate([j for j, _ in chunks])
        verdict = np.concatenate([v for _, v in chunks])
        results[name] = Outcome(passed=float(np.mean(verdict == 1)), failed=float(np.mean(verdict == 0)),
                                undecided=float(np.mean(verdict == -1)), mean_n=float(judgments.mean()),
                                p90_n=float(np.quantile(judgments, 0.9, method="inverted_cdf")), campaigns=campaigns)
    return results


def exact_sequential(test: SequentialTest, *, p: float, tie_rate: float, max_n: int) -> Outcome:
    """The test's operating characteristics by forward recursion: after n judgments the state is the number of
    half-wins h = 2 wins + ties (0..2n), the log-LR is (h/2) log(p1/p0) + (n - h/2) log((1-p1)/(1-p0)), and
    probability mass that reaches a boundary is taken out."""
    win, loss = p - tie_rate / 2, 1 - p - tie_rate / 2
    alive = np.ones(1)
    stop_at = np.zeros(max_n + 1)  # probability of deciding at each judgment
    passed = failed = 0.0
    for step in range(1, max_n + 1):
        nxt = np.zeros(2 * step + 1)
        nxt[2:] += alive * win
        nxt[1:-1] += alive * tie_rate
        nxt[:-2] += alive * loss
        h = np.arange(2 * step + 1)
        llr = (h / 2) * test.llr_win + (step - h / 2) * test.llr_loss
        up, down = llr >= test.log_pass, llr <= test.log_fail
        passed += nxt[up].sum()
        failed += nxt[down].sum()
        stop_at[step] = nxt[up].sum() + nxt[down].sum()
        nxt[up | down] = 0.0
        alive = nxt
    undecided = alive.sum()
    stop_at[max_n] += undecided
    steps = np.arange(max_n + 1)
    p90 = float(steps[np.searchsorted(np.cumsum(stop_at), 0.9 - 1e-12)])
    return Outcome(passed=float(passed), failed=float(failed), undecided=float(undecided), mean_n=float((steps * stop_at).sum()), p90_n=p90)


def exact_fixed(*, p: float, tie_rate: float, n: int) -> float:
    """P(pass) of the fixed-N test, exactly: the distribution of half-wins after n judgments, by repeated convolution."""
    step = np.array([1 - p - tie_rate / 2, tie_rate, p - tie_rate / 2])
    dist = np.ones(1)
    for _ in range(n):
        dist = np.convolve(dist, step)
    half_wins = np.arange(dist.size)
    return float(dist[half_wins / 2 >= fixed_threshold(n)].sum())


def print_table(tie_rate: float, campaigns: int, max_n: int, runs: dict[float, dict[str, Outcome]]) -> None:
    n_fixed = fixed_sample_size(P0, P1, ALPHA, BETA)
    print(f"\nTie rate {tie_rate:.2f}: {campaigns} campaigns per win rate, up to {max_n} judgments each, "
          f"every gate looked at after every judgment (fixed N = {n_fixed})")
    print(f"{'win rate':<9} {'gate':<40} {'P(pass)':>8} {'P(fail)':>8} {'P(undecided)':>13} {'mean N':>8} {'p90 N':>6}")
    for p, outcomes in runs.items():
        for i, (name, outcome) in enumerate(outcomes.items()):
            label = LABELS[name]
            print(f"{f'{p:.2f}' if i == 0 else '':<9} {label:<40} {outcome.passed:>8.4f} {outcome.failed:>8.4f} "
                  f"{outcome.undecided:>13.4f} {outcome.mean_n:>8.1f} {outcome.p90_n:>6.0f}")
    print("N counts the judgments a gate consumed; an undecided campaign counts at its horizon.")


def check_targets(tie_rate: float, runs: dict[float, dict[str, Outcome]]) -> list[tuple[bool, str]]:
    n_fixed = fixed_sample_size(P0, P1, ALPHA, BETA)
    seq = {p: r["sequential"] for p, r in runs.items()}
    wald = {p: r["wald"] for p, r in runs.items()}
    lines = []
    for p in (0.40, 0.45, 0.50):
        if p in seq:
            rate = seq[p].passed
            lines.append((rate <= ALPHA, f"false pass <= {ALPHA} under continuous monitoring at {p:.2f}: "
                                         f"{rate:.4f} (SE {seq[p].se(rate):.4f}; exact {runs[p]['exact'].passed:.4f})"))
    if 0.60 in seq:
        rate = seq[0.60].passed
        lines.append((rate >= 1 - BETA, f"power >= {1 - BETA:.2f} at 0.60: {rate:.4f} (SE {seq[0.60].se(rate):.4f}; "
                                        f"exact {runs[0.60]['exact'].passed:.4f})"))
    for p in (0.50, 0.60):
        if p in seq:
            change = seq[p].mean_n / wald[p].mean_n - 1
            lines.append((abs(change) <= 0.10, f"mean judgments within 10% of Wald's SPRT at {p:.2f}: "
                                               f"{seq[p].mean_n:.1f} vs {wald[p].mean_n:.1f} ({change:+.1%})"))
    for p in (0.40, 0.70):
        if p in seq:
            saving = 1 - seq[p].mean_n / n_fixed
            lines.append((saving >= 0.60, f"at least 60% fewer mean judgments than fixed N = {n_fixed} at {p:.2f}: "
                                          f"{seq[p].mean_n:.1f} ({saving:.1%} fewer)"))
    return lines


def print_checks(tie_rate: float, runs: dict[float, dict[str, Outcome]]) -> None:
    n_fixed = fixed_sample_size(P0, P1, ALPHA, BETA)
    z = {p: (r["sequential"].passed - r["exact"].passed) / max(r["sequential"].se(r["exact"].passed), 1e-12) for p, r in runs.items()}
    worst = max(z, key=lambda p: abs(z[p]))
    print(f"  simulation vs exact recursion, P(pass) of the sequential gate: largest gap {z[worst]:+.1f} SE (at {worst:.2f})")
    if 0.50 in runs:
        r = runs[0.50]
        print(f"  fixed N = {n_fixed} (normal approximation): false pass at 0.50 {r['fixed'].passed:.4f} "
              f"(exact {exact_fixed(p=0.5, tie_rate=tie_rate, n=n_fixed):.4f})", end="")
        if 0.60 in runs:
            print(f", power at 0.60 {runs[0.60]['fixed'].passed:.4f} (exact {exact_fixed(p=0.6, tie_rate=tie_rate, n=n_fixed):.4f})", end="")
        print()
        print(f"  why the gate is sequential, false pass at 0.50 when looked at after every judgment: "
              f"naive peeking {r['peek'].passed:.4f} ({r['peek'].passed / ALPHA:.1f} x α), "
              f"previous gate {r['gate_py'].passed:.4f} ({r['gate_py'].passed / ALPHA:.1f} x α), "
              f"Wald's classical A {r['wald'].passed:.4f}, sequential gate {r['sequential'].passed:.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tie-rate", type=float, default=None, help="default: run 0.0 and 0.2")
    parser.add_argument("--max-n", type=int, default=2000)
    args = parser.parse_args(argv)
    tie_rates = [args.tie_rate] if args.tie_rate is not None else [0.0, 0.2]

    started = time.perf_counter()
    gate = SequentialTest(p0=P0, p1=P1, alpha=ALPHA, beta=BETA)
    wald = SequentialTest(p0=P0, p1=P1, alpha=ALPHA, beta=BETA, pass_boundary="wald")
    print(f"Gate: {gate.describe()}")
    print(f"Reference: {wald.describe()}")
    print(f"log-LR per judgment: win {gate.llr_win:+.5f}, tie {gate.llr_tie:+.5f}, loss {gate.llr_loss:+.5f}; "
          f"boundaries: pass {gate.log_pass:.4f} (Wald {wald.log_pass:.4f}), fail {gate.log_fail:.4f}")
    print(f"seed {args.seed}, numpy {np.__version__}, {os.cpu_count()} CPUs")

    all_lines = []
    for tie_rate in tie_rates:
        runs = {}
        for p in WIN_RATES:
            outcomes = simulate(p=p, tie_rate=tie_rate, campaigns=args.campaigns, max_n=args.max_n, seed=args.seed)
            runs[p] = {"sequential": outcomes["sequential"],
                       "exact": exact_sequential(gate, p=p, tie_rate=tie_rate, max_n=args.max_n),
                       **{k: v for k, v in outcomes.items() if k != "sequential"}}
        print_table(tie_rate, args.campaigns, args.max_n, runs)
        lines = check_targets(tie_rate, runs)
        all_lines += lines
        print(f"Targets (tie rate {tie_rate:.2f}, the sequential gate):")
        for ok, text in lines:
            print(f"  {'PASS' if ok else 'FAIL'}  {text}")
        print("Checks:")
        print_checks(tie_rate, runs)

    met = all(ok for ok, _ in all_lines)
    print(f"\n{'All targets met' if met else 'TARGETS MISSED'} ({sum(ok for ok, _ in all_lines)}/{len(all_lines)}); "
          f"{time.perf_counter() - started:.1f} s")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
