"""The results' vectorised paths (reviews/results.py) give exactly what their plain definitions give."""

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from reviews.results import Disagreement, Row, _disagreements


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
