"""Reviewer quality: known-answer items of every kind, mixed into reviewers' queues at the campaign's rate without a
tell, kept out of everything the campaign's results count; each reviewer's accuracy, time and fast judgments; and
the lead's exclusion of a reviewer, on record."""

import itertools
import json
import math
import random

import pytest
from django.test import Client

from reviews import quality
from reviews.models import Assignment, Campaign, ReviewerExclusion, Task
from reviews.results import campaign_evidence
from tests.conftest import token_client
from tests.factories import UserFactory
from tests.test_kinds_api import RUBRIC, error_field, post_campaign

KNOWN = [{"item": "item-0", "answer": "candidate"}, {"item": "item-1", "answer": "candidate"}]


class ScriptedDraws:
    """Stands in for reviews.quality's generator: draws below the rate mean "a known-answer item now"."""

    def __init__(self, draws):
        self.draws = list(draws)

    def random(self):
        return self.draws.pop(0) if self.draws else 0.99


def create(api, loop_data, **overrides) -> dict:
    response = post_campaign(api, loop_data, **overrides)
    assert response.status_code == 201, response.json()
    return response.json()


def candidate_slot(task: dict) -> str:
    """In loop_data the candidate (calc:2) answers item-i with 2*i, the baseline with 2*i + 1."""
    output = str(2 * int(task["item"].split("-")[1]))
    return next(o["slot"] for o in task["outputs"] if o["output"] == output)


def baseline_slot(task: dict) -> str:
    return next(o["slot"] for o in task["outputs"] if o["slot"] != candidate_slot(task))


def work_through(client, cid, body=lambda task: {"choice": candidate_slot(task)}) -> list[dict]:
    """Take and judge tasks until none are left; returns the payloads in the order they came."""
    seen: list[dict] = []
    while True:
        response = client.get(f"/api/v1/campaigns/{cid}/next/")
        if response.status_code == 204:
            return seen
        assert response.status_code == 200, response.json()
        task = response.json()
        judged = client.post(f"/api/v1/tasks/{task['task']}/judgments/", {**body(task)}, format="json")
        assert judged.status_code == 201, judged.json()
        seen.append(task)


def results(api, cid) -> dict:
    response = api["approver"].get(f"/api/v1/campaigns/{cid}/results/")
    assert response.status_code == 200, response.json()
    return response.json()


# --- known-answer items at creation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, overrides, answer, stored",
    [
        ("pairwise", {}, "baseline", "baseline"),
        ("ranking", {}, "calc:1", "baseline_id"),
        ("rating", {"rubric": RUBRIC}, "unacceptable", False),
        ("labeling", {"baseline": None, "labels": ["right", "wrong"]}, "wrong", "wrong"),
        (
            "labeling",
            {"baseline": None, "labels": ["right", "wrong", "odd"], "multi_label": True},
            ["odd", "right"],
            "right|odd",
        ),
    ],
)
def test_known_answer_items_of_every_kind_become_tasks_apart_from_the_work(
    api, loop_data, kind, overrides, answer, stored
):
    created = create(api, loop_data, kind=kind, known_answers=[{"item": "item-3", "answer": answer}], **overrides)
    campaign = Campaign.objects.get(pk=created["id"])
    known = Task.objects.known().get(campaign=campaign)
    assert (created["tasks"], created["known_answer_tasks"]) == (5, 1)
    assert (
        known.item.external_id == "item-3"
        and not Task.objects.ordinary().filter(campaign=campaign, item=known.item).exists()
    )
    assert known.known_answer == (campaign.baseline_id if stored == "baseline_id" else stored)
    assert (known.priority, known.capacity) == (quality.KNOWN_PRIORITY, quality.KNOWN_CAPACITY)
    assert campaign.known_answer_rate == 0.1  # the default once known answers are given


def test_without_known_answers_a_campaign_is_as_before(api, loop_data):
    created = create(api, loop_data)
    assert (created["tasks"], created["known_answer_tasks"]) == (6, 0)
    assert Campaign.objects.get(pk=created["id"]).known_answer_rate == 0


@pytest.mark.parametrize(
    "overrides, field, words",
    [
        ({"known_answers": [{"item": "item-99", "answer": "candidate"}]}, "known_answers", "no item 'item-99'"),
        ({"known_answers": [{"item": "item-0", "answer": "A"}]}, "known_answers", "one of candidate, baseline, tie"),
        ({"known_answers": KNOWN[:1] * 2}, "known_answers", "given twice"),
        ({"known_answers": [{"item": "item-0"}]}, "known_answers", 'needs "item"'),
        ({"known_answers": "reference"}, "known_answers", "labeling campaigns only"),
        (
            {"kind": "ranking", "known_answers": [{"item": "item-2", "answer": "calc:9"}]},
            "known_answers",
            "calc:2, calc:1",
        ),
        (
            {"kind": "rating", "rubric": RUBRIC, "known_answers": [{"item": "item-2", "answer": "good"}]},
            "known_answers",
            "acceptable or unacceptable",
        ),
        (
            {
                "kind": "labeling",
                "baseline": None,
                "labels": ["x", "y"],
                "known_answers": [{"item": "item-2", "answer": ["x", "y"]}],
            },
            "known_answers",
            "one label",
        ),
        ({"known_answers": KNOWN, "known_answer_rate": 0.6}, "known_answer_rate", ""),
        ({"known_answer_rate": 0.2}, "known_answer_rate", "needs known-answer items"),
        ({"known_answers": KNOWN, "min_seconds": 0}, "min_seconds", ""),
    ],
)
def test_known_answers_are_refused_with_the_field_and_the_item_named(api, loop_data, overrides, field, words):
    response = post_campaign(api, loop_data, **overrides)
    assert response.status_code == 400, response.json()
    assert error_field(response) == field and words in response.json()["message"], response.json()
    assert not Campaign.objects.exists()


def test_labeling_reference_takes_every_item_whose_reference_is_a_label(api, loop_data):
    # loop_data's references are "0", "2", ... "10": items 0-2 have theirs among these labels
    created = create(
        api, loop_data, kind="labeling", baseline=None, labels=["0", "2", "4", "none"], known_answers="reference"
    )
    campaign = Campaign.objects.get(pk=created["id"])
    assert dict(Task.objects.known().filter(campaign=campaign).values_list("item__external_id", "known_answer")) == {
        "item-0": "0",
        "item-1": "2",
        "item-2": "4",
    }
    assert (created["tasks"], campaign.known_answer_rate) == (3, 0.1)


def test_labeling_without_known_answers_does_not_read_references(api, loop_data):
    created = create(api, loop_data, kind="labeling", baseline=None, labels=["0", "2", "4", "none"])
    assert created["known_answer_tasks"] == 0  # opt-in: references may be what the campaign is there to check


# --- handed out at the rate, never told apart ---------------------------------------------------------------


def test_the_draw_follows_the_campaigns_rate(monkeypatch):
    monkeypatch.setattr(
        quality, "known_answer_rng", random.Random(20261206)
    )  # seeded: the count below is fixed, never flaky
    n = 20000
    drawn = sum(quality.known_answer_drawn(Campaign(known_answer_rate=0.2)) for _ in range(n))
    assert abs(drawn / n - 0.2) < 3 * math.sqrt(0.2 * 0.8 / n)


def test_a_known_answer_item_is_claimed_when_drawn_and_ordinary_work_otherwise(api, loop_data, monkeypatch):
    cid = create(api, loop_data, reviewers=["rev"], known_answers=KNOWN, known_answer_rate=0.5)["id"]
    # drawn, not drawn, drawn, then drawn again once both known items are had: ordinary work then
    monkeypatch.setattr(quality, "known_answer_rng", ScriptedDraws([0.1, 0.9, 0.4, 0.9, 0.1, 0.9]))
    seen = work_through(api["reviewer"], cid)
    items = [task["item"] for task in seen]
    known_ids = {"item-0", "item-1"}
    assert len(items) == 6 and set(items) == {f"item-{i}" for i in range(6)}
    assert [item in known_ids for item in items] == [True, False, True, False, False, False]


def test_without_a_rate_no_known_answer_item_is_ever_handed_out(api, loop_data, monkeypatch):
    cid = create(api, loop_data, reviewers=["rev"], known_answers=KNOWN, known_answer_rate=0)["id"]
    monkeypatch.setattr(quality, "known_answer_rng", ScriptedDraws([0.0] * 10))
    assert {task["item"] for task in work_through(api["reviewer"], cid)} == {f"item-{i}" for i in range(2, 6)}


def test_the_payload_does_not_tell_a_known_answer_item_from_ordinary_work(api, loop_data, monkeypatch):
    """Same fields, same shapes, and a progress that moves the same wherever the known items fall."""
    runs: list[list[dict]] = []
    for draws in ([0.1, 0.9, 0.1, 0.9, 0.9, 0.9], [0.9, 0.9, 0.1, 0.9, 0.1, 0.9]):
        cid = create(
            api, loop_data, name=f"run {len(runs)}", reviewers=["rev"], known_answers=KNOWN, known_answer_rate=0.5
        )["id"]
        monkeypatch.setattr(quality, "known_answer_rng", ScriptedDraws(draws))
        runs.append(work_through(api["reviewer"], cid))
    known = [t for run in runs for t in run if t["item"] in ("item-0", "item-1")]
    ordinary = [t for run in runs for t in run if t["item"] not in ("item-0", "item-1")]
    assert known and ordinary
    shape = lambda task: (sorted(task), sorted(task["progress"]), [sorted(o) for o in task["outputs"]])  # noqa: E731
    assert {repr(shape(t)) for t in known} == {repr(shape(t)) for t in ordinary}
    first, second = ([t["progress"]["left"] for t in run] for run in runs)
    assert [t["item"] in ("item-0", "item-1") for t in runs[0]] != [t["item"] in ("item-0", "item-1") for t in runs[1]]
    assert first == second  # "left" says nothing about where the checks were
    assert all(b <= a for a, b in itertools.pairwise(first))


def test_known_answer_items_count_nowhere_in_the_results(api, loop_data, monkeypatch):
    cid = create(api, loop_data, reviewers=["rev"], known_answers=KNOWN, known_answer_rate=0.5)["id"]
    monkeypatch.setattr(quality, "known_answer_rng", ScriptedDraws([0.1, 0.1]))
    seen = work_through(api["reviewer"], cid, body=lambda task: {"choice": baseline_slot(task)})
    assert len(seen) == 6
    figures = results(api, cid)
    assert figures["judgments"] == 4 and figures["candidate"]["losses"] == 4
    assert figures["progress"]["tasks"] == 4 and figures["progress"]["judgments"] == 4
    assert figures["gate"].get("judged", 4) == 4
    counted = api["ds"].get(f"/api/v1/campaigns/{cid}/judgments.jsonl")
    lines = [json.loads(line) for line in b"".join(counted.streaming_content).decode().splitlines()]
    assert sorted(row["item"] for row in lines) == [f"item-{i}" for i in range(2, 6)]
    everything = api["ds"].get(f"/api/v1/campaigns/{cid}/judgments.jsonl?include=all")
    statuses = {
        json.loads(line)["item"]: json.loads(line)["status"]
        for line in b"".join(everything.streaming_content).decode().splitlines()
    }
    assert statuses["item-0"] == statuses["item-1"] == "known_answer" and statuses["item-2"] == "counted"
    per_item = api["ds"].get(f"/api/v1/campaigns/{cid}/results.jsonl")
    assert sorted(json.loads(line)["item"] for line in b"".join(per_item.streaming_content).decode().splitlines()) == [
        f"item-{i}" for i in range(2, 6)
    ]


# --- each reviewer's figures ----------------------------------------------------------------------------------


def test_reviewer_accuracy_and_its_interval_match_a_hand_computation(api, loop_data, monkeypatch):
    cid = create(api, loop_data, reviewers=["rev"], known_answers=KNOWN, known_answer_rate=0.5, min_seconds=2)["id"]
    monkeypatch.setattr(quality, "known_answer_rng", ScriptedDraws([0.1, 0.1]))
    durations = iter([500, 3000, 4000, 1000, 6000, 8000])

    def right_once(task):  # item-0 right (candidate), item-1 wrong; ordinary items whatever
        slot = baseline_slot(task) if task["item"] == "item-1" else candidate_slot(task)
        return {"choice": slot, "duration_ms": next(durations)}

    work_through(api["reviewer"], cid, body=right_once)
    figures = results(api, cid)["reviewers"]
    assert (figures["known_answer_items"], figures["known_answer_rate"], figures["min_seconds"]) == (2, 0.5, 2)
    rev = next(r for r in figures["by_reviewer"] if r["reviewer"] == "rev")
    assert (rev["judgments"], rev["known_answered"], rev["known_correct"]) == (6, 2, 1)
    # Wilson, 1 of 2, z = 1.959964: centre (0.5 + z²/4) / (1 + z²/2) = 0.5, half-width z·sqrt(1/8 + z²/16) / (1 + z²/2)
    assert rev["accuracy"]["estimate"] == 0.5
    assert rev["accuracy"]["low"] == pytest.approx(0.0945, abs=1e-4) and rev["accuracy"]["high"] == pytest.approx(
        0.9055, abs=1e-4
    )
    assert rev["median_seconds"] == 3.5  # of 0.5, 1, 3, 4, 6, 8 seconds
    assert rev["fast_judgments"] == 2  # 0.5 s and 1 s are under min_seconds
    assert [r["reviewer"] for r in figures["by_reviewer"]] == ["rev"]  # the campaign's reviewers


def test_the_leads_view_shows_each_reviewers_quality_and_flags_fast_judgments(api, users, loop_data, monkeypatch):
    cid = create(api, loop_data, reviewers=["rev"], known_answers=KNOWN, known_answer_rate=0.5, min_seconds=2)["id"]
    monkeypatch.setattr(quality, "known_answer_rng", ScriptedDraws([0.1]))
    work_through(api["reviewer"], cid, body=lambda task: {"choice": candidate_slot(task), "duration_ms": 700})
    browser = Client()
    browser.force_login(users["ds"])
    page = browser.get(f"/campaigns/{cid}/judgments/").content.decode()
    assert "Reviewers" in page, page
    assert "1 of 1" in page and "5 fast" in page, page[page.find('id="reviewers"') :][:3000]
    assert page.count('title="faster than 2 s">fast</span>') == 5  # 4 ordinary items, 1 known
    assert "known answer:" in page and "known-answer check" in page and ">right</span>" in page
    assert f'action="/campaigns/{cid}/exclusions"' in page


# --- excluding a reviewer ---------------------------------------------------------------------------------


def exclude(client, cid, reviewer="rev", reason="answers without reading"):
    return client.post(f"/api/v1/campaigns/{cid}/exclusions/", {"reviewer": reviewer, "reason": reason}, format="json")


def test_only_the_campaigns_lead_or_an_admin_may_exclude_a_reviewer(api, loop_data):
    cid = create(api, loop_data)["id"]
    other_ds = token_client(UserFactory.create(username="ds2", role="data_scientist"))
    assert exclude(other_ds, cid).status_code == 403
    assert exclude(api["reviewer2"], cid).status_code == 403
    assert exclude(api["approver"], cid).status_code == 403
    assert not ReviewerExclusion.objects.exists()
    assert exclude(api["ds"], cid).status_code == 201
    assert exclude(api["ds"], cid).status_code == 409  # already excluded
    assert exclude(api["admin"], cid, reviewer="rev2").status_code == 201
    assert exclude(api["ds"], cid, reviewer="nobody").status_code == 400
    response = exclude(api["ds"], cid, reviewer="rev2", reason="")
    assert response.status_code in (400, 409)


def test_an_excluded_reviewer_stops_counting_their_items_reopen_and_they_get_nothing_more(api, users, loop_data):
    cid = create(api, loop_data)["id"]
    rev_tasks = []
    for _ in range(3):  # rev judges three items, then takes a fourth and leaves it open
        task = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").json()
        assert (
            api["reviewer"]
            .post(f"/api/v1/tasks/{task['task']}/judgments/", {"choice": candidate_slot(task)}, format="json")
            .status_code
            == 201
        )
        rev_tasks.append(task["task"])
    open_task = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").json()["task"]
    task = api["reviewer2"].get(f"/api/v1/campaigns/{cid}/next/").json()
    assert (
        api["reviewer2"]
        .post(f"/api/v1/tasks/{task['task']}/judgments/", {"choice": baseline_slot(task)}, format="json")
        .status_code
        == 201
    )
    assert results(api, cid)["judgments"] == 4  # results seen before the exclusion

    response = exclude(api["ds"], cid)
    assert response.status_code == 201, response.json()
    assert response.json()["after_results_visible"] is True
    assert response.json()["note"] == "excluded after results were visible"

    figures = results(api, cid)
    assert figures["judgments"] == 1 and figures["candidate"]["losses"] == 1
    assert [r["excluded"] for r in figures["reviewers"]["by_reviewer"] if r["reviewer"] == "rev"] == [True]
    assert figures["exclusions"][0]["reviewer"] == "rev" and figures["exclusions"][0]["excluded_by"] == "ds"
    assert all(t.assigned_count == 0 for t in Task.objects.filter(pk__in=[*rev_tasks, open_task]))
    assert Assignment.objects.get(task_id=open_task, reviewer=users["reviewer"]).status == Assignment.Status.SKIPPED
    assert api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").status_code == 204
    assert Campaign.objects.get(pk=cid).gate_checked_through == 0  # the gate looks again
    # the other reviewer now gets the reopened items: all five they have not judged
    assert len(work_through(api["reviewer2"], cid)) == 5
    assert results(api, cid)["judgments"] == 6

    evidence = campaign_evidence(campaign=Campaign.objects.get(pk=cid))
    assert evidence["results"]["exclusions"][0]["after_results_visible"] is True
    browser = Client()
    browser.force_login(users["approver"])
    report = browser.get(f"/campaigns/{cid}/report.html").content.decode()
    assert "excluded after results were visible" in report and "answers without reading" in report


def test_discarding_a_judgment_of_an_excluded_reviewer_is_a_409_not_a_second_reopening(api, loop_data):
    cid = create(api, loop_data)["id"]
    task = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").json()
    judged = api["reviewer"].post(
        f"/api/v1/tasks/{task['task']}/judgments/", {"choice": candidate_slot(task)}, format="json"
    )
    assert exclude(api["ds"], cid).status_code == 201
    response = api["ds"].post(
        f"/api/v1/judgments/{judged.json()['id']}/discard/", {"reason": "careless"}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "not_counted"  # was a CHECK constraint 500
    assert Task.objects.get(pk=task["task"]).assigned_count == 0


def test_an_exclusion_before_anyone_saw_results_says_so(api, loop_data):
    cid = create(api, loop_data)["id"]
    assert Campaign.objects.get(pk=cid).results_viewed_at is None
    response = exclude(api["ds"], cid)
    assert response.status_code == 201 and response.json()["after_results_visible"] is False
    results(api, cid)
    viewed = Campaign.objects.get(pk=cid).results_viewed_at
    assert viewed is not None
    results(api, cid)
    assert Campaign.objects.get(pk=cid).results_viewed_at == viewed  # set once
    assert exclude(api["ds"], cid, reviewer="rev2").json()["after_results_visible"] is True


def test_the_browser_results_page_marks_results_as_seen_and_the_lead_excludes_from_the_page(api, users, loop_data):
    cid = create(api, loop_data)["id"]
    browser = Client()
    browser.force_login(users["ds"])
    assert browser.get(f"/campaigns/{cid}/").status_code == 200
    assert Campaign.objects.get(pk=cid).results_viewed_at is not None
    response = browser.post(f"/campaigns/{cid}/exclusions", {"reviewer": "rev", "reason": "rushed"})
    assert response.status_code == 302
    exclusion = ReviewerExclusion.objects.get(campaign_id=cid)
    assert (exclusion.reviewer.username, exclusion.reason, exclusion.after_results_visible) == ("rev", "rushed", True)


@pytest.mark.parametrize(
    "kind, answer, value, right",
    [
        ("pairwise", "candidate", "candidate", True),
        ("pairwise", "tie", "both_bad", False),
        ("ranking", 7, [[7], [8, 9]], True),
        ("ranking", 7, [[7, 8], [9]], False),  # a tie for first does not tell the answer apart
        ("rating", True, {7: {"accuracy": 4, "safe": "pass"}, 8: {"accuracy": 1, "safe": "fail"}}, True),
        ("rating", False, {7: {"accuracy": 5, "safe": "fail"}}, True),
        ("rating", True, {7: {"accuracy": 3, "safe": "pass"}}, False),
        ("labeling", "right|odd", "right|odd", True),
        ("labeling", "right|odd", "right", False),
    ],
)
def test_a_judgment_gives_the_known_answer_as_the_results_read_it(kind, answer, value, right):
    campaign = Campaign(kind=kind, candidate_id=7, rubric=RUBRIC)
    assert quality.known_answer_correct(campaign, answer, value) is right


def test_without_a_rate_the_claim_costs_the_same_statements_as_before(api, users, loop_data):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from reviews.services.assignments import assignment_claim_next

    plain = Campaign.objects.get(pk=create(api, loop_data, name="plain")["id"])
    with_items = Campaign.objects.get(
        pk=create(api, loop_data, name="known", known_answers=KNOWN, known_answer_rate=0)["id"]
    )
    counts = []
    for campaign in (plain, with_items):
        with CaptureQueriesContext(connection) as queries:
            assert assignment_claim_next(campaign=campaign, reviewer=users["reviewer"]) is not None
        counts.append(len(queries))
    assert counts[0] == counts[1]
