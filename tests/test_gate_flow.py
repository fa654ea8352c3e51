"""The gate in the running system: decided once and announced, stopping the hand-out, several approvers,
and the report frozen into the verdict."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from reviews.models import Approval, Campaign, Verdict
from reviews.report import report_self_contained
from reviews.services import decisions
from reviews.services.decisions import campaign_gate_check
from tests.conftest import token_client
from tests.factories import UserFactory
from webhooks.models import WebhookDelivery, WebhookEndpoint


def create(api, loop_data, **gate):
    body = {
        "name": "gate flow",
        "kind": "pairwise",
        **loop_data,
        "reviewers": ["rev", "rev2"],
        "overlap": 1,
        "gate": {"min_judgments": 3, "alternative": 0.95, **gate},
    }
    response = api["ds"].post("/api/v1/campaigns/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def judge(client, cid, pick, limit):
    for _ in range(limit):
        task = client.get(f"/api/v1/campaigns/{cid}/next/")
        if task.status_code == 204:
            return
        body = task.json()
        right = str(2 * int(body["item"].split("-")[1]))
        winner = next(o["slot"] for o in body["outputs"] if (o["output"] == right) == (pick == "candidate"))
        assert (
            client.post(f"/api/v1/tasks/{body['task']}/judgments/", {"choice": winner}, format="json").status_code
            == 201
        )


@pytest.fixture
def endpoint(users, settings):
    settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    return WebhookEndpoint.objects.create(
        url="http://127.0.0.1:9/hook", events=["campaign.decided"], secret_encrypted="x", created_by=users["ds"]
    )


def test_judgments_ask_the_worker_to_check_the_gate_once_per_burst(api, loop_data, django_capture_on_commit_callbacks):
    """A burst of judgments shares one check, scheduled after the first of them: it runs after all of them
    committed. A judgment after that check has run asks for another."""
    cid = create(api, loop_data)
    with mock.patch("reviews.tasks.campaign_gate_check_task.apply_async") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            judge(api["reviewer"], cid, "candidate", 2)
            judge(api["reviewer2"], cid, "candidate", 1)
        assert [(call.args, call.kwargs) for call in delay.call_args_list] == [(((cid,),), {"countdown": 1.0})]
        # the scheduled check has run: its window is over, on the campaign row and in this process's memory of it
        window_over = timezone.now() - timedelta(seconds=1)
        Campaign.objects.filter(pk=cid).update(gate_check_due_at=window_over)
        decisions.known_due[cid] = window_over
        with django_capture_on_commit_callbacks(execute=True):
            judge(api["reviewer2"], cid, "candidate", 1)
    assert [call.args for call in delay.call_args_list] == [((cid,),), ((cid,),)]


def test_the_decision_is_recorded_once_and_announced_once(api, loop_data, endpoint):
    cid = create(api, loop_data)
    judge(api["reviewer"], cid, "candidate", 4)
    assert campaign_gate_check(campaign_id=cid) == "pending"
    judge(api["reviewer"], cid, "candidate", 1)  # five wins: evidence ratio 1.9^5 = 24.8 >= 20
    with mock.patch("webhooks.tasks.deliver_webhook.delay"):
        assert campaign_gate_check(campaign_id=cid) == "pass"
        assert campaign_gate_check(campaign_id=cid) == "pass"
    campaign = Campaign.objects.get(pk=cid)
    assert (campaign.decision, campaign.decided_after) == ("pass", 5)
    (delivery,) = WebhookDelivery.objects.filter(event="campaign.decided")
    assert delivery.payload["data"]["decision"] == "pass" and delivery.payload["data"]["judgments"] == 5


def test_a_decided_campaign_stops_handing_out_tasks_unless_told_otherwise(api, loop_data):
    cid = create(api, loop_data)
    judge(api["reviewer"], cid, "baseline", 2)  # two losses at alternative 0.95: the evidence ratio is 0.01 ...
    assert campaign_gate_check(campaign_id=cid) == "pending"  # ... but the policy decides nothing before 3 items
    judge(api["reviewer"], cid, "baseline", 1)
    assert campaign_gate_check(campaign_id=cid) == "fail"
    assert api["reviewer2"].get(f"/api/v1/campaigns/{cid}/next/").status_code == 204
    keep_going = create(api, loop_data, stop_when_decided=False)
    judge(api["reviewer"], keep_going, "baseline", 3)
    assert campaign_gate_check(campaign_id=keep_going) == "fail"
    assert api["reviewer2"].get(f"/api/v1/campaigns/{keep_going}/next/").status_code == 200


def test_two_approvers_are_needed_when_the_policy_says_so_and_one_rejection_rejects(api, users, loop_data):
    cid = create(api, loop_data, approvers=2)
    judge(api["reviewer"], cid, "candidate", 6)
    first = api["approver"].post(
        f"/api/v1/campaigns/{cid}/signoff/", {"decision": "approve", "rationale": "good"}, format="json"
    )
    assert first.status_code == 202 and first.json() == {"approvals": 1, "needed": 2, "decision": "approve"}
    assert not Verdict.objects.exists()
    again = api["approver"].post(
        f"/api/v1/campaigns/{cid}/signoff/", {"decision": "approve", "rationale": "still good"}, format="json"
    )
    assert again.status_code == 409 and again.json()["code"] == "already_signed_by_you"
    second = api["approver2"].post(
        f"/api/v1/campaigns/{cid}/signoff/", {"decision": "approve", "rationale": "agree"}, format="json"
    )
    assert second.status_code == 201
    assert [a["approver"] for a in second.json()["evidence"]["approvals"]] == ["approver", "approver2"]

    rejected = create(api, loop_data, approvers=2)
    judge(api["reviewer2"], rejected, "candidate", 6)
    third = token_client(UserFactory.create(username="approver3", role="approver"))
    response = third.post(
        f"/api/v1/campaigns/{rejected}/signoff/", {"decision": "reject", "rationale": "not convinced"}, format="json"
    )
    assert response.status_code == 201 and response.json()["decision"] == "reject"
    assert Approval.objects.filter(campaign_id=rejected).count() == 1


def test_the_report_is_frozen_into_the_verdict_and_downloadable(api, users, loop_data):
    from django.test import Client

    cid = create(api, loop_data)
    judge(api["reviewer"], cid, "candidate", 6)
    verdict = (
        api["approver"]
        .post(f"/api/v1/campaigns/{cid}/signoff/", {"decision": "approve", "rationale": "ok"}, format="json")
        .json()
    )
    html = Verdict.objects.get(pk=verdict["id"]).evidence["report_html"]
    assert "gate flow" in html and "Gate: pass" in html and verdict["evidence"]["dataset"]["sha256"] in html
    browser = Client()
    browser.force_login(users["approver"])
    downloaded = browser.get(f"/campaigns/{cid}/report.html")
    # the signed report, with only the chart scripts' text inlined so the file reads offline
    assert (
        downloaded.content.decode() == report_self_contained(html)[0]
        and "attachment" in downloaded["Content-Disposition"]
    )
    as_json = browser.get(f"/campaigns/{cid}/report.json").json()
    assert as_json["verdict"]["hash"] == verdict["hash"] and as_json["results"]["gate"]["status"] == "pass"
    assert browser.get(f"/campaigns/{cid}/report.exe").status_code == 404
