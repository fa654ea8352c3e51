"""The inspection alert's drop test, cross-checked with scipy: the two-proportion z-test (labeling) and Welch's
t-test (rating), one-sided; the alert decision over periods; the schedule periods."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from inspections.periods import format_every, last_complete_period, parse_every
from inspections.trend import drop_check, mean_drop, proportion_drop

pytestmark = pytest.mark.db_agnostic


def scipy_two_proportion(x1: int, n1: int, x0: int, n0: int) -> tuple[float, float]:
    """The pooled two-proportion z-test as the chi-square test of the 2x2 table without continuity correction:
    z^2 = chi2, and the one-sided p-value is Phi(z)."""
    table = np.array([[x1, n1 - x1], [x0, n0 - x0]])
    chi2, _, _, _ = stats.chi2_contingency(table, correction=False)
    z = np.sign(x1 / n1 - x0 / n0) * np.sqrt(chi2)
    return float(z), float(stats.norm.cdf(z))


@settings(max_examples=200, deadline=None)
@given(
    n1=st.integers(5, 400),
    n0=st.integers(5, 1200),
    p1=st.floats(0.05, 0.95),
    p0=st.floats(0.05, 0.95),
)
def test_the_two_proportion_z_test_matches_scipys_chi_square(n1, n0, p1, p0):
    x1, x0 = round(n1 * p1), round(n0 * p0)
    result = proportion_drop(x1, n1, x0, n0)
    if (x1 + x0) in (0, n1 + n0):
        assert result is None
        return
    assert result is not None
    z, p = scipy_two_proportion(x1, n1, x0, n0)
    assert result.statistic == pytest.approx(z, rel=1e-9, abs=1e-9)
    assert result.p_value == pytest.approx(p, rel=1e-7, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    last=st.lists(st.floats(0, 1), min_size=2, max_size=60),
    previous=st.lists(st.floats(0, 1), min_size=2, max_size=120),
)
def test_welchs_one_sided_t_test_matches_scipy(last, previous):
    result = mean_drop(last, previous)
    if np.var(last) / len(last) + np.var(previous) / len(previous) < 1e-15:
        return  # no spread worth the name: scipy itself warns its answer is unreliable there
    assert result is not None
    expected = stats.ttest_ind(last, previous, equal_var=False, alternative="less")
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-6, abs=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-9)


def test_a_labeling_drop_from_95_to_40_percent_alerts_and_a_wobble_does_not():
    steady = [(19, 20), (19, 20), (18, 20)]
    alert = drop_check("labeling", [*steady, (8, 20)], floor=None)
    assert alert is not None and alert["test"]["test"] == "two-proportion z-test"
    assert alert["test"]["p_value"] < 0.05 and "one-sided p =" in alert["reasons"][0]
    assert drop_check("labeling", [*steady, (17, 20)], floor=None) is None
    # only the previous 4 periods are pooled: an old, better period does not make today look worse
    assert drop_check("labeling", [(20, 20), (20, 20), *steady, (18, 20), (17, 20)], floor=None) is None


def test_a_rating_drop_uses_welch_and_the_floor_alerts_on_its_own():
    previous = [[0.9, 0.8, 1.0, 0.85, 0.95]] * 3
    alert = drop_check("rating", [*previous, [0.2, 0.3, 0.25, 0.1, 0.4]], floor=None)
    assert alert is not None and alert["test"]["test"] == "Welch t-test" and alert["test"]["p_value"] < 0.001
    floor_only = drop_check("rating", [[0.5, 0.6]], floor=0.7)
    assert floor_only is not None and floor_only["test"] is None and "below the floor 0.700" in floor_only["reasons"][0]
    assert drop_check("rating", [[0.5, 0.6]], floor=0.5) is None


def test_periods_parse_and_run_only_once_they_end():
    assert [parse_every(t) for t in ("7d", "1d", "12h", "30m", "5s", "2w")] == [
        604800,
        86400,
        43200,
        1800,
        5,
        1209600,
    ]
    assert format_every(604800) == "1w" and format_every(43200) == "12h" and format_every(5) == "5s"
    for bad in ("", "7", "d", "0h", "1y", "400d"):
        with pytest.raises(ValueError, match="is not a period"):
            parse_every(bad)
    anchor = datetime(2026, 11, 1, tzinfo=UTC)
    assert last_complete_period(anchor, 3600, anchor + timedelta(minutes=59)) is None
    assert last_complete_period(anchor, 3600, anchor + timedelta(hours=2, minutes=5)) == (
        anchor + timedelta(hours=1),
        anchor + timedelta(hours=2),
    )
