"""A campaign's plan: what its gate can do at its size, stated before anyone spends time on it. Pure.

The gate counts items (a judged item's outcome is the mean of its judgments), so its planned end is the number of
items in the campaign. The plan gives the exact power at the policy's alternative, the expected and 90th-percentile
items to a decision at p0 and at the alternative (no ties, reviewers unanimous: ties only shorten it), and warnings
in words when the campaign is too small for what the policy asks.
"""

from __future__ import annotations

from typing import Any

from reviews import lattice
from reviews.gate import GatePolicy

SEARCH_LIMIT = 50_000  # items: beyond this, "more than 50,000" says enough


def outcome_resolution(*, kind: str, overlap: int, compared_versions: int, has_baseline: bool) -> int:
    """Lattice steps per unit of outcome: a judgment's outcome is a multiple of ½, or of 1/(2m) when a ranking
    without a baseline is read as m comparisons; an item's is the mean of `overlap` of them."""
    per_judgment = 2 * max(compared_versions - 1, 1) if kind == "ranking" and not has_baseline else 2
    return per_judgment * overlap


def gate_plan(policy: GatePolicy, *, items: int, overlap: int, resolution: int) -> dict[str, Any]:
    """The plan for a campaign of `items` items judged by `overlap` reviewers each."""
    warnings: list[str] = []
    if items < 1:
        return {
            "unit": "item",
            "judgments_per_item": overlap,
            "power": 0.0,
            "max_judgments": 0,
            "expected_judgments": {"null": 0.0, "alternative": 0.0},
            "p90_judgments": {"null": 0, "alternative": 0},
            "end_bar_win_rate": None,
            "warnings": ["The campaign has no items: the gate cannot decide anything."],
        }
    test = policy.test(planned_end=items, per_item=overlap, resolution=resolution, unit="item")
    end_bar_win_rate = test.end_bar_win_rate
    assert end_bar_win_rate is not None  # the test ends at `items`
    at_null, at_alt = test.characteristics(policy.min_win_rate), test.characteristics(policy.alternative)
    if policy.min_judgments > items:
        warnings.append(
            f"The policy asks for at least {policy.min_judgments} judged items, but the campaign has {items}: "
            f"the gate decides once all {items} are judged."
        )
    if at_alt.passed < policy.power - 1e-9:
        open_ended = policy.test(per_item=overlap, resolution=resolution)  # its floor is the policy's own
        needed = lattice.units_for_power(
            open_ended.lattice,
            p0=policy.min_win_rate,
            p1=policy.alternative,
            alpha=policy.alpha,
            power=policy.power,
            per_item=overlap,
            n_max=SEARCH_LIMIT,
        )
        enough = (
            f"about {needed:,} items give {_percent(policy.power)}"
            if needed
            else f"even {SEARCH_LIMIT:,} items do not give {_percent(policy.power)}"
        )
        warnings.append(
            f"With {items} items this test detects a {policy.alternative:.2f} win rate "
            f"{_percent(at_alt.passed)} of the time; {enough}."
        )
    return {
        "unit": "item",
        "judgments_per_item": overlap,
        "power": round(at_alt.passed, 4),
        "max_judgments": items,
        "expected_judgments": {"null": round(at_null.mean_n, 1), "alternative": round(at_alt.mean_n, 1)},
        "p90_judgments": {"null": at_null.p90_n, "alternative": at_alt.p90_n},
        "end_bar_win_rate": round(end_bar_win_rate, 4),
        "warnings": warnings,
    }


def _percent(x: float) -> str:
    return f"{x * 100:.0f} %"
