"""reviews.stats against reference libraries (scipy, scikit-learn, krippendorff, choix) and by its properties."""

import itertools
import math

import choix
import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize
from scipy import stats as scipy_stats
from sklearn.metrics import cohen_kappa_score, confusion_matrix, precision_recall_fscore_support

from reviews import stats
from reviews.stats import (
    LOSS,
    TIE,
    WIN,
    PairwiseCounts,
    accuracy_vs_gold,
    bradley_terry,
    by_slice,
    cohen_kappa_pairs,
    comparisons_from_ranks,
    confusion,
    consensus_agreement,
    flag_outliers,
    gold_labels,
    krippendorff_alpha,
    mean_rank_intervals,
    mean_ranks,
    paired_difference,
    pairwise_categories,
    pairwise_counts,
    pairwise_from_rankings,
    plackett_luce,
    position_bias,
    rank_matrix,
    ranking_positions,
    rating_difference,
    rating_differences,
    reliability_matrix,
    t_interval,
    welch_difference,
    wilson_bounds,
    wilson_interval,
)

# Pure statistics over arrays: nothing here reads the database or the broker.
pytestmark = pytest.mark.db_agnostic

TOL = 1e-6
FAST = settings(max_examples=40, deadline=None)


# ---------------------------------------------------------------- helpers


def simulate_pairwise(rng, n_items=5, n=3000, tie_share=0.0):
    strengths = rng.normal(size=n_items)
    first = rng.integers(0, n_items, n)
    second = (first + rng.integers(1, n_items, n)) % n_items
    won = rng.random(n) < 1 / (1 + np.exp(-(strengths[first] - strengths[second])))
    outcome = np.where(won, WIN, LOSS)
    outcome[rng.random(n) < tie_share] = TIE
    return first, second, outcome


def as_choix_pairs(first, second, outcome):
    return [
        (a, b) if o == WIN else (b, a)
        for a, b, o in zip(first.tolist(), second.tolist(), outcome.tolist(), strict=True)
    ]


def simulate_rankings(rng, n_items=5, n=400, min_shown=2):
    strengths = rng.normal(size=n_items)
    rankings = []
    for _ in range(n):
        shown = list(rng.choice(n_items, size=rng.integers(min_shown, n_items + 1), replace=False))
        order = []
        while shown:
            w = np.exp(strengths[shown])
            order.append(int(shown.pop(rng.choice(len(shown), p=w / w.sum()))))
        rankings.append(order)
    return rankings


def random_reliability(rng, reviewers=6, units=50, values=5, missing=0.3):
    m = rng.integers(1, values + 1, size=(reviewers, units)).astype(float)
    m[rng.random(m.shape) < missing] = np.nan
    return m


def nan_to_none(values):
    return [None if math.isnan(v) else v for v in values]


# ---------------------------------------------------------------- proportions


@pytest.mark.parametrize("k, n", [(0, 10), (1, 10), (5, 10), (10, 10), (37, 120), (600, 1000), (1, 1)])
def test_wilson_interval_matches_scipy_binomtest(k, n):
    ours = wilson_interval(k, n)
    ref = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert ours.low == pytest.approx(ref.low, abs=TOL)
    assert ours.high == pytest.approx(ref.high, abs=TOL)


def test_wilson_bounds_is_wilson_interval_elementwise():
    k = np.array([0, 0.5, 3, 7.5, 10, 0])
    n = np.array([10, 10, 10, 10, 10, 0])
    p, low, high = wilson_bounds(k, n)
    for i in range(len(k) - 1):
        one = wilson_interval(k[i], n[i])
        assert (p[i], low[i], high[i]) == pytest.approx((one.estimate, one.low, one.high), abs=1e-15)
    assert np.isnan([p[-1], low[-1], high[-1]]).all()


@given(n=st.integers(1, 10_000), share=st.floats(0, 1), halves=st.booleans())
@FAST
def test_wilson_interval_contains_the_estimate(n, share, halves):
    successes = round(share * n * 2) / 2 if halves else round(share * n)
    interval = wilson_interval(successes, n)
    assert interval.low is not None and interval.estimate is not None and interval.high is not None  # n >= 1
    assert 0.0 <= interval.low <= interval.estimate <= interval.high <= 1.0


def test_t_intervals_match_scipy():
    rng = np.random.default_rng(7)
    c, b = rng.normal(3.4, 1, 40), rng.normal(3.1, 1.5, 40)
    one = t_interval(c)
    ref = scipy_stats.ttest_1samp(c, 0).confidence_interval(0.95)
    assert (one.low, one.high) == pytest.approx((ref.low, ref.high), abs=TOL)
    paired = paired_difference(c, b)
    ref = scipy_stats.ttest_rel(c, b).confidence_interval(0.95)
    assert (paired.low, paired.high, paired.method) == (
        pytest.approx(ref.low, abs=TOL),
        pytest.approx(ref.high, abs=TOL),
        "paired",
    )
    welch = welch_difference(c, b[:25])
    ref = scipy_stats.ttest_ind(c, b[:25], equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert (welch.low, welch.high, welch.df) == (
        pytest.approx(ci.low, abs=TOL),
        pytest.approx(ci.high, abs=TOL),
        pytest.approx(ref.df),
    )


# ---------------------------------------------------------------- rating


def test_rating_difference_is_paired_when_every_judgment_rated_both_else_welch():
    rng = np.random.default_rng(3)
    base = rng.integers(1, 6, 30).astype(float)
    cand = np.clip(base + rng.integers(-1, 3, 30), 1, 5)
    judgments = np.arange(30)
    shuffled = rng.permutation(30)  # pairing is by judgment id, not by position
    diff = rating_difference(
        cand[shuffled], base, candidate_judgments=judgments[shuffled], baseline_judgments=judgments
    )
    ref = scipy_stats.ttest_rel(cand, base).confidence_interval(0.95)
    assert diff.method == "paired"
    assert (diff.low, diff.high) == (pytest.approx(ref.low, abs=TOL), pytest.approx(ref.high, abs=TOL))
    partial = rating_difference(cand[:20], base, candidate_judgments=judgments[:20], baseline_judgments=judgments)
    ref = scipy_stats.ttest_ind(cand[:20], base, equal_var=False).confidence_interval(0.95)
    assert partial.method == "welch"
    assert (partial.low, partial.high) == (pytest.approx(ref.low, abs=TOL), pytest.approx(ref.high, abs=TOL))
    forced = rating_difference(
        cand[:20], base, candidate_judgments=judgments[:20], baseline_judgments=judgments, paired=True
    )
    assert forced.method == "paired" and forced.estimate == pytest.approx((cand[:20] - base[:20]).mean())


def test_rating_differences_per_criterion_and_normalised():
    rubric = [{"name": "fluent", "scale": "likert"}, {"name": "safe", "scale": "pass_fail"}]
    ratings = [
        {1: {"fluent": 5, "safe": "pass"}, 2: {"fluent": 3, "safe": "pass"}},
        {1: {"fluent": 4, "safe": "fail"}, 2: {"fluent": 4, "safe": "fail"}},
        {1: {"fluent": 5, "safe": "pass"}, 2: {"fluent": 2, "safe": "fail"}},
    ]
    result = rating_differences(ratings, rubric, candidate=1, baseline=2)
    assert result["criteria"]["fluent"].estimate == pytest.approx(5 / 3)
    assert result["criteria"]["fluent"].method == "paired"
    assert result["criteria"]["safe"].estimate == pytest.approx(1 / 3)
    assert result["normalised"].estimate == pytest.approx(
        np.mean([stats.normalised_score(j[1], rubric) - stats.normalised_score(j[2], rubric) for j in ratings])
    )


# ---------------------------------------------------------------- pairwise


def test_pairwise_categories_map_deblinded_choices():
    codes = pairwise_categories([7, 3, "tie", "both_bad", 7], candidate=7, baseline=3)
    assert codes.tolist() == [0, 1, 2, 3, 0]
    assert pairwise_counts(codes) == PairwiseCounts(wins=2, losses=1, ties=1, both_bad=1)
    per_task = pairwise_categories([5, 9, 5], candidate=[5, 5, 8], baseline=[9, 9, 5])
    assert per_task.tolist() == [0, 1, 1]
    with pytest.raises(ValueError):
        pairwise_categories([4], candidate=7, baseline=3)


def test_position_bias_matches_binomial_test():
    slots = ["A"] * 60 + ["B"] * 40 + ["tie"] * 7 + ["both_bad"] * 3
    bias = position_bias(slots)
    assert (bias.slot_a, bias.slot_b, bias.undecided) == (60, 40, 10)
    assert bias.rate.estimate == 0.6
    assert bias.p_value == pytest.approx(scipy_stats.binomtest(60, 100).pvalue, abs=1e-12)
    assert bias.rate == wilson_interval(60, 100)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bradley_terry_without_ties_matches_choix(seed):
    rng = np.random.default_rng(seed)
    first, second, outcome = simulate_pairwise(rng)
    data = as_choix_pairs(first, second, outcome)
    fit = bradley_terry(first, second, outcome, prior=0, bootstrap=0)
    assert fit.converged and fit.tie == 0
    np.testing.assert_allclose(fit.scores, choix.mm_pairwise(5, data, tol=1e-13, max_iter=100_000), atol=TOL)
    np.testing.assert_allclose(fit.scores, choix.ilsr_pairwise(5, data, tol=1e-13), atol=TOL)
    assert abs(fit.scores.mean()) < 1e-12


def test_bradley_terry_prior_is_choix_l2_penalty():
    """choix's penalised objective is alpha·Σθ² + Σ log(1 + e^-(θw-θl)); its gradient vanishes at our fit."""
    rng = np.random.default_rng(4)
    first, second, outcome = simulate_pairwise(rng, n=400)
    for prior in (0.01, 1.0):
        fit = bradley_terry(first, second, outcome, prior=prior, bootstrap=0)
        gradient = choix.opt.PairwiseFcts(as_choix_pairs(first, second, outcome), penalty=prior / 2).gradient(
            fit.scores.copy()
        )
        assert np.abs(gradient).max() < TOL


def davidson_nll(params, first, second, outcome, n_items):
    """Davidson (1970), written out per comparison: −Σ log P(outcome)."""
    theta, log_nu = params[:n_items], params[n_items]
    ti, tj = theta[first], theta[second]
    log_norm = np.logaddexp(np.logaddexp(ti, tj), log_nu + (ti + tj) / 2)
    log_p = np.select([outcome == WIN, outcome == LOSS], [ti, tj], log_nu + (ti + tj) / 2) - log_norm
    return -log_p.sum()


def test_bradley_terry_with_ties_solves_davidsons_equations():
    rng = np.random.default_rng(5)
    first, second, outcome = simulate_pairwise(rng, n=4000, tie_share=0.25)
    fit = bradley_terry(first, second, outcome, prior=0, bootstrap=0)
    pi, nu = np.exp(fit.scores), fit.tie
    # Davidson's likelihood equations: each item's wins + ties/2, and the ties, equal their expectations
    expected_points, points = np.zeros(5), np.zeros(5)
    geo = np.sqrt(pi[first] * pi[second])
    denom = pi[first] + pi[second] + nu * geo
    np.add.at(expected_points, first, (pi[first] + nu * geo / 2) / denom)
    np.add.at(expected_points, second, (pi[second] + nu * geo / 2) / denom)
    np.add.at(points, first, np.select([outcome == WIN, outcome == TIE], [1.0, 0.5], 0.0))
    np.add.at(points, second, np.select([outcome == LOSS, outcome == TIE], [1.0, 0.5], 0.0))
    np.testing.assert_allclose(expected_points, points, atol=1e-8)
    assert (nu * geo / denom).sum() == pytest.approx((outcome == TIE).sum(), abs=1e-8)
    # and an independent optimiser lands on the same point
    start = np.zeros(6)
    ref = optimize.minimize(
        davidson_nll, start, args=(first, second, outcome, 5), method="BFGS", options={"gtol": 1e-9}
    )
    theta = ref.x[:5] - ref.x[:5].mean()
    np.testing.assert_allclose(fit.scores, theta, atol=1e-5)
    assert math.log(fit.tie) == pytest.approx(ref.x[5], abs=1e-5)
    assert davidson_nll(np.r_[fit.scores, math.log(fit.tie)], first, second, outcome, 5) <= ref.fun + 1e-9


def test_bradley_terry_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(6)
    first, second, outcome = simulate_pairwise(rng, n_items=4, n=2000, tie_share=0.1)
    fit = bradley_terry(first, second, outcome, bootstrap=200, seed=1)
    again = bradley_terry(first, second, outcome, bootstrap=200, seed=1)
    assert fit.bootstrap == 200
    assert fit.low is not None and fit.high is not None and fit.tie_low is not None and fit.tie_high is not None
    np.testing.assert_array_equal(fit.low, again.low)
    assert (fit.low < fit.scores).all() and (fit.scores < fit.high).all()
    assert fit.tie_low < fit.tie < fit.tie_high
    two = bradley_terry(first[first + second == 1], second[first + second == 1], outcome[first + second == 1])
    assert two.bootstrap == 0 and two.low is None  # two versions: the Wilson interval of the win rate says it


def test_bradley_terry_stays_finite_when_one_item_wins_everything():
    fit = bradley_terry([0, 0, 1, 1, 2], [1, 2, 2, 2, 0], [WIN, WIN, WIN, TIE, LOSS], items=[0, 1, 2, 3])
    assert fit.converged and np.isfinite(fit.scores[:3]).all() and fit.scores[0] > fit.scores[1] > fit.scores[2]
    assert np.isnan(fit.scores[3]) and fit.as_dict()["scores"][3]["score"] is None  # listed, never compared
    assert np.nanmean(fit.scores) == pytest.approx(0, abs=1e-12)
    assert sum(fit.probabilities(0, 1)) == pytest.approx(1.0)


@given(seed=st.integers(0, 10_000), perm_seed=st.integers(0, 10_000))
@FAST
def test_bradley_terry_ignores_item_labels_and_judgment_order(seed, perm_seed):
    rng = np.random.default_rng(seed)
    first, second, outcome = simulate_pairwise(rng, n_items=4, n=60, tie_share=0.2)
    fit = bradley_terry(first, second, outcome, bootstrap=20)
    perm = np.random.default_rng(perm_seed).permutation(len(first))
    shuffled = bradley_terry(first[perm], second[perm], outcome[perm], bootstrap=20)
    np.testing.assert_allclose(shuffled.scores, fit.scores, atol=1e-9)
    assert shuffled.low is not None and fit.low is not None
    np.testing.assert_allclose(shuffled.low, fit.low, atol=1e-6)
    names = np.array(["d", "a", "c", "b"])  # relabel: item k becomes names[k]
    relabelled = bradley_terry(names[first], names[second], outcome, bootstrap=0)
    for k, name in enumerate(names):
        assert relabelled.score(name) == pytest.approx(fit.scores[k], abs=1e-9)
    swapped = bradley_terry(second, first, -outcome, bootstrap=0)  # the same comparisons read from the other side
    np.testing.assert_allclose(swapped.scores, fit.scores, atol=1e-9)


# ---------------------------------------------------------------- ranking


def test_rank_matrix_agrees_with_ranking_positions_and_mean_ranks():
    rankings = [[[1], [2, 3]], [[3], [1], [2]], [[2, 1, 3]], [[3, 2]]]
    ranks, items = rank_matrix(rankings)
    assert items == [1, 2, 3]
    for r, ranking in enumerate(rankings):
        expected = ranking_positions(ranking)
        assert {item: ranks[r, k] for k, item in enumerate(items) if not np.isnan(ranks[r, k])} == expected
    ours = mean_rank_intervals(ranks, items)
    for item, figures in mean_ranks(rankings).items():
        assert ours[item] == pytest.approx(figures)


def test_comparisons_from_ranks_agree_with_pairwise_from_rankings():
    rankings = [[[1], [2, 3]], [[3], [1], [2]], [[2, 1, 3]], [[3, 2]], [[1, 2], [3]]]
    ranks, items = rank_matrix(rankings)
    first, second, outcome, group = comparisons_from_ranks(ranks, items)
    mine = (first == 1) & (second == 2)
    counts = pairwise_from_rankings(rankings, candidate=1, opponents=[2])
    assert (np.sum(outcome[mine] == WIN), np.sum(outcome[mine] == LOSS), np.sum(outcome[mine] == TIE)) == (
        counts.wins,
        counts.losses,
        counts.ties,
    )
    fit = bradley_terry(first, second, outcome, groups=group, bootstrap=50)
    assert fit.items == [1, 2, 3] and fit.bootstrap == 50


def test_grouped_bootstrap_without_the_dense_table_agrees(monkeypatch):
    rng = np.random.default_rng(8)
    rankings = [[[int(v)] for v in rng.permutation(4)] for _ in range(600)]
    ranks, items = rank_matrix(rankings)
    first, second, outcome, group = comparisons_from_ranks(ranks, items)
    dense = bradley_terry(first, second, outcome, groups=group, bootstrap=200)
    monkeypatch.setattr(stats.pairwise, "DENSE_LIMIT", 0)
    looped = bradley_terry(first, second, outcome, groups=group, bootstrap=200)
    np.testing.assert_array_equal(looped.scores, dense.scores)
    assert looped.low is not None and looped.high is not None and dense.low is not None and dense.high is not None
    np.testing.assert_allclose(looped.high - looped.low, dense.high - dense.low, rtol=0.3)


@pytest.mark.parametrize("seed", [0, 1])
def test_plackett_luce_without_ties_matches_choix(seed):
    rng = np.random.default_rng(seed)
    rankings = simulate_rankings(rng)
    ranks, items = rank_matrix([[[v] for v in r] for r in rankings], items=list(range(5)))
    data = [tuple(r) for r in rankings]  # choix takes each ranking as a tuple of item indices
    fit = plackett_luce(ranks, items, prior=0, bootstrap=0)
    assert fit.converged
    np.testing.assert_allclose(fit.scores, choix.mm_rankings(5, data, tol=1e-13, max_iter=100_000), atol=TOL)
    np.testing.assert_allclose(fit.scores, choix.ilsr_rankings(5, data, tol=1e-13), atol=TOL)
    regularised = plackett_luce(ranks, items, prior=0.5, bootstrap=0)
    np.testing.assert_allclose(
        regularised.scores, choix.mm_rankings(5, data, alpha=0.5, tol=1e-13, max_iter=100_000), atol=TOL
    )


def test_plackett_luce_reads_a_tie_as_every_order_equally_weighted():
    """A ranking with one tied pair is worth two half-weight orders: the same fit as choix on data in which every
    untied ranking appears twice and each tied ranking once per order."""
    rng = np.random.default_rng(9)
    rankings = simulate_rankings(rng, n_items=4, n=300, min_shown=4)
    with_ties, doubled = [], []
    for r in rankings:
        if rng.random() < 0.3:  # the middle two tie
            with_ties.append([[r[0]], [r[1], r[2]], [r[3]]])
            doubled += [tuple(r), (r[0], r[2], r[1], r[3])]
        else:
            with_ties.append([[v] for v in r])
            doubled += [tuple(r)] * 2
    ranks, items = rank_matrix(with_ties, items=list(range(4)))
    fit = plackett_luce(ranks, items, prior=0, bootstrap=0)
    np.testing.assert_allclose(fit.scores, choix.mm_rankings(4, doubled, tol=1e-13, max_iter=100_000), atol=TOL)


def test_plackett_luce_bootstrap_and_absent_items():
    rng = np.random.default_rng(2)
    rankings = simulate_rankings(rng, n_items=4, n=300)
    ranks, items = rank_matrix([[[v] for v in r] for r in rankings], items=[0, 1, 2, 3, 99])
    fit = plackett_luce(ranks, items, bootstrap=100, seed=3)
    assert np.isnan(fit.scores[4]) and fit.as_dict()["scores"][4]["score"] is None
    assert fit.low is not None and fit.high is not None
    assert (fit.low[:4] < fit.scores[:4]).all() and (fit.scores[:4] < fit.high[:4]).all()
    assert np.nanmean(fit.scores) == pytest.approx(0, abs=1e-12)


@given(seed=st.integers(0, 10_000))
@settings(max_examples=15, deadline=None)
def test_plackett_luce_ignores_ranking_order(seed):
    rng = np.random.default_rng(seed)
    rankings = simulate_rankings(rng, n_items=4, n=40)
    ranks, items = rank_matrix([[[v] for v in r] for r in rankings], items=list(range(4)))
    fit = plackett_luce(ranks, items, bootstrap=0)
    again = plackett_luce(ranks[rng.permutation(len(ranks))], items, bootstrap=0)
    np.testing.assert_allclose(again.scores, fit.scores, atol=1e-9)


# ---------------------------------------------------------------- labeling


def test_gold_labels_by_majority_with_ties_listed():
    items = ["x", "x", "x", "y", "y", "z", "w", "w", "w", "w"]
    labels = ["cat", "cat", "dog", "cat", "dog", "bird", "dog", "dog", "cat", "bird"]
    gold = gold_labels(items, labels)
    assert gold.gold == {"x": "cat", "z": "bird", "w": "dog"}
    assert gold.tied == ["y"]
    assert gold.support["x"] == (2, 3)
    strict = gold_labels(items, labels, min_votes=2)
    assert "z" not in strict.gold and strict.too_few == ["z"]


@given(seed=st.integers(0, 10_000))
@FAST
def test_gold_labels_ignore_judgment_order(seed):
    rng = np.random.default_rng(seed)
    items, labels = rng.integers(0, 15, 60), rng.choice(["a", "b", "c"], 60)
    perm = rng.permutation(60)
    assert gold_labels(items, labels) == gold_labels(items[perm], labels[perm])


def test_accuracy_confusion_precision_recall_match_sklearn():
    rng = np.random.default_rng(11)
    labels = ["a", "b", "c", "d"]
    gold = {k: str(rng.choice(labels[:3])) for k in range(200)}
    predictions = {
        k: (v if v != "c" and rng.random() < 0.6 else str(rng.choice(["a", "b"]))) for k, v in gold.items() if k % 10
    }
    accuracy = accuracy_vs_gold(gold, predictions)
    keys = [k for k in gold if k in predictions]
    y_true, y_pred = [gold[k] for k in keys], [predictions[k] for k in keys]
    assert accuracy.missing == 20 and accuracy.n == 180
    assert accuracy.rate == wilson_interval(sum(a == b for a, b in zip(y_true, y_pred, strict=True)), 180)
    cm = confusion(gold, predictions, labels=labels)
    np.testing.assert_array_equal(cm.matrix, confusion_matrix(y_true, y_pred, labels=labels))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=np.nan
    )
    # c is never predicted (precision undefined), d is nowhere (all undefined)
    assert cm.precision[2] is None and cm.recall[3] is None and cm.f1[3] is None
    assert cm.precision == pytest.approx(nan_to_none(precision.tolist()), abs=TOL)
    assert cm.recall == pytest.approx(nan_to_none(recall.tolist()), abs=TOL)
    assert cm.f1 == pytest.approx(nan_to_none(f1.tolist()), abs=TOL)
    assert cm.support == support.tolist()


def test_label_sets_work_as_labels():
    gold = gold_labels([1, 1, 2], [frozenset({"a", "b"}), frozenset({"b", "a"}), frozenset()])
    assert gold.gold == {1: frozenset({"a", "b"}), 2: frozenset()}
    assert accuracy_vs_gold(gold.gold, {1: frozenset({"a", "b"}), 2: frozenset({"a"})}).correct == 1


# ---------------------------------------------------------------- agreement


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
@pytest.mark.parametrize("seed", range(4))
def test_krippendorff_alpha_matches_the_krippendorff_package(level, seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, 60)
    m = np.clip(truth + rng.integers(-1, 2, size=(7, 60)) * (rng.random((7, 60)) < 0.4), 1, 5).astype(float)
    m[rng.random(m.shape) < 0.35] = np.nan
    ours = krippendorff_alpha(m, level)
    ref = krippendorff.alpha(reliability_data=m, level_of_measurement=level)
    assert ours == pytest.approx(ref, abs=TOL)
    noise = random_reliability(rng)
    assert krippendorff_alpha(noise, level) == pytest.approx(
        krippendorff.alpha(reliability_data=noise, level_of_measurement=level), abs=TOL
    )


def test_krippendorff_2011_worked_example():
    """The nominal example of Krippendorff (2011), section C: α = 0.743 (0.815 interval, 0.849 ratio is for E)."""
    m = np.array(
        [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
            [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan],
        ]
    )
    assert krippendorff_alpha(m, "nominal") == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(m, "ordinal") == pytest.approx(0.815, abs=5e-4)
    assert krippendorff_alpha(m, "interval") == pytest.approx(0.849, abs=5e-4)
    assert krippendorff_alpha(np.ones((3, 4)), "nominal") is None  # no variation: undefined


@st.composite
def perfect_agreement(draw):
    units = draw(st.integers(2, 12))
    values = draw(st.lists(st.integers(1, 5), min_size=units, max_size=units).filter(lambda v: len(set(v)) > 1))
    reviewers = draw(st.integers(2, 5))
    m = np.tile(np.array(values, dtype=float), (reviewers, 1))
    seen = draw(
        st.lists(st.lists(st.booleans(), min_size=reviewers, max_size=reviewers), min_size=units, max_size=units)
    )
    for u, column in enumerate(seen):
        for r, keep in enumerate(column):
            if not keep and np.count_nonzero(~np.isnan(m[:, u])) > 2:
                m[r, u] = np.nan
    return m


@given(m=perfect_agreement(), level=st.sampled_from(["nominal", "ordinal", "interval", "ratio"]))
@FAST
def test_alpha_is_one_for_perfect_agreement(m, level):
    assert krippendorff_alpha(m, level) == pytest.approx(1.0)


@given(seed=st.integers(0, 10_000), level=st.sampled_from(["nominal", "ordinal", "interval"]))
@FAST
def test_alpha_ignores_the_order_of_reviewers_and_units(seed, level):
    rng = np.random.default_rng(seed)
    m = random_reliability(rng, reviewers=4, units=15, values=3)
    shuffled = m[rng.permutation(4)][:, rng.permutation(15)]
    a, b = krippendorff_alpha(m, level), krippendorff_alpha(shuffled, level)
    assert (a is None and b is None) or a == pytest.approx(b, abs=1e-12)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_for_every_pair_matches_sklearn(weights):
    rng = np.random.default_rng(12)
    truth = rng.integers(0, 4, 200)
    m = np.where(rng.random((6, 200)) < 0.7, truth, rng.integers(0, 4, (6, 200))).astype(float)
    m[rng.random(m.shape) < 0.4] = np.nan
    table = cohen_kappa_pairs(m, weights=weights)
    assert len(table.pairs()) == 15
    for a, b in itertools.combinations(range(6), 2):
        both = ~np.isnan(m[a]) & ~np.isnan(m[b])
        ref = cohen_kappa_score(m[a, both], m[b, both], weights=weights, labels=[0, 1, 2, 3])
        assert table.kappa[a, b] == pytest.approx(ref, abs=TOL)
        assert table.n[a, b] == both.sum()


@given(seed=st.integers(0, 10_000))
@FAST
def test_kappa_is_symmetric(seed):
    rng = np.random.default_rng(seed)
    m = random_reliability(rng, reviewers=4, units=20, values=3)
    table = cohen_kappa_pairs(m)
    np.testing.assert_array_equal(np.isnan(table.kappa), np.isnan(table.kappa.T))
    np.testing.assert_allclose(table.kappa, table.kappa.T, atol=1e-12)
    swapped = cohen_kappa_pairs(m[[1, 0, 2, 3]])
    np.testing.assert_allclose(swapped.kappa[1, 0], table.kappa[0, 1], atol=1e-12)


@given(seed=st.integers(0, 10_000), reviewers=st.integers(2, 7), values=st.integers(1, 4))
@FAST
def test_consensus_agreement_matches_a_plain_loop(seed, reviewers, values):
    rng = np.random.default_rng(seed)
    m = random_reliability(rng, reviewers=reviewers, units=30, values=values, missing=0.4)
    ours = consensus_agreement(m)
    for r in range(reviewers):
        agreed = units = 0
        for u in range(30):
            if np.isnan(m[r, u]):
                continue
            others = [m[o, u] for o in range(reviewers) if o != r and not np.isnan(m[o, u])]
            if not others:
                continue
            counts = {v: others.count(v) for v in set(others)}
            top = max(counts.values())
            if list(counts.values()).count(top) > 1:
                continue
            units += 1
            agreed += counts.get(m[r, u], 0) == top
        assert (ours.agreed[r], ours.units[r]) == (agreed, units)


def test_a_random_clicker_is_flagged():
    rng = np.random.default_rng(14)
    truth = rng.integers(0, 4, 300)
    care = np.linspace(0.7, 0.95, 10)[:, None]  # reviewers differ in care
    m = np.where(rng.random((10, 300)) < care, truth, rng.integers(0, 4, (10, 300))).astype(float)
    m[9] = rng.integers(0, 4, 300)  # reviewer 9 answers at random
    m[8, 20:] = np.nan  # reviewer 8 judged too little to be assessed
    m[rng.random(m.shape) < 0.3] = np.nan
    report = flag_outliers(consensus_agreement(m, reviewers=[f"r{k}" for k in range(10)]), min_units=30)
    assert [row["reviewer"] for row in report.flagged] == ["r9"]
    assert report.too_few_units == ["r8"]
    with_floor = flag_outliers(consensus_agreement(m), floor=0.99, min_units=30)
    assert len(with_floor.flagged) == 9


def test_reliability_matrix_from_judgment_rows():
    data = reliability_matrix(["ann", "bob", "ann", "bob"], [10, 10, 11, 11], ["candidate", "tie", "tie", "tie"])
    assert data.reviewers == ["ann", "bob"] and data.units == [10, 11] and data.categories == ["candidate", "tie"]
    np.testing.assert_array_equal(data.matrix, [[0, 1], [1, 1]])
    with pytest.raises(ValueError):
        reliability_matrix(["ann", "ann"], [1, 1], [1, 2])


# ---------------------------------------------------------------- slices


def test_by_slice_computes_per_tag_and_skips_small_slices():
    rng = np.random.default_rng(15)
    won = rng.random(500) < 0.6
    tags = [["en"] + (["long"] if k % 3 == 0 else []) + (["rare"] if k < 10 else []) for k in range(500)]
    tags[7].append("en")  # listed twice: still counted once
    result = by_slice(tags, lambda idx: wilson_interval(won[idx].sum(), len(idx)), min_size=30)
    assert list(result) == ["all", "en", "long", "rare"]
    assert result["all"].figure == wilson_interval(won.sum(), 500)
    assert result["en"].n == 500
    long_ = np.arange(0, 500, 3)
    assert result["long"].figure == wilson_interval(won[long_].sum(), len(long_))
    assert (
        result["rare"].figure is None and result["rare"].n == 10 and "fewer than the 30" in (result["rare"].note or "")
    )
    assert result["rare"].as_dict()["figure"] is None


# ---------------------------------------------------------------- the package


def test_importing_stats_loads_neither_django_nor_scipy():
    """Pure and light: the web process pays for scipy.special only when a t quantile or p-value is asked for."""
    import subprocess
    import sys

    code = "import sys, reviews.stats; print(sorted(m for m in ('django', 'scipy') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(__import__("pathlib").Path(__file__).resolve().parent.parent),
    )
    assert out.stdout.strip() == "[]"


def test_every_public_name_is_exported():
    modules = {"agreement", "labeling", "pairwise", "proportions", "ranking", "rating", "slices"}
    public = {name for name in dir(stats) if not name.startswith("_") and name not in modules}
    assert public == set(stats.__all__)
