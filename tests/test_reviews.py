"""The review loop: blind randomised tasks, overlap, judgments, results, the gate, sign-off and the verdict chain."""

import itertools
import math
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from models_app.models import ModelVersion, StageTransition
from reviews.gate import GatePolicy, PolicyInvalid, gate_evaluate
from reviews.models import Assignment, Campaign, Judgment, Task, Verdict
from reviews.services import assignments
from reviews.services.verdicts import GENESIS_HASH, verdict_chain_verify
from reviews.stats import PairwiseCounts, wilson_interval
from tests.conftest import token_client
from tests.factories import UserFactory, jsonl_file


@pytest.fixture
def alternating_slots(monkeypatch):
    """Deterministic 'random' sides: the candidate on A, then B, then A ... so both sides are certain to occur."""
    flips = itertools.cycle([False, True])
    monkeypatch.setattr(
        assignments, "random", types.SimpleNamespace(shuffle=lambda seq: seq.reverse() if next(flips) else None)
    )


def candidate_output(task: dict) -> str:
    """In loop_data the candidate (calc:2) answers item-i with 2*i, the baseline with 2*i + 1."""
    return str(2 * int(task["item"].split("-")[1]))


def slot_of(task: dict, output: str) -> str:
    return next(o["slot"] for o in task["outputs"] if o["output"] == output)


def create_campaign(api, loop_data, **overrides):
    body = {
        "name": "review",
        "kind": "pairwise",
        **loop_data,
        "reviewers": ["rev", "rev2"],
        "overlap": 1,
        "gate": {"min_judgments": 4, "min_win_rate": 0.5, "alternative": 0.95},
        **overrides,
    }
    response = api["ds"].post("/api/v1/campaigns/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def judge_all(client, cid, pick, limit=None) -> list[dict]:
    """Take and judge tasks until none are left (or `limit` are done); pick(task) gives the judgment body."""
    done: list[dict] = []
    while limit is None or len(done) < limit:
        response = client.get(f"/api/v1/campaigns/{cid}/next/")
        if response.status_code == 204:
            break
        assert response.status_code == 200, response.json()
        task = response.json()
        judged = client.post(f"/api/v1/tasks/{task['task']}/judgments/", pick(task), format="json")
        assert judged.status_code == 201, judged.json()
        done.append(task)
    return done


def pick_candidate(task):
    return {"choice": slot_of(task, candidate_output(task))}


def pick_baseline(task):
    return {"choice": slot_of(task, str(int(candidate_output(task)) + 1))}


def sign(client, cid, decision="approve", rationale="the evidence is clear"):
    return client.post(
        f"/api/v1/campaigns/{cid}/signoff/", {"decision": decision, "rationale": rationale}, format="json"
    )


# --- handing out tasks ------------------------------------------------------------------------------------


def test_next_task_is_blind(api, pairwise_campaign):
    response = api["reviewer"].get(f"/api/v1/campaigns/{pairwise_campaign['id']}/next/")
    assert response.status_code == 200
    task = response.json()
    text = response.content.decode()
    assert "calc" not in text and "candidate" not in text and "baseline" not in text
    assert [o["slot"] for o in task["outputs"]] == ["A", "B"]
    assert set(task) == {
        "task",
        "campaign",
        "kind",
        "item",
        "input",
        "input_content",
        "image_url",
        "outputs",
        "lease_expires_at",
        "progress",
    }


def test_output_order_follows_the_assignments_drawn_side_and_both_sides_occur(api, users, loop_data, alternating_slots):
    cid = create_campaign(api, loop_data, overlap=2)
    payloads = {}
    for role in ("reviewer", "reviewer2"):
        for task in judge_all(api[role], cid, lambda t: {"choice": "tie"}):
            payloads[(users[role].pk, task["task"])] = task
    rows = Assignment.objects.filter(task__campaign_id=cid)
    assert rows.count() == 12
    for assignment in rows:
        task = payloads[(assignment.reviewer_id, assignment.task_id)]
        assert slot_of(task, candidate_output(task)) == assignment.candidate_slot
    assert set(rows.values_list("candidate_slot", flat=True)) == {"A", "B"}


def test_candidate_side_is_drawn_at_random(api, pairwise_campaign, monkeypatch):
    drawn = []
    real_shuffle = assignments.random.shuffle

    def shuffle(seq):
        drawn.append(len(seq))
        real_shuffle(seq)

    monkeypatch.setattr(assignments, "random", types.SimpleNamespace(shuffle=shuffle))
    judge_all(api["reviewer"], pairwise_campaign["id"], lambda t: {"choice": "tie"})
    assert drawn == [2] * 6  # one shuffle of the two outputs per assignment


def test_overlap_is_never_exceeded_and_no_reviewer_gets_a_task_twice(api, loop_data):
    rev3 = token_client(UserFactory.create(username="rev3"))
    cid = create_campaign(api, loop_data, reviewers=["rev", "rev2", "rev3"], overlap=2)
    seen = {
        role: [t["task"] for t in judge_all(client, cid, lambda t: {"choice": "tie"})]
        for role, client in (("rev", api["reviewer"]), ("rev2", api["reviewer2"]), ("rev3", rev3))
    }
    assert all(len(tasks) == len(set(tasks)) for tasks in seen.values())
    assert sum(len(tasks) for tasks in seen.values()) == 12  # 6 tasks x overlap 2, and not one more
    for task in Task.objects.filter(campaign_id=cid):
        assert task.assigned_count == task.capacity == 2
        assert task.assignments.count() == 2 and task.judgments.count() == 2


def test_an_open_task_is_handed_out_again_until_judged(api, pairwise_campaign):
    cid = pairwise_campaign["id"]
    first = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").json()
    again = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").json()
    assert again.pop("lease_expires_at") >= first.pop("lease_expires_at")  # asking again renews the lease
    assert again == first
    assert Assignment.objects.filter(reviewer__username="rev").count() == 1


def test_next_answers_204_when_nothing_is_left(api, pairwise_campaign):
    cid = pairwise_campaign["id"]
    judged = judge_all(api["reviewer"], cid, pick_candidate, limit=4)
    assert len(judged) == 4
    assert len(judge_all(api["reviewer2"], cid, pick_candidate)) == 2  # overlap 1: only two are left
    for role in ("reviewer", "reviewer2"):
        response = api[role].get(f"/api/v1/campaigns/{cid}/next/")
        assert response.status_code == 204 and response.content == b""


# --- judgments --------------------------------------------------------------------------------------------


def test_second_judgment_by_same_reviewer_is_rejected_and_counted_once(api, pairwise_campaign):
    cid = pairwise_campaign["id"]
    task = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").json()
    url = f"/api/v1/tasks/{task['task']}/judgments/"
    assert api["reviewer"].post(url, {"choice": "A"}, format="json").status_code == 201
    again = api["reviewer"].post(url, {"choice": "B"}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "already_judged"
    assert Judgment.objects.filter(task_id=task["task"]).count() == 1
    assert Judgment.objects.get(task_id=task["task"]).choice == "A"
    assert api["approver"].get(f"/api/v1/campaigns/{cid}/results/").json()["judgments"] == 1


def test_judging_a_task_not_assigned_to_the_caller_is_404(api, pairwise_campaign):
    task = api["reviewer"].get(f"/api/v1/campaigns/{pairwise_campaign['id']}/next/").json()
    response = api["reviewer2"].post(f"/api/v1/tasks/{task['task']}/judgments/", {"choice": "A"}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "task_not_found"
    assert api["reviewer2"].post("/api/v1/tasks/999999/judgments/", {"choice": "A"}, format="json").status_code == 404
    assert Judgment.objects.count() == 0


@pytest.mark.parametrize(
    "body, field", [({"choice": "C"}, "choice"), ({"labels": ["good"]}, "labels"), ({}, "non_field_errors")]
)
def test_pairwise_judgment_needs_a_valid_choice(api, pairwise_campaign, body, field):
    task = api["reviewer"].get(f"/api/v1/campaigns/{pairwise_campaign['id']}/next/").json()
    response = api["reviewer"].post(f"/api/v1/tasks/{task['task']}/judgments/", body, format="json")
    assert response.status_code == 400
    extra = response.json()["extra"]
    assert extra.get("field") == field or field in extra.get("fields", {})
    assert Judgment.objects.count() == 0


@pytest.fixture
def labeling_campaign(api, loop_data):
    return create_campaign(api, loop_data, kind="labeling", baseline=None, labels=["correct", "wrong"])


def test_labeling_task_shows_labels_and_suggestion(api, labeling_campaign):
    task = api["reviewer"].get(f"/api/v1/campaigns/{labeling_campaign}/next/").json()
    assert task["kind"] == "labeling" and task["labels"] == ["correct", "wrong"]
    assert task["suggestion"] == candidate_output(task)
    assert "outputs" not in task


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"labels": ["correct", "maybe"]}, "labels", "Unknown labels ['maybe']"),
        ({"choice": "A"}, "choice", "takes labels, not choice"),
    ],
)
def test_labeling_judgment_is_checked_against_the_campaigns_labels(api, labeling_campaign, body, field, words):
    task = api["reviewer"].get(f"/api/v1/campaigns/{labeling_campaign}/next/").json()
    response = api["reviewer"].post(f"/api/v1/tasks/{task['task']}/judgments/", body, format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["field"] == field
    assert words in response.json()["message"]
    assert Judgment.objects.count() == 0


def test_labeling_judgment_with_known_labels_is_recorded_in_schema_order(api, loop_data):
    campaign = create_campaign(
        api, loop_data, kind="labeling", baseline=None, labels=["correct", "wrong"], multi_label=True
    )
    task = api["reviewer"].get(f"/api/v1/campaigns/{campaign}/next/").json()
    response = api["reviewer"].post(
        f"/api/v1/tasks/{task['task']}/judgments/", {"labels": ["wrong", "correct", "wrong"]}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["labels"] == ["correct", "wrong"] and response.json()["choice"] == ""


def test_single_label_campaign_refuses_two_labels(api, labeling_campaign):
    task = api["reviewer"].get(f"/api/v1/campaigns/{labeling_campaign}/next/").json()
    response = api["reviewer"].post(
        f"/api/v1/tasks/{task['task']}/judgments/", {"labels": ["wrong", "correct"]}, format="json"
    )
    assert response.status_code == 400 and "exactly one label" in response.json()["message"]


# --- results and statistics -------------------------------------------------------------------------------


def test_results_count_a_win_when_the_reviewer_picks_the_candidates_slot_whichever_side(
    api, pairwise_campaign, alternating_slots
):
    cid = pairwise_campaign["id"]
    judge_all(api["reviewer"], cid, pick_candidate, limit=3)
    judge_all(api["reviewer2"], cid, pick_baseline, limit=2)
    judge_all(api["reviewer2"], cid, lambda t: {"choice": "tie"})
    assert set(Judgment.objects.values_list("assignment__candidate_slot", flat=True)) == {"A", "B"}
    results = api["approver"].get(f"/api/v1/campaigns/{cid}/results/").json()
    assert results["candidate"] == {"wins": 3, "losses": 2, "ties": 1, "both_bad": 0}
    assert results["judgments"] == 6
    assert results["win_rate"]["estimate"] == pytest.approx(3.5 / 6)


def test_always_choosing_a_counts_as_a_win_only_where_the_candidate_was_a(api, pairwise_campaign, alternating_slots):
    cid = pairwise_campaign["id"]
    judge_all(api["reviewer"], cid, lambda t: {"choice": "A"})
    on_a = Assignment.objects.filter(task__campaign_id=cid, candidate_slot="A").count()
    results = api["approver"].get(f"/api/v1/campaigns/{cid}/results/").json()
    assert (results["candidate"]["wins"], results["candidate"]["losses"]) == (on_a, 6 - on_a) == (3, 3)


@pytest.mark.parametrize("successes, n", [(0, 5), (3, 10), (8, 10), (10, 10), (57, 100), (1, 1000)])
def test_wilson_interval_matches_scipy(successes, n):
    reference = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    interval = wilson_interval(successes, n)
    assert interval.estimate == pytest.approx(successes / n)
    assert interval.low == pytest.approx(reference.low, abs=1e-9)
    assert interval.high == pytest.approx(reference.high, abs=1e-9)


def test_wilson_interval_against_a_hand_computed_value():
    # 8 of 10, z = 1.96: centre (0.8 + 0.19208) / 1.38416, half-width 1.96 * sqrt(0.016 + 0.009604) / 1.38416
    interval = wilson_interval(8, 10)
    assert interval.low is not None and interval.high is not None
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.4902, 0.9433)
    assert wilson_interval(0, 0).as_dict() == {"estimate": None, "low": None, "high": None}


def test_ties_and_both_bad_count_as_half_a_win():
    counts = PairwiseCounts(wins=2, losses=2, ties=3, both_bad=1)
    assert counts.total == 8
    assert counts.win_rate().estimate == pytest.approx(4 / 8)
    assert counts.win_rate() == wilson_interval(4.0, 8)


# --- the gate ---------------------------------------------------------------------------------------------

WIN, TIE, LOSS = 1.0, 0.5, 0.0


def test_gate_is_pending_below_min_judgments_even_when_the_test_has_passed():
    policy = GatePolicy.from_dict({"min_judgments": 30, "alternative": 0.9})
    result = gate_evaluate(policy, [WIN] * 10)
    # min_judgments is a floor: the test looks at no boundary before it (it crossed the pass boundary at 6)
    assert result.status == "pending" and result.decided_at is None
    assert "looks at it from 30 judgments on" in " ".join(result.reasons)


def test_gate_passes_once_the_evidence_ratio_reaches_one_over_alpha():
    policy = GatePolicy.from_dict({"min_judgments": 5, "alternative": 0.9})
    # each win multiplies the evidence ratio by 0.9/0.5 = 1.8: 1.8^5 = 18.9 < 20 <= 1.8^6 = 34
    assert gate_evaluate(policy, [WIN] * 5).status == "pending"
    passed = gate_evaluate(policy, [WIN] * 6)
    assert passed.status == "pass" and passed.decided_at == 6 and "Passed at judgment 6" in passed.reasons[0]


def test_gate_fails_for_futility_and_the_decision_sticks():
    policy = GatePolicy.from_dict({"min_judgments": 5})
    result = gate_evaluate(policy, [LOSS] * 7 + [WIN] * 20)
    assert result.status == "fail" and result.decided_at == 7


def test_gate_stays_pending_while_the_evidence_is_mixed():
    result = gate_evaluate(GatePolicy.from_dict({"min_judgments": 10}), [WIN, LOSS] * 10)
    assert result.status == "pending" and result.decided_at is None


def test_gate_waits_for_enough_agreement():
    policy = GatePolicy.from_dict({"min_judgments": 5, "alternative": 0.9, "min_agreement": 0.6})
    assert gate_evaluate(policy, [WIN] * 8, agreement=0.4).status == "pending"
    assert gate_evaluate(policy, [WIN] * 8, agreement=None).status == "pending"
    assert gate_evaluate(policy, [WIN] * 8, agreement=0.7).status == "pass"


def test_margin_sets_the_rate_to_beat():
    policy = GatePolicy.from_dict({"margin": 0.05})
    assert policy.min_win_rate == pytest.approx(0.45) and policy.alternative == pytest.approx(0.55)
    with pytest.raises(PolicyInvalid):
        GatePolicy.from_dict({"margin": 0.05, "min_win_rate": 0.5})


@pytest.mark.parametrize(
    "policy",
    [
        {"min_judgments": 0},
        {"min_win_rate": 1.5},
        {"min_judgments": True},
        {"alpha": 0.6},
        {"alternative": 0.4},
        {"approvers": 0},
        {"colour": "red"},
        # a null where the field has a default used to be kept (alpha, power) or to raise a TypeError
        {"alpha": None},
        {"power": None},
        {"margin": None},
        {"alternative": None},
    ],
)
def test_gate_policy_refuses_nonsense(policy):
    with pytest.raises(PolicyInvalid):
        GatePolicy.from_dict(policy)


def test_campaign_with_an_invalid_gate_is_refused(api, loop_data):
    response = api["ds"].post(
        "/api/v1/campaigns/",
        {"name": "x", "kind": "pairwise", **loop_data, "reviewers": ["rev"], "gate": {"min_judgments": 0}},
        format="json",
    )
    assert response.status_code == 400 and response.json()["extra"]["field"] == "gate"
    assert Campaign.objects.count() == 0


def test_results_gate_moves_from_pending_to_pass_as_judgments_arrive(api, pairwise_campaign):
    cid = pairwise_campaign["id"]
    # alternative 0.95: each win multiplies the evidence by 1.9; the fifth reaches 24.8 >= 20
    judge_all(api["reviewer"], cid, pick_candidate, limit=4)
    assert api["approver"].get(f"/api/v1/campaigns/{cid}/results/").json()["gate"]["status"] == "pending"
    judge_all(api["reviewer"], cid, pick_candidate, limit=1)
    results = api["approver"].get(f"/api/v1/campaigns/{cid}/results/").json()
    assert results["judgments"] == 5 and results["gate"]["status"] == "pass" and results["gate"]["decided_at"] == 5


def test_results_gate_fails_when_the_baseline_keeps_winning(api, pairwise_campaign):
    cid = pairwise_campaign["id"]
    judge_all(api["reviewer"], cid, pick_baseline)
    results = api["approver"].get(f"/api/v1/campaigns/{cid}/results/").json()
    assert results["candidate"]["losses"] == 6 and results["gate"]["status"] == "fail"


# --- sign-off ---------------------------------------------------------------------------------------------


@pytest.fixture
def passed_campaign(api, pairwise_campaign):
    judge_all(api["reviewer"], pairwise_campaign["id"], pick_candidate)
    return pairwise_campaign["id"]


def test_approver_signs_off_the_first_verdict_on_the_genesis_hash(api, passed_campaign):
    response = sign(api["approver"], passed_campaign)
    assert response.status_code == 201, response.json()
    verdict = response.json()
    assert verdict["decision"] == "approve" and verdict["signer"] == "approver"
    assert verdict["previous_hash"] == GENESIS_HASH
    assert len(verdict["hash"]) == 64 and verdict["hash"] != GENESIS_HASH
    assert verdict["evidence"]["results"]["gate"]["status"] == "pass"
    assert verdict["evidence"]["dataset"]["sha256"] and len(verdict["evidence"]["prediction_sets"]) == 2
    assert Campaign.objects.get(pk=passed_campaign).status == Campaign.Status.CLOSED


def test_second_verdict_is_chained_to_the_first(api, loop_data, passed_campaign):
    first = sign(api["approver"], passed_campaign).json()
    other = create_campaign(api, loop_data, candidate="calc:1", baseline="calc:2")
    second = sign(api["approver2"], other, decision="reject", rationale="worse")
    assert second.status_code == 201, second.json()
    assert second.json()["previous_hash"] == first["hash"]
    assert verdict_chain_verify() is None


def test_second_signoff_on_the_same_campaign_is_a_conflict(api, passed_campaign):
    assert sign(api["approver"], passed_campaign).status_code == 201
    again = sign(api["approver2"], passed_campaign, decision="reject")
    assert again.status_code == 409 and again.json()["code"] == "already_signed"
    assert Verdict.objects.count() == 1


def test_uploader_of_the_candidate_cannot_sign_it_off(api, loop_data):
    admin = api["admin"]
    assert admin.post("/api/v1/models/calc/versions/", {"version": "3"}, format="json").status_code == 201
    rows = [{"id": f"item-{i}", "output": str(2 * i)} for i in range(6)]
    assert (
        api["ds"]
        .post(
            "/api/v1/models/calc/versions/3/predictions/",
            {"dataset": "arith", "dataset_version": 1, "file": jsonl_file(rows)},
            format="multipart",
        )
        .status_code
        == 201
    )
    cid = create_campaign(api, loop_data, candidate="calc:3")
    judge_all(api["reviewer"], cid, lambda t: {"choice": slot_of(t, str(2 * int(t["item"].split("-")[1])))})
    response = sign(admin, cid)
    assert response.status_code == 403
    assert response.json()["code"] == "separation_of_duties"
    assert Verdict.objects.count() == 0
    assert sign(api["approver"], cid).status_code == 201  # another approver may


def test_uploader_of_the_candidates_predictions_cannot_sign_it_off(api, loop_data):
    assert api["admin"].post("/api/v1/models/calc/versions/", {"version": "4"}, format="json").status_code == 201
    ModelVersion.objects.filter(version="4").update(created_by=ModelVersion.objects.get(version="2").created_by)
    rows = [{"id": f"item-{i}", "output": str(2 * i)} for i in range(6)]
    assert (
        api["admin"]
        .post(
            "/api/v1/models/calc/versions/4/predictions/",
            {"dataset": "arith", "dataset_version": 1, "file": jsonl_file(rows)},
            format="multipart",
        )
        .status_code
        == 201
    )
    cid = create_campaign(api, loop_data, candidate="calc:4")
    response = sign(api["admin"], cid, decision="reject")
    assert response.status_code == 403 and response.json()["code"] == "separation_of_duties"


def test_approve_while_the_gate_is_pending_is_refused(api, pairwise_campaign):
    cid = pairwise_campaign["id"]
    judge_all(api["reviewer"], cid, pick_candidate, limit=2)
    response = sign(api["approver"], cid)
    assert response.status_code == 409
    assert response.json()["code"] == "gate_not_passed"
    assert response.json()["extra"]["gate"]["status"] == "pending"
    assert Verdict.objects.count() == 0
    assert ModelVersion.objects.get(version="2").stage == "candidate"
    assert not StageTransition.objects.exists()


def test_reject_is_allowed_whatever_the_gate_says(api, pairwise_campaign):
    response = sign(
        api["approver"], pairwise_campaign["id"], decision="reject", rationale="not enough evidence, and I saw a bug"
    )
    assert response.status_code == 201
    assert ModelVersion.objects.get(version="2").stage == "rejected"


@pytest.mark.parametrize(
    "body, field",
    [({"decision": "maybe", "rationale": "r"}, "decision"), ({"decision": "reject", "rationale": ""}, "rationale")],
)
def test_signoff_needs_a_decision_and_a_rationale(api, passed_campaign, body, field):
    response = api["approver"].post(f"/api/v1/campaigns/{passed_campaign}/signoff/", body, format="json")
    assert response.status_code == 400 and field in response.json()["extra"]["fields"]
    assert Verdict.objects.count() == 0


def test_approval_moves_the_version_to_approved_and_records_the_transition(api, users, passed_campaign):
    verdict = sign(api["approver"], passed_campaign).json()
    version = ModelVersion.objects.get(model__name="calc", version="2")
    assert version.stage == ModelVersion.Stage.APPROVED
    transition = StageTransition.objects.get(model_version=version)
    assert (transition.from_stage, transition.to_stage) == ("candidate", "approved")
    assert transition.cause == f"verdict:{verdict['id']}"
    assert transition.actor == users["approver"] and transition.reason == "the evidence is clear"
    assert ModelVersion.objects.get(version="1").stage == "candidate"  # the baseline is untouched


def test_gate_endpoint_answers_none_pending_approved_rejected(api, loop_data):
    gate = lambda v: api["ds"].get(f"/api/v1/gate/calc/{v}/").json()  # noqa: E731
    assert gate("2")["status"] == "none" and gate("2")["verdict"] is None
    cid = create_campaign(api, loop_data)
    assert gate("2")["status"] == "pending"
    judge_all(api["reviewer"], cid, pick_candidate)
    assert gate("2")["status"] == "pending"  # a passed gate is not yet a signed verdict
    verdict = sign(api["approver"], cid).json()
    approved = gate("2")
    assert (approved["status"], approved["stage"], approved["verdict"]["hash"]) == (
        "approved",
        "approved",
        verdict["hash"],
    )

    other = create_campaign(api, loop_data, candidate="calc:1", baseline="calc:2")
    assert gate("1")["status"] == "pending"
    sign(api["approver"], other, decision="reject", rationale="worse")
    assert (gate("1")["status"], gate("1")["stage"]) == ("rejected", "rejected")
    assert api["ds"].get("/api/v1/gate/calc/9/").status_code == 404


def test_editing_a_signed_verdict_breaks_the_chain(api, loop_data, passed_campaign):
    sign(api["approver"], passed_campaign)
    other = create_campaign(api, loop_data, candidate="calc:1", baseline="calc:2")
    sign(api["approver"], other, decision="reject", rationale="worse")
    assert verdict_chain_verify() is None
    first = Verdict.objects.order_by("id").first()
    assert first is not None
    Verdict.objects.filter(pk=first.pk).update(rationale="quietly rewritten")
    assert verdict_chain_verify() == first


def test_relinking_a_verdict_to_another_predecessor_breaks_the_chain(api, passed_campaign):
    sign(api["approver"], passed_campaign)
    verdict = Verdict.objects.get()
    Verdict.objects.filter(pk=verdict.pk).update(previous_hash="f" * 64)
    assert verdict_chain_verify() == verdict


# --- production -------------------------------------------------------------------------------------------


def test_approved_version_goes_to_production_by_a_recorded_act(api, users, passed_campaign):
    sign(api["approver"], passed_campaign)
    response = api["approver2"].post(
        "/api/v1/models/calc/versions/2/stage/", {"stage": "production", "reason": "release 2.0"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["stage"] == "production"
    assert [(t["from_stage"], t["to_stage"]) for t in response.json()["transitions"]] == [
        ("candidate", "approved"),
        ("approved", "production"),
    ]
    last = StageTransition.objects.order_by("id").last()
    assert last is not None
    assert (last.actor, last.reason, last.cause) == (users["approver2"], "release 2.0", "manual")
    assert api["ds"].get("/api/v1/gate/calc/2/").json()["stage"] == "production"


def test_a_candidate_cannot_be_moved_to_production_directly(api, pairwise_campaign):
    response = api["approver"].post(
        "/api/v1/models/calc/versions/2/stage/", {"stage": "production", "reason": "skip review"}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "needs_verdict"
    assert ModelVersion.objects.get(version="2").stage == "candidate"
    assert not StageTransition.objects.exists()


def test_a_rejected_version_cannot_be_moved_to_production(api, pairwise_campaign):
    sign(api["approver"], pairwise_campaign["id"], decision="reject")
    response = api["approver"].post(
        "/api/v1/models/calc/versions/2/stage/", {"stage": "production", "reason": "overrule"}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "invalid_stage_transition"
    assert ModelVersion.objects.get(version="2").stage == "rejected"


def test_move_to_production_needs_a_reason(api, passed_campaign):
    sign(api["approver"], passed_campaign)
    response = api["approver2"].post(
        "/api/v1/models/calc/versions/2/stage/", {"stage": "production", "reason": ""}, format="json"
    )
    assert response.status_code == 400 and "reason" in response.json()["extra"]["fields"]
    assert ModelVersion.objects.get(version="2").stage == "approved"


def test_confidence_constant_is_the_95_percent_normal_quantile():
    from scipy.stats import norm

    from reviews.stats import Z_95

    assert math.isclose(Z_95, norm.ppf(0.975), rel_tol=1e-12)


def test_a_signed_off_campaign_hands_out_and_takes_no_more_judgments(api, pairwise_campaign):
    cid = pairwise_campaign["id"]
    judge_all(api["reviewer"], cid, pick_candidate, limit=5)
    open_task = api["reviewer2"].get(f"/api/v1/campaigns/{cid}/next/").json()  # claimed, not yet judged
    verdict = sign(api["approver"], cid).json()
    assert api["reviewer2"].get(f"/api/v1/campaigns/{cid}/next/").status_code == 204
    late = api["reviewer2"].post(f"/api/v1/tasks/{open_task['task']}/judgments/", {"choice": "A"}, format="json")
    assert late.status_code == 409 and late.json()["code"] == "campaign_closed"
    # what the approver signed is still what the results say
    results = api["approver"].get(f"/api/v1/campaigns/{cid}/results/").json()
    assert results["candidate"] == verdict["evidence"]["results"]["candidate"]


@pytest.mark.db_agnostic
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(n=st.integers(min_value=1, max_value=10_000), data=st.data())
def test_wilson_interval_always_brackets_the_estimate_inside_0_1(n, data):
    successes = data.draw(st.integers(min_value=0, max_value=2 * n)) / 2  # ties make half-wins
    interval = wilson_interval(successes, n)
    assert interval.low is not None and interval.estimate is not None and interval.high is not None  # n >= 1
    assert 0.0 <= interval.low <= interval.estimate <= interval.high <= 1.0


@pytest.mark.db_agnostic
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(outcomes=st.lists(st.sampled_from([WIN, TIE, LOSS]), max_size=300), bar=st.floats(0.05, 0.85))
def test_gate_never_passes_below_min_judgments_and_one_more_win_never_hurts(outcomes, bar):
    policy = GatePolicy.from_dict({"min_judgments": 20, "min_win_rate": bar})
    result = gate_evaluate(policy, outcomes).status
    if len(outcomes) < 20:
        assert result != "pass"
    rank = {"fail": 0, "pending": 1, "pass": 2}
    # turning the first loss into a win can only move the gate towards pass
    if LOSS in outcomes:
        better = list(outcomes)
        better[better.index(LOSS)] = WIN
        assert rank[gate_evaluate(policy, better).status] >= rank[result]


@pytest.mark.db_agnostic
@pytest.mark.parametrize("n", [10, 13, 25])
def test_unanimous_wins_never_fail_even_the_strictest_gate(n):
    assert wilson_interval(n, n).high == 1.0 and wilson_interval(0, n).low == 0.0
    assert gate_evaluate(GatePolicy.from_dict({"min_judgments": 5, "min_win_rate": 0.9}), [WIN] * n).status != "fail"


def test_a_sign_off_landing_mid_submission_still_refuses_the_judgment(api, pairwise_campaign):
    """The status is read inside the judgment's transaction: a sign-off committed after the reviewer's
    assignment was read but before the write cannot be followed by a judgment the verdict did not see."""
    from unittest import mock

    from reviews.models import Campaign, Judgment
    from reviews.services import judgments

    cid = pairwise_campaign["id"]
    task = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").json()
    read_assignment = judgments._assignment_for

    def read_then_close(**kwargs):
        assignment = read_assignment(**kwargs)
        Campaign.objects.filter(pk=cid).update(status=Campaign.Status.CLOSED)  # the sign-off commits here
        return assignment

    with mock.patch.object(judgments, "_assignment_for", read_then_close):
        response = api["reviewer"].post(f"/api/v1/tasks/{task['task']}/judgments/", {"choice": "A"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "campaign_closed"
    assert not Judgment.objects.filter(task_id=task["task"]).exists()


def test_the_judgment_response_written_by_hand_is_what_drf_renders_from_the_documented_fields(api, pairwise_campaign):
    from django.utils import timezone
    from rest_framework import serializers

    from reviews.api.serializers import JudgmentSerializer
    from reviews.models import Judgment

    def by_drf(judgment):
        return serializers.ModelSerializer.to_representation(JudgmentSerializer(), judgment)

    cid = pairwise_campaign["id"]
    task = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").json()
    response = api["reviewer"].post(
        f"/api/v1/tasks/{task['task']}/judgments/",
        {"choice": "A", "rationale": "clearer", "duration_ms": 1234, "client_id": "c-1"},
        format="json",
    )
    judgment = Judgment.objects.select_related("reviewer").get(pk=response.json()["id"])
    assert response.json() == by_drf(judgment)
    judgment.retracted_at = judgment.discarded_at = timezone.now()
    judgment.discard_reason = "duplicate"
    assert JudgmentSerializer(judgment).data == by_drf(judgment) and JudgmentSerializer(judgment).data["discarded_at"]


def test_progress_counts_what_is_left_exactly_up_to_the_cap_and_says_more_beyond(api, pairwise_campaign, monkeypatch):
    from reviews import selectors

    cid = pairwise_campaign["id"]
    first = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").json()["progress"]
    assert first["left_is_lower_bound"] is False and first["left"] >= 3  # few tasks: counted exactly
    monkeypatch.setattr(selectors, "LEFT_COUNT_CAP", 2)
    capped = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").json()["progress"]
    # two open (on screen and prefetched) plus the cap of claimable ones, flagged as "at least"
    assert capped["left_is_lower_bound"] is True and capped["left"] == 2 + capped["open"]
