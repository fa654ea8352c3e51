"""The results' vectorised paths (reviews/results.py) give exactly what their plain definitions give."""

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reviews.models import Campaign
from reviews.results import Disagreement, Row, _disagreements, gate_units, item_unit

# Functions over in-memory rows: nothing here reads the database or the broker.
pytestmark = pytest.mark.db_agnostic


def disagreements_by_definition(rows: list[Row], limit: int = 50) -> list[Disagreement]:
    """Items whose judgments give more than one answer, fewest agreeing first, then most judgments, then first
    judged: as the results computed them one item at a time."""
    by_task: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        by_task[row.task].append(row)
    contested: list[Disagreement] = []
    for task, group in by_task.items():
        answers: dict[str, int] = defaultdict(int)
        for row in group:
            answers[repr(row.value)] += 1
        if len(answers) > 1:
            share = max(answers.values()) / len(group)
            contested.append(Disagreement(task=task, item=group[0].item, judgments=len(group), majority_share=share))
    contested.sort(key=lambda c: (c["majority_share"], -c["judgments"]))
    return contested[:limit]


pairwise_answers = st.sampled_from(["candidate", "baseline", "tie", "both_bad"])
ranking_answers = st.sampled_from([[[1], [2]], [[2], [1]], [[1, 2]]])


@settings(max_examples=200, deadline=None)
@given(
    judged=st.lists(st.tuples(st.integers(1, 30), st.one_of(pairwise_answers)), max_size=200)
    | st.lists(st.tuples(st.integers(1, 30), ranking_answers), max_size=200),
    limit=st.integers(1, 60),
)
def test_disagreements_are_the_contested_items_most_divided_first(judged, limit):
    rows = [Row(i, task, f"item-{task}", [], "rev", 0, "", "", answer, 0.5) for i, (task, answer) in enumerate(judged)]
    assert _disagreements(rows, limit) == disagreements_by_definition(rows, limit)


def gate_units_by_definition(overlap: int, rows: list[Row]) -> list[tuple[int, float]]:
    """Each item's unit, one item at a time (reviews.results.item_unit), ordered by the judgment that completed it."""
    by_task: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        by_task[row.task].append(row)
    units = []
    for group in by_task.values():
        if len(group) >= overlap:
            units.append((group[overlap - 1].id, sum(r.outcome for r in group[:overlap]) / overlap))
    return sorted(units)


@settings(max_examples=300, deadline=None)
@given(
    judged=st.lists(
        st.tuples(st.integers(1, 25), st.sampled_from([0.0, 0.25, 1 / 3, 0.5, 2 / 3, 0.7, 1.0])), max_size=150
    ),
    overlap=st.integers(1, 4),
    gaps=st.lists(st.integers(1, 5), min_size=150, max_size=150),
)
def test_gate_units_are_each_items_mean_of_its_first_judgments_in_completion_order(judged, overlap, gaps):
    ids = np.cumsum(gaps)[: len(judged)]  # increasing, not consecutive (undone judgments leave holes)
    rows = [
        Row(int(i), task, f"item-{task}", [], "rev", 0, "", "", "", o) for i, (task, o) in zip(ids, judged, strict=True)
    ]
    campaign = Campaign(overlap=overlap)
    units = gate_units(campaign, rows)
    assert units == gate_units_by_definition(overlap, rows)
    assert all(type(i) is int and type(o) is float for i, o in units)
    for i, _ in units:  # the tally's own per-item reading agrees
        completed = next(r.task for r in rows if r.id == i)
        assert item_unit(campaign, [r for r in rows if r.task == completed]) == next(u for u in units if u[0] == i)
