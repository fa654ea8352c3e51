"""Diff-first campaigns: `"items": "changed"` makes tasks only of items whose candidate and baseline outputs differ,
records how many were identical, plans on the changed count, and the results say the gate tests the win rate where
outputs differ and give the implied win rate over all items (identical outputs as ties) with its interval."""

from typing import Any

import numpy as np
import pytest

from reviews.models import Campaign
from reviews.stats import Interval, implied_win_rate, wilson_interval
from tests.factories import jsonl_file

N, CHANGED_FROM = 10, 6  # items q6..q9: the baseline is wrong there, identical elsewhere
ITEMS: list[dict[str, Any]] = [{"id": f"q{i}", "input": f"what is {i} + {i}?", "tags": ["t"]} for i in range(N)]


def _upload(client, version: str, outputs: dict[str, Any]) -> None:
    response = client.post(
        f"/api/v1/models/calc/versions/{version}/predictions/",
        {
            "dataset": "sums",
            "dataset_version": 1,
            "file": jsonl_file([{"id": k, "output": v} for k, v in outputs.items()]),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()


@pytest.fixture
def sums(api):
    ds = api["ds"]
    assert ds.post("/api/v1/datasets/", {"name": "sums"}, format="json").status_code == 201
    assert (
        ds.post("/api/v1/datasets/sums/versions/", {"file": jsonl_file(ITEMS)}, format="multipart").status_code == 201
    )
    assert ds.post("/api/v1/models/", {"name": "calc"}, format="json").status_code == 201
    for version in ("new", "old", "same"):
        assert ds.post("/api/v1/models/calc/versions/", {"version": version}, format="json").status_code == 201
    _upload(ds, "new", {f"q{i}": str(2 * i) for i in range(N)})
    _upload(ds, "old", {f"q{i}": str(2 * i + (i >= CHANGED_FROM)) for i in range(N)})
    _upload(ds, "same", {f"q{i}": str(2 * i) for i in range(N)})
    return api


def create(api, **fields):
    body = {
        "name": "diff first",
        "kind": "pairwise",
        "dataset": "sums",
        "dataset_version": 1,
        "candidate": "calc:new",
        "baseline": "calc:old",
        "reviewers": ["rev"],
        "items": "changed",
        "gate": {"min_judgments": 1, "min_win_rate": 0.5, "alternative": 0.9, "stop_when_decided": False},
        **fields,
    }
    return api["ds"].post("/api/v1/campaigns/", body, format="json")


def test_a_diff_first_campaign_has_tasks_only_for_changed_items_and_records_the_identical(sums):
    response = create(sums)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["tasks"], body["items"], body["identical_items"]) == (N - CHANGED_FROM, "changed", CHANGED_FROM)
    assert body["plan"]["max_judgments"] == N - CHANGED_FROM  # the plan is made for the changed count
    campaign = Campaign.objects.get(pk=body["id"])
    assert sorted(campaign.tasks.ordinary().values_list("item__external_id", flat=True)) == ["q6", "q7", "q8", "q9"]
    detail = sums["ds"].get(f"/api/v1/campaigns/{body['id']}/").json()
    assert (detail["items"], detail["identical_items"]) == ("changed", CHANGED_FROM)


def test_the_default_still_reviews_every_item(sums):
    body = create(sums, items="all").json()
    assert (body["tasks"], body["items"], body["identical_items"]) == (N, "all", 0)
    plain = {
        "name": "plain",
        "kind": "pairwise",
        "dataset": "sums",
        "dataset_version": 1,
        "candidate": "calc:new",
        "baseline": "calc:old",
        "reviewers": ["rev"],
    }
    response = sums["ds"].post("/api/v1/campaigns/", plain, format="json")
    assert response.status_code == 201, response.json()  # no "items" field: the contract before diff-first
    assert (response.json()["tasks"], response.json()["items"]) == (N, "all")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"kind": "rating", "rubric": [{"name": "right", "scale": "pass_fail"}]}, "pairwise"),
        ({"kind": "labeling", "baseline": None, "labels": ["ok", "bad"]}, "pairwise"),
        ({"items": "some"}, "items"),
        ({"baseline": "calc:same"}, "identical on all 10 items"),
    ],
)
def test_diff_first_is_refused_in_words_where_it_cannot_apply(sums, fields, words):
    response = create(sums, **fields)
    assert response.status_code == 400, response.json()
    body = response.json()
    assert words in str(body) and "items" in str(body), body
    assert not Campaign.objects.exists()


def judge_changed_items(api, campaign_id: int, lose_on: str) -> list[str]:
    """The reviewer prefers the right sum everywhere but on `lose_on`; returns the items served."""
    served, reviewer = [], api["reviewer"]
    while (task := reviewer.get(f"/api/v1/campaigns/{campaign_id}/next/")).status_code == 200:
        body = task.json()
        served.append(body["item"])
        i = int(body["item"][1:])
        right = next(o["slot"] for o in body["outputs"] if o["output"] == str(2 * i))
        slot = right if body["item"] != lose_on else next(o["slot"] for o in body["outputs"] if o["slot"] != right)
        assert (
            reviewer.post(f"/api/v1/tasks/{body['task']}/judgments/", {"choice": slot}, format="json").status_code
            == 201
        )
    return served


def test_results_say_the_gate_tests_changed_items_and_give_the_implied_win_rate(sums):
    cid = create(sums).json()["id"]
    assert sorted(judge_changed_items(sums, cid, lose_on="q9")) == ["q6", "q7", "q8", "q9"]
    results = sums["ds"].get(f"/api/v1/campaigns/{cid}/results/").json()
    assert results["win_rate"]["estimate"] == pytest.approx(0.75)  # 3 wins of 4 changed items
    block = results["diff_first"]
    assert (block["changed_items"], block["identical_items"]) == (4, 6)
    assert "whose outputs differ" in block["text"] and "whose outputs differ" in results["policy"]["text"]
    w = wilson_interval(3, 4)
    expected = {k: (v * 4 + 0.5 * 6) / 10 for k, v in w.as_dict().items() if v is not None}
    assert block["implied_win_rate"] == pytest.approx(expected)
    assert block["implied_win_rate"]["estimate"] == pytest.approx(0.6)


def test_the_campaign_page_states_the_diff_first_gate_and_the_implied_win_rate(sums, users, client):
    cid = create(sums).json()["id"]
    judge_changed_items(sums, cid, lose_on="q9")
    client.force_login(users["ds"])
    html = client.get(f"/campaigns/{cid}/").content.decode()
    assert "whose outputs differ" in html and 'id="implied-win-rate"' in html
    assert "0.600 [" in html and "6 identical outputs counted as ties" in html


def test_an_ordinary_campaign_has_no_diff_first_block(sums):
    cid = create(sums, items="all").json()["id"]
    results = sums["ds"].get(f"/api/v1/campaigns/{cid}/results/").json()
    assert results["diff_first"] is None and "outputs differ" not in results["policy"]["text"]


def test_implied_interval_is_the_scaled_changed_interval():
    assert implied_win_rate(Interval(0.8, 0.6, 0.9), changed=10, identical=0) == Interval(0.8, 0.6, 0.9)
    assert implied_win_rate(Interval(0.8, 0.6, 0.9), changed=1, identical=3) == Interval(0.575, 0.525, 0.6)
    assert implied_win_rate(Interval(None, None, None), changed=4, identical=6).estimate is None


def test_implied_interval_covers_the_true_implied_rate_as_often_as_the_changed_one_covers_its_own():
    """Cross-check by simulation: judged outcomes on c changed items drawn at a true rate w, identical items known
    ties; the mapped Wilson interval covers (w·c + ½·i)/(c + i) whenever Wilson covers w, and a naive Wilson
    interval over all c + i items (identical ones as judged ties) is wider than needed."""
    rng = np.random.default_rng(17)
    c, i, w = 40, 160, 0.7
    implied_true = (w * c + 0.5 * i) / (c + i)
    covered_w = covered_implied = 0
    widths_mapped, widths_naive = [], []
    for _ in range(2000):
        wins = int(rng.binomial(c, w))
        changed = wilson_interval(wins, c)
        implied = implied_win_rate(changed, changed=c, identical=i)
        assert (
            implied.low is not None
            and implied.high is not None
            and changed.low is not None
            and changed.high is not None
        )
        covered_w += changed.low <= w <= changed.high
        covered_implied += implied.low <= implied_true <= implied.high
        naive = wilson_interval(wins + 0.5 * i, c + i)
        assert naive.low is not None and naive.high is not None
        widths_mapped.append(implied.high - implied.low)
        widths_naive.append(naive.high - naive.low)
    assert covered_w == covered_implied
    assert 0.92 < covered_implied / 2000 < 0.98
    assert np.mean(widths_mapped) < np.mean(widths_naive)


def test_extending_a_diff_first_campaign_adds_only_the_new_changed_items(sums):
    cid = create(sums).json()["id"]
    ds = sums["ds"]
    more = ITEMS + [{"id": f"q{i}", "input": f"what is {i} + {i}?"} for i in range(N, N + 4)]
    assert ds.post("/api/v1/datasets/sums/versions/", {"file": jsonl_file(more)}, format="multipart").status_code == 201
    for version, wrong_from in (("new", 99), ("old", N + 2)):  # of the new items, q12 and q13 differ
        rows = [{"id": f"q{i}", "output": str(2 * i + (i >= wrong_from))} for i in range(N + 4)]
        response = ds.post(
            f"/api/v1/models/calc/versions/{version}/predictions/",
            {"dataset": "sums", "dataset_version": 2, "file": jsonl_file(rows)},
            format="multipart",
        )
        assert response.status_code == 201, response.json()
    response = ds.post(f"/api/v1/campaigns/{cid}/extend/", {"dataset_version": 2}, format="json")
    assert response.status_code in (200, 201), response.json()
    campaign = Campaign.objects.get(pk=cid)
    names = sorted(campaign.tasks.ordinary().values_list("item__external_id", flat=True))
    assert names == ["q12", "q13", "q6", "q7", "q8", "q9"]
    assert campaign.identical_items == CHANGED_FROM + 2  # q10 and q11 were identical
    assert campaign.plan["max_judgments"] == 6
