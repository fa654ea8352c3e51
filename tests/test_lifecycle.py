"""A campaign's life and its end: the plan at creation, a gate that always decides, pause / resume / close, extension,
more reviewers, siblings closed by a verdict, and reviewers told why their work ended."""

import random

import pytest

from reviews.models import Campaign
from reviews.services.decisions import campaign_gate_check
from tests.conftest import token_client
from tests.factories import UserFactory, jsonl_file


def upload_loop(api, n: int, *, dataset="quiz", version_number=1, offset_items=0) -> dict:
    """A dataset version of n items (ids item-0 ...), with a right candidate (2i) and a wrong baseline (2i + 1)."""
    ds = api["ds"]
    if version_number == 1:
        assert ds.post("/api/v1/datasets/", {"name": dataset}, format="json").status_code == 201
    ids = range(offset_items, offset_items + n)
    items = [{"id": f"item-{i}", "input": f"What is {i} + {i}?"} for i in ids]
    assert (
        ds.post(f"/api/v1/datasets/{dataset}/versions/", {"file": jsonl_file(items)}, format="multipart").status_code
        == 201
    )
    for version, offset in (("2", 0), ("1", 1)):
        if version_number == 1:
            if version == "2":
                assert ds.post("/api/v1/models/", {"name": "adder"}, format="json").status_code in (201, 409)
            assert ds.post("/api/v1/models/adder/versions/", {"version": version}, format="json").status_code == 201
        rows = [{"id": f"item-{i}", "output": str(2 * i + offset)} for i in ids]
        response = ds.post(
            f"/api/v1/models/adder/versions/{version}/predictions/",
            {"dataset": dataset, "dataset_version": version_number, "file": jsonl_file(rows)},
            format="multipart",
        )
        assert response.status_code == 201, response.json()
    return {"dataset": dataset, "dataset_version": 1, "candidate": "adder:2", "baseline": "adder:1"}


def create(api, data, **extra) -> dict:
    body = {"name": "quiz", "kind": "pairwise", **data, "reviewers": ["rev", "rev2"], "overlap": 1, **extra}
    response = api["ds"].post("/api/v1/campaigns/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def judge(client, cid, *, win, limit=10_000) -> int:
    """Judge up to `limit` tasks; win(i) says whether the candidate wins item i. Returns how many were judged."""
    judged = 0
    while judged < limit:
        task = client.get(f"/api/v1/campaigns/{cid}/next/")
        if task.status_code == 204:
            break
        body = task.json()
        i = int(body["item"].split("-")[1])
        right = str(2 * i)
        outcome = win(i)
        if outcome == "tie":
            choice = "tie"
        else:
            choice = next(o["slot"] for o in body["outputs"] if (o["output"] == right) == outcome)
        response = client.post(f"/api/v1/tasks/{body['task']}/judgments/", {"choice": choice}, format="json")
        assert response.status_code == 201, response.json()
        judged += 1
    return judged


def test_creation_states_the_plan_and_warns_in_words_when_underpowered(api):
    data = upload_loop(api, 40)
    created = create(api, data)
    plan = created["plan"]
    assert created["tasks"] == 40 and plan["max_judgments"] == 40 and plan["unit"] == "item"
    assert 0.25 < plan["power"] < 0.4 and set(plan["expected_judgments"]) == {"null", "alternative"}
    assert any(
        w.startswith("With 40 items this test detects a 0.60 win rate") and "items give 80 %" in w
        for w in plan["warnings"]
    )
    campaign = api["ds"].get(f"/api/v1/campaigns/{created['id']}/").json()
    assert campaign["plan"] == plan and campaign["status"] == "active"


@pytest.mark.parametrize("seed", range(4))
def test_a_campaign_of_forty_items_judged_to_the_end_always_shows_pass_or_fail(api, seed):
    data = upload_loop(api, 40)
    cid = create(api, data)["id"]
    rng = random.Random(seed)
    rate = [0.72, 0.5, 0.6, 0.4][seed]
    wins = {i: rng.random() < rate for i in range(40)}
    judge(api["reviewer"], cid, win=wins.get, limit=20)
    judge(api["reviewer2"], cid, win=wins.get)
    status = campaign_gate_check(campaign_id=cid, force=True)
    assert status in ("pass", "fail")
    results = api["ds"].get(f"/api/v1/campaigns/{cid}/results/").json()
    assert results["gate"]["status"] == status and results["gate"]["planned_end"] == 40
    campaign = Campaign.objects.get(pk=cid)
    assert campaign.decision == status and campaign.gate_state["status"] == status


def test_min_judgments_is_a_floor_for_fail_too(api):
    data = upload_loop(api, 40)
    cid = create(api, data, gate={"min_judgments": 20})["id"]
    judge(api["reviewer"], cid, win=lambda i: False, limit=12)  # the fail boundary is crossed at 7
    assert campaign_gate_check(campaign_id=cid) == "pending"
    assert "from 20 items on" in " ".join(api["ds"].get(f"/api/v1/campaigns/{cid}/results/").json()["gate"]["reasons"])
    judge(api["reviewer"], cid, win=lambda i: False, limit=8)
    assert campaign_gate_check(campaign_id=cid) == "fail"
    assert Campaign.objects.get(pk=cid).decided_after == 20


def test_the_lead_pauses_resumes_and_closes_and_others_may_not(api, users, loop_data):
    cid = create(api, loop_data)["id"]
    other_ds = token_client(UserFactory.create(username="ds2", role="data_scientist"))
    assert other_ds.patch(f"/api/v1/campaigns/{cid}/", {"status": "paused"}, format="json").status_code == 403
    assert api["reviewer"].patch(f"/api/v1/campaigns/{cid}/", {"status": "paused"}, format="json").status_code == 403
    assert api["approver"].patch(f"/api/v1/campaigns/{cid}/", {"status": "paused"}, format="json").status_code == 403

    task = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").json()
    paused = api["ds"].patch(
        f"/api/v1/campaigns/{cid}/", {"status": "paused", "reason": "fixing the guidelines"}, format="json"
    )
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert paused.json()["status_reason"] == "Paused by the lead: fixing the guidelines"
    assert api["reviewer2"].get(f"/api/v1/campaigns/{cid}/next/").status_code == 204
    assert api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").status_code == 204  # not even a task claimed before
    refused = api["reviewer"].post(
        f"/api/v1/tasks/{task['task']}/judgments/", {"choice": "A", "client_id": "x1"}, format="json"
    )
    assert refused.status_code == 409 and refused.json()["code"] == "campaign_not_active"
    assert refused.json()["extra"]["reason"] == "Paused by the lead: fixing the guidelines"
    state = api["reviewer"].get(f"/api/v1/campaigns/{cid}/progress/").json()
    assert state["state"] == "paused" and "fixing the guidelines" in state["message"]

    assert api["admin"].patch(f"/api/v1/campaigns/{cid}/", {"status": "active"}, format="json").status_code == 200
    kept = api["reviewer"].post(
        f"/api/v1/tasks/{task['task']}/judgments/", {"choice": "A", "client_id": "x1"}, format="json"
    )
    assert kept.status_code == 201  # the browser's outbox sends the kept judgment again once resumed

    closed = api["ds"].patch(f"/api/v1/campaigns/{cid}/", {"status": "closed"}, format="json")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    again = api["ds"].patch(f"/api/v1/campaigns/{cid}/", {"status": "active"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
    assert api["reviewer2"].get(f"/api/v1/campaigns/{cid}/next/").status_code == 204
    state = api["reviewer2"].get(f"/api/v1/campaigns/{cid}/progress/").json()
    assert state["state"] == "closed" and "Closed by the lead" in state["message"]


def test_closing_before_the_gate_decided_counts_as_not_passed(api, loop_data):
    cid = create(api, loop_data, gate={"min_judgments": 2, "alternative": 0.95})["id"]
    judge(api["reviewer"], cid, win=lambda i: True, limit=2)
    assert campaign_gate_check(campaign_id=cid) == "pending"
    assert api["ds"].patch(f"/api/v1/campaigns/{cid}/", {"status": "closed"}, format="json").status_code == 200
    assert campaign_gate_check(campaign_id=cid, force=True) == "fail"
    gate = api["ds"].get(f"/api/v1/campaigns/{cid}/results/").json()["gate"]
    assert gate["status"] == "fail" and "closed before the gate decided" in " ".join(gate["reasons"])


def test_extend_adds_the_new_items_and_moves_the_planned_end(api):
    data = upload_loop(api, 10)
    cid = create(api, data)["id"]
    upload_loop(api, 10, version_number=2, offset_items=5)  # items 5..14: five of them new
    extended = api["ds"].post(f"/api/v1/campaigns/{cid}/extend/", {"dataset_version": 2}, format="json")
    assert extended.status_code == 200, extended.json()
    assert extended.json()["tasks_added"] == 5 and extended.json()["plan"]["max_judgments"] == 15
    assert Campaign.objects.get(pk=cid).tasks.count() == 15
    assert (
        api["ds"].post(f"/api/v1/campaigns/{cid}/extend/", {"dataset_version": 2}, format="json").json()["tasks_added"]
        == 0
    )
    other = token_client(UserFactory.create(username="ds2", role="data_scientist"))
    assert other.post(f"/api/v1/campaigns/{cid}/extend/", {"dataset_version": 2}, format="json").status_code == 403
    judged = judge(api["reviewer"], cid, win=lambda i: True)
    assert judged == 15  # the new items are handed out too


def test_extend_is_refused_once_the_gate_has_decided(api, loop_data):
    cid = create(api, loop_data, gate={"min_judgments": 3, "alternative": 0.95})["id"]
    judge(api["reviewer"], cid, win=lambda i: False, limit=3)
    assert campaign_gate_check(campaign_id=cid) == "fail"
    refused = api["ds"].post(f"/api/v1/campaigns/{cid}/extend/", {"dataset_version": 1}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "gate_decided"


def test_extend_refuses_another_datasets_version(api, loop_data):
    cid = create(api, loop_data)["id"]
    upload_loop(api, 3, dataset="other")
    response = api["ds"].post(f"/api/v1/campaigns/{cid}/extend/", {"dataset_version": 2}, format="json")
    assert response.status_code == 404  # arith has no version 2


def test_the_lead_adds_reviewers(api, users, loop_data):
    cid = create(api, loop_data)["id"]
    newcomer = UserFactory.create(username="rev3", role="reviewer")
    response = api["ds"].post(f"/api/v1/campaigns/{cid}/reviewers/", {"add": ["rev3"]}, format="json")
    assert response.status_code == 200 and response.json()["reviewers"] == ["rev", "rev2", "rev3"]
    assert token_client(newcomer).get(f"/api/v1/campaigns/{cid}/next/").status_code == 200
    unknown = api["ds"].post(f"/api/v1/campaigns/{cid}/reviewers/", {"add": ["nobody"]}, format="json")
    assert unknown.status_code == 400 and unknown.json()["extra"]["field"] == "add"
    not_reviewer = api["ds"].post(f"/api/v1/campaigns/{cid}/reviewers/", {"add": ["approver"]}, format="json")
    assert not_reviewer.status_code == 400 and "not reviewers: approver" in not_reviewer.json()["message"]


def test_a_verdict_closes_every_other_open_campaign_on_its_candidate(api, loop_data):
    signed = create(api, loop_data, name="calc 2 vs 1")["id"]
    sibling = create(api, loop_data, name="second look")["id"]
    paused_sibling = create(api, loop_data, name="third look")["id"]
    api["ds"].patch(f"/api/v1/campaigns/{paused_sibling}/", {"status": "paused"}, format="json")
    judge(api["reviewer"], signed, win=lambda i: True, limit=1)
    verdict = api["approver"].post(
        f"/api/v1/campaigns/{signed}/signoff/", {"decision": "reject", "rationale": "no"}, format="json"
    )
    assert verdict.status_code == 201
    for cid in (sibling, paused_sibling):
        campaign = Campaign.objects.get(pk=cid)
        assert (
            campaign.status == "closed"
            and f"campaign {signed}" in campaign.status_reason
            and "rejected" in campaign.status_reason
        )
        assert api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").status_code == 204
        state = api["reviewer"].get(f"/api/v1/campaigns/{cid}/progress/").json()
        assert state["state"] == "closed" and "signed off this candidate as rejected" in state["message"]
        assert "calc" not in state["message"], "a sibling's name may name the models: reviewers are told its id only"
    assert Campaign.objects.get(pk=signed).status_reason == "Signed off: rejected"


def test_reviewers_are_told_the_gate_decided_with_the_servers_counts(api, loop_data):
    cid = create(api, loop_data, gate={"min_judgments": 3, "alternative": 0.95})["id"]
    judge(api["reviewer"], cid, win=lambda i: False, limit=3)
    assert campaign_gate_check(campaign_id=cid) == "fail"
    assert api["reviewer2"].get(f"/api/v1/campaigns/{cid}/next/").status_code == 204
    state = api["reviewer2"].get(f"/api/v1/campaigns/{cid}/progress/").json()
    assert state["state"] == "gate_decided" and state["campaign"] == {"judged_items": 3, "planned_items": 6}
    assert "The gate decided after 3 of 6 items were judged" in state["message"]
    mine = api["reviewer"].get(f"/api/v1/campaigns/{cid}/progress/").json()
    assert mine["progress"]["done"] == 3
    assert api["ds"].get(f"/api/v1/campaigns/{cid}/progress/").status_code == 403  # reviewers' view


def test_when_every_reviewer_skipped_the_rest_the_gate_decides_on_what_it_has(api, loop_data):
    cid = create(api, loop_data, gate={"min_judgments": 2, "alternative": 0.95})["id"]
    judge(api["reviewer"], cid, win=lambda i: True, limit=3)
    for client in (api["reviewer"], api["reviewer2"]):
        while (task := client.get(f"/api/v1/campaigns/{cid}/next/")).status_code == 200:
            assert (
                client.post(
                    f"/api/v1/tasks/{task.json()['task']}/skip/", {"reason": "unsure"}, format="json"
                ).status_code
                == 200
            )
    status = campaign_gate_check(campaign_id=cid, force=True)
    assert status in ("pass", "fail")
    gate = api["ds"].get(f"/api/v1/campaigns/{cid}/results/").json()["gate"]
    assert gate["judged"] == 3 and gate["more_to_come"] is False


def test_the_reviewers_home_says_a_campaign_is_paused_or_decided(api, users, loop_data, client):
    paused = create(api, loop_data, name="paused one")["id"]
    decided = create(api, loop_data, name="decided one", gate={"min_judgments": 3, "alternative": 0.95})["id"]
    api["ds"].patch(f"/api/v1/campaigns/{paused}/", {"status": "paused", "reason": "new guidelines"}, format="json")
    judge(api["reviewer"], decided, win=lambda i: False, limit=3)
    assert campaign_gate_check(campaign_id=decided) == "fail"
    client.force_login(users["reviewer2"])
    page = client.get("/").content.decode()
    assert "paused one" in page and "Paused by the lead: new guidelines" in page
    assert "decided one" in page and "The gate decided: no more judgments are needed" in page
    assert f"/campaigns/{paused}/review/" not in page and f"/campaigns/{decided}/review/" not in page


def test_ci_sees_a_paused_campaign_as_pending(api, loop_data):
    cid = create(api, loop_data)["id"]
    api["ds"].patch(f"/api/v1/campaigns/{cid}/", {"status": "paused"}, format="json")
    assert api["ds"].get("/api/v1/gate/calc/2/").json()["status"] == "pending"
    api["ds"].patch(f"/api/v1/campaigns/{cid}/", {"status": "closed"}, format="json")
    assert api["ds"].get("/api/v1/gate/calc/2/").json()["status"] == "none"
