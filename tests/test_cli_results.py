"""`signoff results` as text for every kind: each kind's own figures, read from the server's real answer.

(The command itself, run as a subprocess against a live server, is in tests/test_cli.py; here the text it prints
from the results of a ranking, a rating with a baseline and a labeling campaign, judged through the API.)"""

import pytest

from signoff_cli.results import interval, results_text
from tests.test_kinds_api import RUBRIC, create_campaign, judge_all, ranked, results

pytestmark = pytest.mark.django_db


def test_ranking_results_list_mean_ranks_best_first_and_the_plackett_luce_scores(api, loop_data):
    cid = create_campaign(api, loop_data, kind="ranking")
    plan = [("calc:2", "calc:1")] * 5 + [("calc:1", "calc:2")]
    judge_all(api["reviewer"], cid, lambda task, k: ranked(task, *plan[k]))
    body = results(api, cid)

    lines = results_text(body).splitlines()

    start = lines.index("mean rank (1 is best):")
    assert lines[start + 1 : start + 3] == [
        f"  calc:2: {interval(body['mean_rank']['calc:2'], 'mean')} (n 6)",
        f"  calc:1: {interval(body['mean_rank']['calc:1'], 'mean')} (n 6)",
    ]
    assert lines[start + 1].startswith("  calc:2: 1.167 [")
    assert "Plackett–Luce scores:" in lines
    assert lines[0] == f"campaign {cid} (ranking): 6 judgments, versions calc:2, calc:1"


def test_rating_results_show_each_criterion_and_the_difference_to_the_baseline(api, loop_data):
    cid = create_campaign(api, loop_data, kind="rating", rubric=RUBRIC)
    plan = [(5, "pass"), (4, "pass"), (4, "fail"), (3, "pass"), (5, "pass"), (2, "pass")]
    judge_all(
        api["reviewer"],
        cid,
        lambda task, k: {
            "ratings": {
                slot: {"accuracy": plan[k][0], "safe": plan[k][1]} if n == 0 else {"accuracy": 3, "safe": "pass"}
                for n, slot in enumerate(sorted(o["slot"] for o in task["outputs"]))
            }
        },
    )
    body = results(api, cid)

    text = results_text(body)

    for version, criteria in body["criteria"].items():
        assert f"\n{version}:\n  accuracy: {interval(criteria['accuracy'], 'mean')} (n 6)\n" in text
    assert "candidate minus baseline:\n  accuracy: " in text
    assert f"  all criteria, normalised: {interval(body['difference_to_baseline']['normalised'])}" in text


def test_labeling_results_show_the_gold_labels_and_each_versions_accuracy(api, loop_data):
    cid = create_campaign(api, loop_data, kind="labeling", baseline=None, labels=["correct", "wrong"])
    judge_all(api["reviewer"], cid, lambda task, k: {"labels": ["correct" if k % 3 else "wrong"]})
    body = results(api, cid)

    text = results_text(body)

    labeling = body["labeling"]
    accuracy = labeling["accuracy"]["calc:2"]
    assert f"gold labels: {labeling['gold_items']} items ({labeling['tied_items']} tied)" in text
    assert f"  calc:2 accuracy: {interval(accuracy)} ({accuracy['correct']} of {accuracy['n']})" in text
    assert labeling["gold_items"] == 6
