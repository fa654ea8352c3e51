"""The sequential gate's test (reviews/sequential.py): its arithmetic, its stopping rule, and its error rates."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.gate_simulation import (
    exact_sequential,
    simulate,
    wilson_bounds,
)
from reviews.sequential import LOSS, TIE, WIN, SequentialTest, fixed_sample_size
from reviews.stats import wilson_interval

# The sequential test is pure: nothing here reads the database or the broker.
pytestmark = pytest.mark.db_agnostic

GATE = SequentialTest(p0=0.5, p1=0.6, alpha=0.05, beta=0.2)
outcome_lists = st.lists(st.sampled_from([WIN, TIE, LOSS]), max_size=400)
policies = st.builds(
    lambda p0, gap, alpha, beta: SequentialTest(p0=p0, p1=min(p0 + gap, 0.99), alpha=alpha, beta=beta),
    p0=st.floats(0.05, 0.9),
    gap=st.floats(0.02, 0.3),
    alpha=st.floats(0.01, 0.2),
    beta=st.floats(0.05, 0.4),
)


# --- arithmetic ---------------------------------------------------------------------------------------------


def test_per_judgment_evidence_and_boundaries_follow_wald_and_ville():
    assert GATE.llr_win == pytest.approx(math.log(1.2))
    assert GATE.llr_loss == pytest.approx(math.log(0.8))
    assert GATE.llr_tie == pytest.approx(0.5 * math.log(1.2) + 0.5 * math.log(0.8))
    assert GATE.log_pass == pytest.approx(math.log(20))
    assert GATE.log_fail == pytest.approx(math.log(0.2 / 0.95))
    wald = SequentialTest(p0=0.5, p1=0.6, pass_boundary="wald")
    assert wald.log_pass == pytest.approx(math.log(0.8 / 0.05))
    assert wald.log_fail == GATE.log_fail


def test_path_adds_up_the_log_likelihood_ratio_judgment_by_judgment():
    path = GATE.path([WIN, LOSS, TIE, WIN])
    win, loss = math.log(1.2), math.log(0.8)
    expected = [win, win + loss, win + loss + (win + loss) / 2, 2 * win + loss + (win + loss) / 2]
    assert path.llr_series == pytest.approx(expected, abs=1e-12)
    assert path.llr == pytest.approx(expected[-1], abs=1e-12)
    assert (path.decision, path.decided_at, path.boundaries) == ("continue", None, (GATE.log_pass, GATE.log_fail))


def test_seventeen_straight_wins_pass_and_seven_straight_losses_fail():
    # 1.2^16 = 18.5 < 20 <= 1.2^17 = 22.2;  0.8^6 = 0.262 > 0.2105 >= 0.8^7 = 0.210
    assert GATE.path([WIN] * 17).decided_at == 17 and GATE.path([WIN] * 16).decision == "continue"
    assert GATE.path([LOSS] * 7).decided_at == 7 and GATE.path([LOSS] * 6).decision == "continue"
    assert GATE.path([LOSS] * 7).decision == "fail"


def test_decision_is_final_once_a_boundary_is_crossed():
    passed = GATE.path([WIN] * 17 + [LOSS] * 200)
    assert (passed.decision, passed.decided_at) == ("pass", 17)
    assert passed.llr < GATE.log_fail  # the evidence now says otherwise; the decision stands
    failed = GATE.path([LOSS] * 7 + [WIN] * 200)
    assert (failed.decision, failed.decided_at) == ("fail", 7)
    assert failed.llr > GATE.log_pass


def test_no_judgments_is_no_decision():
    path = GATE.path([])
    assert (path.decision, path.decided_at, path.llr, path.llr_series.size) == ("continue", None, 0.0, 0)
    assert "No judgments yet" in path.explain()


def test_describe_says_the_hypotheses_and_thresholds_in_words():
    assert GATE.describe() == (
        "Sequential probability ratio test (Wald), win rate at most 0.50 vs at least 0.60, α = 0.05, power 0.80: "
        "passes once the evidence ratio reaches 20, fails once it drops to 0.21."
    )


def test_explain_gives_the_judgment_the_evidence_and_the_threshold():
    passed = GATE.path([WIN] * 17 + [LOSS] * 3).explain()
    assert passed.startswith(
        "Passed at judgment 17: the evidence ratio for a win rate of at least 0.60 "
        "over at most 0.50 reached 22.2 (threshold 20)."
    )
    assert "3 later judgments do not change the decision" in passed
    failed = GATE.path([LOSS] * 7).explain()
    # 0.8^7 = 0.2097 just under 0.2105: shown with enough digits not to look equal to the threshold
    assert failed == (
        "Failed at judgment 7: the evidence ratio for a win rate of at least 0.60 over at most 0.50 "
        "dropped to 0.21 (threshold 0.211)."
    )
    pending = GATE.path([WIN, LOSS, TIE]).explain()
    assert pending.startswith("No decision after 3 judgments") and "0.21 (fail) and 20 (pass)" in pending


@pytest.mark.parametrize(
    "kwargs",
    [
        {"p0": 0.6, "p1": 0.5},
        {"p0": 0.0, "p1": 0.5},
        {"p0": 0.5, "p1": 1.0},
        {"p0": 0.5, "p1": 0.6, "alpha": 0.0},
        {"p0": 0.5, "p1": 0.6, "alpha": 0.6, "beta": 0.5},
        {"p0": 0.5, "p1": 0.6, "pass_boundary": "pocock"},
    ],
)
def test_impossible_policies_are_rejected(kwargs):
    with pytest.raises(ValueError):
        SequentialTest(**kwargs)


@pytest.mark.parametrize("outcomes", [[1.5], [-0.5], [float("nan")]])
def test_outcomes_outside_zero_one_are_rejected(outcomes):
    with pytest.raises(ValueError):
        GATE.path(outcomes)


def test_fixed_sample_size_is_the_one_sided_normal_approximation():
    assert fixed_sample_size(0.5, 0.6, 0.05, 0.2) == 153
    assert fixed_sample_size(0.5, 0.55) > fixed_sample_size(0.5, 0.6) > fixed_sample_size(0.5, 0.7)


# --- properties ---------------------------------------------------------------------------------------------


@given(outcome_lists)
def test_path_llr_is_the_sum_of_the_per_judgment_llrs(outcomes):
    per = {WIN: GATE.llr_win, TIE: GATE.llr_tie, LOSS: GATE.llr_loss}
    path = GATE.path(outcomes)
    assert path.llr == pytest.approx(math.fsum(per[y] for y in outcomes), abs=1e-9)
    assert path.llr_series == pytest.approx(np.cumsum([per[y] for y in outcomes]), abs=1e-9)


@given(outcome_lists, st.randoms(use_true_random=False))
def test_order_of_judgments_does_not_change_the_final_evidence(outcomes, random):
    shuffled = list(outcomes)
    random.shuffle(shuffled)
    assert GATE.path(shuffled).llr == GATE.path(outcomes).llr


@given(policies)
def test_enough_wins_always_pass_and_enough_losses_always_fail(test):
    wins_needed = math.ceil(test.log_pass / test.llr_win)
    losses_needed = math.ceil(test.log_fail / test.llr_loss)
    assert test.path([WIN] * (wins_needed + 1)).decision == "pass"
    assert test.path([LOSS] * (losses_needed + 1)).decision == "fail"


@given(outcome_lists, outcome_lists)
def test_later_judgments_never_undo_a_decision(prefix, suffix):
    before = GATE.path(prefix)
    after = GATE.path(prefix + suffix)
    if before.decided_at is not None:
        assert (after.decision, after.decided_at) == (before.decision, before.decided_at)


@settings(max_examples=50)
@given(st.lists(outcome_lists.filter(len), min_size=1, max_size=8))
def test_batch_crossings_agree_with_one_path_at_a_time(rows):
    width = max(map(len, rows))
    matrix = np.array([row + [TIE] * (width - len(row)) for row in rows])
    decided_at, passed = GATE.first_crossings(matrix)
    for row, at, p in zip(matrix, decided_at, passed, strict=True):
        path = GATE.path(row)
        assert (path.decided_at or 0, path.decision == "pass") == (at, p)


# --- error rates --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tie_rate", [0.0, 0.2, 0.6])
@pytest.mark.parametrize("p0,p1", [(0.5, 0.6), (0.5, 0.55), (0.7, 0.8)])
def test_exact_false_pass_rate_at_p0_is_at_most_alpha_whatever_the_ties(p0, p1, tie_rate):
    """Ville's bound, computed exactly (no sampling error) by recursion over the lattice of half-wins."""
    exact = exact_sequential(SequentialTest(p0=p0, p1=p1), p=p0, tie_rate=tie_rate, max_n=600)
    assert exact.passed <= 0.05


CAMPAIGNS = 2000


@pytest.fixture(scope="module")
def reduced_simulation():
    return {p: simulate(p=p, tie_rate=0.0, campaigns=CAMPAIGNS, max_n=1000, seed=7) for p in (0.45, 0.50, 0.60, 0.70)}


def _se(rate: float) -> float:
    return math.sqrt(rate * (1 - rate) / CAMPAIGNS)


def test_false_pass_rate_under_continuous_monitoring_is_at_most_alpha(reduced_simulation):
    at_050 = reduced_simulation[0.50]["sequential"].passed
    at_045 = reduced_simulation[0.45]["sequential"].passed
    assert at_050 <= 0.05 + 3 * _se(0.05)
    assert at_045 < at_050


def test_power_at_p1_is_at_least_80_percent(reduced_simulation):
    assert reduced_simulation[0.60]["sequential"].passed >= 0.8 - 3 * _se(0.8)


def test_a_clearly_better_candidate_needs_far_fewer_judgments_than_a_fixed_sample(reduced_simulation):
    assert reduced_simulation[0.70]["sequential"].mean_n <= 0.4 * fixed_sample_size(0.5, 0.6, 0.05, 0.2)


def test_simulation_agrees_with_the_exact_recursion(reduced_simulation):
    for p in (0.50, 0.60):
        exact = exact_sequential(GATE, p=p, tie_rate=0.0, max_n=1000)
        assert abs(reduced_simulation[p]["sequential"].passed - exact.passed) <= 4 * _se(exact.passed)


def test_naive_peeking_at_a_wilson_bound_passes_an_equal_candidate_far_too_often(reduced_simulation):
    """Why the gate is sequential: the fixed-N 95% interval re-checked after every judgment is not a 5% test."""
    assert reduced_simulation[0.50]["peek"].passed > 0.10
    assert reduced_simulation[0.50]["gate_py"].passed > 0.10


# --- the bench's vectorised Wilson rules are the ones reviews.gate applies ----------------------------------


def test_vectorised_wilson_bounds_equal_stats_wilson_interval():
    successes = np.array([0, 0.5, 3, 7.5, 12, 30])
    n = np.array([1, 3, 10, 15, 12, 64], dtype=float)
    low, high = wilson_bounds(successes, n)
    for s, m, lo, hi in zip(successes, n, low, high, strict=True):
        interval = wilson_interval(s, m)
        assert (lo, hi) == (interval.low, interval.high)


def test_truncated_gate_simulation_agrees_with_its_exact_false_pass_and_always_ends():
    """bench/gate_simulation.py's truncated design at N = 40 items (floor 30): seeded campaigns at a 0.50 win rate pass
    as often as characteristics() says, within 4 SE, and none is left undecided at the planned end."""
    from bench.gate_simulation import simulate_truncated, truncated_test

    test = truncated_test(40, None)
    exact = test.characteristics(0.5).passed
    campaigns = 4000
    sim = simulate_truncated(test, p=0.5, tie_rate=0.0, campaigns=campaigns, seed=3)
    assert exact <= 0.05
    assert abs(sim.passed - exact) <= 4 * math.sqrt(exact * (1 - exact) / campaigns)
    assert sim.undecided == 0.0 and sim.passed + sim.failed == 1.0
    assert sim.mean_n <= 40 and sim.p90_n <= 40
