"""Webhooks people can debug: a test event (`ping`) through the outbox and signing, each attempt's request body,
response status, body (first 4 KB) and duration; and a `verdict.signed` payload that carries what a deploy job needs,
checked as a receiver on loopback gets it against the verdict and the chain."""

import json

import pytest
from standardwebhooks.webhooks import Webhook

from reviews.models import Verdict
from tests.conftest import token_client
from tests.factories import UserFactory
from tests.support.answering_receiver import Receiver
from webhooks.models import WebhookAttempt, WebhookDelivery
from webhooks.sender import RESPONSE_BODY_LIMIT
from webhooks.services import webhook_delivery_attempt, webhook_endpoint_create


@pytest.fixture
def receiver(settings):
    settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]  # netguard refuses loopback unless listed
    settings.SIGNOFF_WEBHOOK_TIMEOUT_SECONDS = 3.0
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def endpoint(users, receiver):
    return webhook_endpoint_create(url=receiver.url, events=["campaign.decided"], created_by=users["ds"])


def test_ping_goes_to_that_endpoint_only_signed_and_logged_with_each_attempts_details(api, users, receiver, endpoint):
    created, secret = endpoint
    webhook_endpoint_create(url=receiver.url + "/other", events=["campaign.decided"], created_by=users["ds"])
    response = api["ds"].post(f"/api/v1/webhooks/{created.pk}/ping/")
    assert response.status_code == 202, response.json()
    ping = response.json()
    assert ping["event"] == "ping" and ping["status"] == "pending" and ping["attempts"] == []
    assert ping["payload"]["data"]["endpoint"] == created.pk and ping["payload"]["data"]["requested_by"] == "ds"
    assert WebhookDelivery.objects.count() == 1  # the other endpoint gets nothing

    receiver.status, receiver.body = 418, b"<b>teapot</b>! " + "é".encode() * 3000  # 6 KB, a character split at 4 KB
    assert webhook_delivery_attempt(delivery_id=ping["id"]) is not None  # a retry is scheduled
    ((headers, sent),) = receiver.requests
    assert Webhook(secret).verify(sent, headers)["type"] == "ping"  # signed as any event
    (attempt,) = api["ds"].get(f"/api/v1/webhooks/{created.pk}/deliveries/").json()["results"][0]["attempts"]
    assert attempt["request_body"] == sent.decode()
    assert attempt["status_code"] == 418
    kept = receiver.body[:RESPONSE_BODY_LIMIT].decode("utf-8", "replace")
    assert attempt["response_excerpt"] == kept and kept.startswith("<b>teapot</b>! éé") and kept.endswith("\ufffd")
    assert len(attempt["response_excerpt"].encode()) <= RESPONSE_BODY_LIMIT + 2  # 4 KB, and the one replaced char
    assert attempt["duration_ms"] >= 0 and isinstance(attempt["duration_ms"], int)


def test_ping_is_refused_for_a_deactivated_endpoint_and_hidden_from_others(api, users, endpoint):
    created, _ = endpoint
    other_ds = UserFactory.create(username="other-ds", role="data_scientist")
    assert token_client(other_ds).post(f"/api/v1/webhooks/{created.pk}/ping/").status_code == 404
    assert api["reviewer"].post(f"/api/v1/webhooks/{created.pk}/ping/").status_code == 403
    assert api["admin"].post(f"/api/v1/webhooks/{created.pk}/ping/").status_code == 202
    assert api["ds"].delete(f"/api/v1/webhooks/{created.pk}/").status_code == 204
    refused = api["ds"].post(f"/api/v1/webhooks/{created.pk}/ping/")
    assert refused.status_code == 409
    assert refused.json() == {
        "message": "This endpoint is deactivated; reactivate it first.",
        "code": "endpoint_inactive",
        "extra": {},
    }


def test_an_attempt_refused_before_sending_records_no_request_body(api, users, receiver, endpoint, settings):
    created, _ = endpoint
    ping = api["ds"].post(f"/api/v1/webhooks/{created.pk}/ping/").json()
    settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS = []  # loopback is refused at delivery now
    webhook_delivery_attempt(delivery_id=ping["id"])
    attempt = WebhookAttempt.objects.get()
    assert attempt.request_body == "" and attempt.status_code is None and "127.0.0.1" in attempt.error
    assert receiver.requests == []


def _judge_all_for_candidate(client, cid):
    while (response := client.get(f"/api/v1/campaigns/{cid}/next/")).status_code == 200:
        task = response.json()
        want = str(2 * int(task["item"].split("-")[1]))
        slot = next(o["slot"] for o in task["outputs"] if o["output"] == want)
        assert (
            client.post(f"/api/v1/tasks/{task['task']}/judgments/", {"choice": slot}, format="json").status_code == 201
        )


def test_verdict_signed_carries_model_version_decision_hash_chain_head_and_the_gates_figures(
    api, users, receiver, pairwise_campaign, settings
):
    settings.SIGNOFF_BASE_URL = "https://signoff.example.test"
    _, secret = webhook_endpoint_create(url=receiver.url, events=["verdict.signed"], created_by=users["ds"])
    cid = pairwise_campaign["id"]
    _judge_all_for_candidate(api["reviewer"], cid)
    signed = api["approver"].post(
        f"/api/v1/campaigns/{cid}/signoff/", {"decision": "approve", "rationale": "good"}, format="json"
    )
    assert signed.status_code == 201, signed.json()
    (delivery,) = WebhookDelivery.objects.filter(event="verdict.signed")
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    ((headers, body),) = receiver.requests
    data = Webhook(secret).verify(body, headers)["data"]  # what the deploy job gets, signature checked

    verdict = Verdict.objects.get()
    head = Verdict.objects.latest("id")
    chain = api["approver"].get("/api/v1/verdicts/verify/").json()  # the chain as CI's `signoff chain verify` sees it
    assert chain["ok"] and chain["head"] == data["chain_head"] == head.hash
    assert (data["model"], data["version"], data["decision"]) == ("calc", "2", "approve")
    assert data["verdict_hash"] == data["hash"] == verdict.hash
    assert data["chain_count"] == chain["count"] == 1
    assert data["verdict_url"] == f"https://signoff.example.test/verdicts/{verdict.pk}/"
    results = verdict.evidence["results"]
    figures = data["figures"]
    assert figures["status"] == "pass" == results["gate"]["status"]
    assert figures["win_rate"] == results["win_rate"]  # estimate with its Wilson 95% interval
    assert figures["win_rate"]["estimate"] == 1.0 and 0 < figures["win_rate"]["low"] < 1.0
    assert figures["judgments"] == results["judgments"] == 6
    assert figures["judged_items"] == results["gate"]["judged"] == 6
    assert figures["test"] == results["gate"]["method"] and "Sequential probability ratio test" in figures["test"]
    assert figures["policy"]["alpha"] == 0.05 and figures["policy"]["min_win_rate"] == 0.5
    # the keys earlier receivers read are all still there
    assert {"verdict", "rationale", "signer", "signed_at", "previous_hash", "campaign", "model_version", "gate"} <= set(
        data
    )
    assert json.loads(body)["type"] == "verdict.signed"
