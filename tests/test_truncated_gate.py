"""The gate's test truncated at the campaign's planned end (reviews/sequential.py, reviews/lattice.py, reviews/plan.py):
it always decides, its end bar keeps the false-pass rate at most alpha for every mix of ties, and its exact figures
agree with brute force."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reviews import lattice
from reviews.gate import GatePolicy, gate_evaluate
from reviews.plan import gate_plan, outcome_resolution
from reviews.sequential import LOSS, TIE, WIN, SequentialTest

# The truncated gate is pure: nothing here reads the database or the broker.
pytestmark = pytest.mark.db_agnostic

TIE_RATES = np.linspace(0, 1, 11)


def truncated(n: int, *, min_n: int = 30, per_item: int = 1, **kw) -> SequentialTest:
    return SequentialTest(
        p0=0.5, p1=0.6, horizon=n, min_n=min_n, resolution=2 * per_item, per_item=per_item, unit="item", **kw
    )


@pytest.mark.parametrize("n", [6, 40, 100, 300])
def test_the_end_bar_keeps_the_false_pass_rate_at_most_alpha_for_every_tie_rate(n):
    test = truncated(n)
    worst = max(test.characteristics(0.5, tie_rate=t).passed for t in TIE_RATES)
    assert worst <= 0.05
    for t in TIE_RATES:  # every campaign ends: nothing is left undecided at the horizon
        figures = test.characteristics(0.5, tie_rate=t)
        assert figures.passed + figures.failed == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("n", [40, 100])
def test_the_end_bar_is_the_lowest_whole_number_of_wins_that_keeps_alpha(n):
    """One win lower and the false-pass rate without ties exceeds alpha: the bar is exact, not padded."""
    test = truncated(n)
    bar = test.end_bar_at(n)
    assert test.end_bar == bar and bar % test.resolution == 0
    no_ties = lattice.outcome_kernels(0.5, resolution=2, per_item=1, tie_rates=[0.0])[0]
    assert lattice.characteristics(test.lattice, no_ties, horizon=n, bar=bar).passed <= 0.05
    assert lattice.characteristics(test.lattice, no_ties, horizon=n, bar=bar - 2).passed > 0.05


def test_a_bar_for_no_units_is_refused_in_words():
    with pytest.raises(ValueError, match="at least one unit"):
        lattice.design_bar(truncated(10).lattice, p0=0.5, alpha=0.05, horizon=0, per_item=1)


@pytest.mark.parametrize("n", [23, 37, 53, 62])
def test_a_few_ties_never_lift_the_false_pass_rate_above_alpha(n):
    """Between the design's tie rates a bar at half a win leaked (0.0554 at N = 37, tie rate 0.028, found by
    bench/gate_simulation.py); a whole-number bar does not, at any tie rate."""
    test = truncated(n)
    fine = lattice.outcome_kernels(0.5, resolution=2, per_item=1, tie_rates=list(np.linspace(0, 0.1, 101)))
    assert max(lattice.characteristics(test.lattice, k, horizon=n, bar=test.end_bar_at(n)).passed for k in fine) <= 0.05


def test_exact_figures_agree_with_every_sequence_enumerated():
    """3^8 sequences of win, tie, loss, each weighed by its probability, through the same decision rule."""
    test = SequentialTest(p0=0.5, p1=0.7, horizon=8, min_n=3)
    for p, t in [(0.5, 0.0), (0.5, 0.3), (0.7, 0.2)]:
        probability = {WIN: p - t / 2, TIE: t, LOSS: 1 - p - t / 2}
        sequences = np.array(list(itertools.product([WIN, TIE, LOSS], repeat=8)))
        weights = np.prod(np.vectorize(probability.get)(sequences), axis=1)
        decided_at, passed = test.first_crossings(sequences)
        assert (decided_at > 0).all()  # every one of them is decided by the end
        exact = test.characteristics(p, tie_rate=t)
        assert exact.passed == pytest.approx(float(weights[passed].sum()), abs=1e-12)
        assert exact.mean_n == pytest.approx(float((weights * decided_at).sum()), abs=1e-9)


@pytest.mark.parametrize("per_item", [2, 3])
def test_with_several_reviewers_per_item_the_bar_holds_for_independent_and_unanimous_reviewers(per_item):
    test = truncated(60, per_item=per_item)
    kernels = lattice.outcome_kernels(0.5, resolution=2 * per_item, per_item=per_item, tie_rates=list(TIE_RATES))
    assert len(kernels) == 2 * len(TIE_RATES)
    worst = max(lattice.characteristics(test.lattice, k, horizon=60, bar=test.end_bar_at(60)).passed for k in kernels)
    assert worst <= 0.05


def test_outcomes_off_the_grid_of_ties_keep_alpha_too():
    """A ranking against three versions gives outcomes in sixths: uniform and two-point laws with mean 0.5."""
    test = SequentialTest(p0=0.5, p1=0.6, horizon=50, min_n=10, resolution=6)
    laws = [
        np.full(7, 1 / 7),
        np.array([0.5, 0, 0, 0, 0, 0, 0.5]),
        np.array([0, 0.25, 0.25, 0, 0.25, 0.25, 0]),
        np.array([0, 0, 0.5, 0, 0.5, 0, 0]),
        # the worst law a search found for the half-win bar: mostly wins and losses, a few partial losses
        np.array([1 - 0.047 - (0.5 - 0.047 / 6), 0.047, 0, 0, 0, 0, 0.5 - 0.047 / 6]),
    ]
    for law in laws:
        assert law @ np.arange(7) / 6 == pytest.approx(0.5)
        assert lattice.characteristics(test.lattice, law, horizon=50, bar=test.end_bar_at(50)).passed <= 0.05


def test_no_decision_before_the_floor_even_when_a_boundary_is_crossed():
    test = truncated(40, min_n=20)
    early_losses = test.path([LOSS] * 12)  # the fail boundary is crossed at 7
    assert early_losses.decision == "continue" and "from 20 items on" in early_losses.explain()
    assert test.path([LOSS] * 20).decided_at == 20


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(outcomes=st.lists(st.sampled_from([WIN, TIE, LOSS]), min_size=40, max_size=40))
def test_forty_judged_items_always_end_in_pass_or_fail(outcomes):
    policy = GatePolicy.from_dict({})
    result = gate_evaluate(policy, outcomes, planned_end=40, unit="item")
    assert result.status in ("pass", "fail")
    assert result.decided_at is not None and result.decided_at <= 40


def test_the_end_says_how_it_decided():
    test = truncated(40)
    # 26 wins and 14 losses: a win rate of 0.65, not enough for the evidence ratio to reach 20, enough for the end
    path = test.path([WIN, LOSS] * 14 + [WIN] * 12)
    assert path.decision == "pass" and path.at_end and path.decided_at == 40
    assert (
        "Reached the planned end, 40 items" in path.explain() and "at least the 26 the end asks for" in path.explain()
    )
    short = test.path([WIN, LOSS] * 20)
    assert short.decision == "fail" and "short of the 26" in short.explain()


def test_a_win_rate_of_0_72_over_40_items_passes_at_the_end():
    """The issue's campaign: 40 items, win rate 0.72, and a gate that said "pending" for ever."""
    outcomes = [WIN] * 29 + [LOSS] * 11
    rng = np.random.default_rng(7)
    for _ in range(20):
        order = list(rng.permutation(outcomes))
        assert gate_evaluate(GatePolicy.from_dict({}), order, planned_end=40, unit="item").status == "pass"


def test_a_campaign_that_runs_out_of_work_decides_at_what_it_has():
    policy = GatePolicy.from_dict({"min_judgments": 5})
    outcomes = [WIN, LOSS] * 8
    assert gate_evaluate(policy, outcomes, planned_end=40).status == "pending"
    ended = gate_evaluate(policy, outcomes, planned_end=40, more_to_come=False)
    assert ended.status == "fail" and ended.path is not None and ended.path.test.horizon == 16


def test_the_plan_states_power_and_warns_in_words_when_the_campaign_is_small():
    plan = gate_plan(GatePolicy.from_dict({}), items=40, overlap=1, resolution=2)
    assert set(plan) >= {"power", "expected_judgments", "max_judgments", "warnings"}
    assert plan["max_judgments"] == 40 and 0.25 < plan["power"] < 0.40
    assert plan["expected_judgments"]["null"] <= 40 and plan["p90_judgments"]["alternative"] <= 40
    (warning,) = plan["warnings"]
    assert warning.startswith(
        f"With 40 items this test detects a 0.60 win rate {plan['power'] * 100:.0f} % of the time; about "
    )
    needed = int(warning.split("about ")[1].split(" items")[0].replace(",", ""))
    assert gate_plan(GatePolicy.from_dict({}), items=needed, overlap=1, resolution=2)["power"] >= 0.8
    assert gate_plan(GatePolicy.from_dict({}), items=needed - 1, overlap=1, resolution=2)["power"] < 0.8
    assert gate_plan(GatePolicy.from_dict({}), items=400, overlap=1, resolution=2)["warnings"] == []


def test_the_plan_warns_when_the_floor_is_beyond_the_end():
    plan = gate_plan(GatePolicy.from_dict({"min_judgments": 50}), items=20, overlap=2, resolution=4)
    assert any("at least 50 judged items, but the campaign has 20" in w for w in plan["warnings"])


def test_outcome_resolution_follows_the_kind():
    assert outcome_resolution(kind="pairwise", overlap=1, compared_versions=2, has_baseline=True) == 2
    assert outcome_resolution(kind="labeling", overlap=3, compared_versions=1, has_baseline=False) == 6
    assert outcome_resolution(kind="ranking", overlap=2, compared_versions=4, has_baseline=False) == 12
    assert outcome_resolution(kind="ranking", overlap=1, compared_versions=4, has_baseline=True) == 2
