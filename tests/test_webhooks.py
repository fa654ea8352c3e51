"""Outgoing webhooks: SSRF guard, secrets, the transactional outbox, signed delivery to a local receiver, retries."""

import itertools
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from core.crypto import decrypt
from models_app.models import ModelVersion, StageTransition
from reviews.models import Campaign, Verdict
from reviews.services.verdicts import verdict_sign
from webhooks import tasks
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.selectors import webhook_deliveries_due
from webhooks.services import (
    webhook_delivery_attempt,
    webhook_endpoint_create,
    webhook_event_publish,
)

Status = WebhookDelivery.Status


class Receiver:
    """A real HTTP server on 127.0.0.1 that records every request and answers as told."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        self.headers: dict[str, str] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(receiver.status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        # a short poll interval keeps shutdown() (and so each test's teardown) quick
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def allow_loopback(settings):
    settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    settings.SIGNOFF_WEBHOOK_TIMEOUT_SECONDS = 3.0


@pytest.fixture
def no_broker():
    """The worker is not needed: deliveries are attempted by calling the service directly."""
    with mock.patch.object(tasks.deliver_webhook, "delay") as delay:
        yield delay


@pytest.fixture
def endpoint(users, receiver, allow_loopback, no_broker):
    created, secret = webhook_endpoint_create(
        url=f"{receiver.base}/hook", events=["verdict.signed", "model_version.stage_changed"], created_by=users["ds"]
    )
    return created, secret


@pytest.fixture
def delivery(endpoint):
    (created,) = webhook_event_publish(event="verdict.signed", payload={"verdict": 1, "decision": "approve"})
    return created


def assert_error_shape(body):
    assert set(body) == {"message", "code", "extra"}, body


# --- registering endpoints --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.0.0.1/hook",
        "http://192.168.1.5/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8000/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_webhook_to_a_private_address_is_refused(api, url):
    response = api["ds"].post("/api/v1/webhooks/", {"url": url, "events": ["verdict.signed"]}, format="json")
    assert response.status_code == 400
    assert_error_shape(response.json())
    assert response.json()["code"] == "webhook_url_private"
    assert response.json()["extra"]["addresses"]
    assert not WebhookEndpoint.objects.exists()


def test_private_host_is_allowed_once_listed_in_settings(api, settings):
    settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    response = api["ds"].post(
        "/api/v1/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["verdict.signed"]}, format="json"
    )
    assert response.status_code == 201, response.json()
    # listing one host opens only that host
    other = api["ds"].post(
        "/api/v1/webhooks/", {"url": "http://10.0.0.1/hook", "events": ["verdict.signed"]}, format="json"
    )
    assert other.status_code == 400 and other.json()["code"] == "webhook_url_private"


@pytest.mark.parametrize(
    "body, code",
    [
        ({"url": "ftp://93.184.216.34/hook", "events": ["verdict.signed"]}, "invalid_webhook_url"),
        ({"url": "http://93.184.216.34/hook", "events": ["model.deleted"]}, "invalid"),
        ({"url": "http://93.184.216.34/hook", "events": []}, "invalid"),
    ],
)
def test_webhook_needs_an_http_url_and_known_events(api, body, code):
    response = api["ds"].post("/api/v1/webhooks/", body, format="json")
    assert response.status_code == 400 and response.json()["code"] == code
    assert not WebhookEndpoint.objects.exists()


def test_secret_is_shown_once_and_stored_only_encrypted(api):
    response = api["ds"].post(
        "/api/v1/webhooks/", {"url": "http://93.184.216.34/hook", "events": ["verdict.signed"]}, format="json"
    )
    assert response.status_code == 201
    secret = response.json()["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    stored = WebhookEndpoint.objects.get()
    assert stored.secret_encrypted != secret and secret not in stored.secret_encrypted
    assert secret.removeprefix("whsec_") not in stored.secret_encrypted
    assert decrypt(stored.secret_encrypted) == secret
    for listed in (
        api["ds"].get(f"/api/v1/webhooks/{stored.pk}/").json(),
        api["ds"].get("/api/v1/webhooks/").json()["results"][0],
    ):
        assert "secret" not in listed and "secret_encrypted" not in listed
        assert secret not in json.dumps(listed)


# --- the outbox -------------------------------------------------------------------------------------------


def _judge_all_for_candidate(client, cid):
    while (response := client.get(f"/api/v1/campaigns/{cid}/next/")).status_code == 200:
        task = response.json()
        want = str(2 * int(task["item"].split("-")[1]))
        slot = next(o["slot"] for o in task["outputs"] if o["output"] == want)
        assert (
            client.post(f"/api/v1/tasks/{task['task']}/judgments/", {"choice": slot}, format="json").status_code == 201
        )


def test_signoff_writes_both_deliveries_and_enqueues_them_on_commit(
    api, endpoint, no_broker, pairwise_campaign, django_capture_on_commit_callbacks
):
    cid = pairwise_campaign["id"]
    _judge_all_for_candidate(api["reviewer"], cid)
    with django_capture_on_commit_callbacks(execute=True):
        verdict = api["approver"].post(
            f"/api/v1/campaigns/{cid}/signoff/", {"decision": "approve", "rationale": "ok"}, format="json"
        )
    assert verdict.status_code == 201
    deliveries = {d.event: d for d in WebhookDelivery.objects.all()}
    assert set(deliveries) == {"verdict.signed", "model_version.stage_changed"}
    signed = deliveries["verdict.signed"].payload
    assert signed["type"] == "verdict.signed" and signed["data"]["hash"] == verdict.json()["hash"]
    assert signed["data"]["model_version"]["stage"] == "approved" and signed["data"]["gate"]["status"] == "pass"
    stage = deliveries["model_version.stage_changed"].payload["data"]
    assert (stage["from_stage"], stage["to_stage"], stage["cause"]) == (
        "candidate",
        "approved",
        f"verdict:{verdict.json()['id']}",
    )
    assert all(d.status == Status.PENDING and d.message_id.startswith("msg_") for d in deliveries.values())
    assert sorted(call.args[0] for call in no_broker.call_args_list) == sorted(d.pk for d in deliveries.values())


def test_endpoint_receives_only_the_events_it_subscribed_to(api, users, allow_loopback, no_broker, pairwise_campaign):
    only_verdicts, _ = webhook_endpoint_create(
        url="http://127.0.0.1:9/a", events=["verdict.signed"], created_by=users["ds"]
    )
    inactive, _ = webhook_endpoint_create(url="http://127.0.0.1:9/b", events=["verdict.signed"], created_by=users["ds"])
    assert api["ds"].delete(f"/api/v1/webhooks/{inactive.pk}/").status_code == 204
    response = api["approver"].post(
        f"/api/v1/campaigns/{pairwise_campaign['id']}/signoff/",
        {"decision": "reject", "rationale": "no"},
        format="json",
    )
    assert response.status_code == 201
    assert list(WebhookDelivery.objects.values_list("endpoint_id", "event")) == [(only_verdicts.pk, "verdict.signed")]


def test_refused_signoff_leaves_no_delivery(api, endpoint, pairwise_campaign):
    response = api["approver"].post(
        f"/api/v1/campaigns/{pairwise_campaign['id']}/signoff/",
        {"decision": "approve", "rationale": "too early"},
        format="json",
    )
    assert response.status_code == 409 and response.json()["code"] == "gate_not_passed"
    assert not WebhookDelivery.objects.exists()


def test_failure_late_in_the_signoff_rolls_back_verdict_stage_and_deliveries(users, endpoint, pairwise_campaign):
    """The stage_changed delivery is already written when the verdict.signed publish fails: all of it must go."""
    from webhooks import services

    real_publish = services.webhook_event_publish

    def publish_then_fail(*, event, payload):
        if event == "verdict.signed":
            raise RuntimeError("outbox unavailable")
        return real_publish(event=event, payload=payload)

    campaign = Campaign.objects.get(pk=pairwise_campaign["id"])
    with (
        mock.patch("reviews.services.verdicts.webhook_event_publish", publish_then_fail),
        pytest.raises(RuntimeError),
    ):
        verdict_sign(campaign=campaign, signer=users["approver"], decision="reject", rationale="no")
    assert not WebhookDelivery.objects.exists()
    assert not Verdict.objects.exists() and not StageTransition.objects.exists()
    assert ModelVersion.objects.get(version="2").stage == "candidate"
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.ACTIVE


# --- delivering -------------------------------------------------------------------------------------------


def test_delivery_is_signed_per_standard_webhooks_and_recorded(receiver, endpoint, delivery):
    _, secret = endpoint
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    (request,) = receiver.requests
    assert request["path"] == "/hook"
    assert Webhook(secret).verify(request["body"], request["headers"]) == delivery.payload
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["webhook-id"] == delivery.message_id
    assert headers["content-type"] == "application/json"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count, delivery.lease_until) == (Status.DELIVERED, 1, None)
    assert delivery.delivered_at is not None
    (attempt,) = WebhookAttempt.objects.filter(delivery=delivery)
    assert attempt.status_code == 200 and attempt.error == "" and attempt.response_excerpt == "ok"


def test_a_tampered_body_does_not_verify(receiver, endpoint, delivery):
    from standardwebhooks.webhooks import WebhookVerificationError

    _, secret = endpoint
    webhook_delivery_attempt(delivery_id=delivery.pk)
    (request,) = receiver.requests
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request["body"].replace(b"approve", b"reject!"), request["headers"])


def test_a_delivered_message_is_not_sent_again(receiver, delivery):
    webhook_delivery_attempt(delivery_id=delivery.pk)
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 1 and WebhookAttempt.objects.count() == 1


def test_receiver_error_leaves_the_delivery_pending_with_backoff(receiver, delivery):
    receiver.status = 500
    before = timezone.now()
    delay = webhook_delivery_attempt(delivery_id=delivery.pk)
    assert delay == 10
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (Status.PENDING, 1)
    assert delivery.next_attempt_at >= before + timedelta(seconds=10)
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.status_code == 500 and attempt.response_excerpt == "ok"
    # not due yet: a second call sends nothing
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 1


def test_delivery_fails_for_good_after_the_maximum_attempts(receiver, delivery, settings):
    settings.SIGNOFF_WEBHOOK_MAX_ATTEMPTS = 3
    receiver.status = 503
    delays = []
    for _ in range(3):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now()
        )  # as if the backoff had passed
        delays.append(webhook_delivery_attempt(delivery_id=delivery.pk))
    assert delays == [10, 20, None]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (Status.FAILED, 3)
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 3 == len(receiver.requests)
    assert delivery.pk not in webhook_deliveries_due()


def test_a_leased_delivery_is_not_sent_twice(receiver, delivery):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() + timedelta(seconds=30))
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    assert receiver.requests == [] and not WebhookAttempt.objects.exists()
    # a crashed worker's lease runs out, and the delivery goes out after all
    WebhookDelivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == Status.DELIVERED


def test_the_lease_is_held_while_the_request_is_in_flight(receiver, delivery):
    """While the receiver is answering, a second worker's attempt finds the lease taken."""
    seen_during_send = []
    from webhooks import services

    real_send = services.send

    def send_and_race(**kwargs):
        seen_during_send.append(services._claim(delivery.pk))
        return real_send(**kwargs)

    with mock.patch.object(services, "send", send_and_race):
        webhook_delivery_attempt(delivery_id=delivery.pk)
    assert seen_during_send == [None]
    assert len(receiver.requests) == 1 and WebhookAttempt.objects.count() == 1


def test_redirects_are_not_followed(receiver, delivery):
    receiver.status = 302
    receiver.headers = {"Location": f"{receiver.base}/elsewhere"}
    webhook_delivery_attempt(delivery_id=delivery.pk)
    assert [r["path"] for r in receiver.requests] == ["/hook"]
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.status_code == 302
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == Status.PENDING


def test_unreachable_receiver_is_a_recorded_failed_attempt(users, allow_loopback, no_broker):
    closed = Receiver()  # bound to a free port, then closed without ever serving: nothing listens there
    closed.server.server_close()
    port_url = f"{closed.base}/hook"
    webhook_endpoint_create(url=port_url, events=["verdict.signed"], created_by=users["ds"])
    (delivery,) = webhook_event_publish(event="verdict.signed", payload={})
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == 10
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.status_code is None and attempt.error


def test_address_is_checked_again_at_delivery_time(receiver, delivery, settings):
    settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS = []  # e.g. the allowance was withdrawn, or DNS now points inside
    webhook_delivery_attempt(delivery_id=delivery.pk)
    assert receiver.requests == []
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.status_code is None and "non-public address" in attempt.error


def test_retry_is_scheduled_by_the_task_with_the_backoff(receiver, delivery):
    receiver.status = 500
    with mock.patch.object(tasks.deliver_webhook, "apply_async") as apply_async:
        tasks.deliver_webhook(delivery.pk)
    apply_async.assert_called_once_with((delivery.pk,), countdown=10)


# --- the sweeper and redelivery ---------------------------------------------------------------------------


def test_sweeper_lists_due_pending_deliveries_only(endpoint):
    now = timezone.now()
    created, _ = endpoint
    ids = itertools.count()

    def make(**fields):
        fields = {"next_attempt_at": now - timedelta(seconds=1), **fields}
        return WebhookDelivery.objects.create(
            endpoint=created, event="verdict.signed", message_id=f"msg_{next(ids)}", payload={}, **fields
        ).pk

    due = make()
    due_expired_lease = make(lease_until=now - timedelta(seconds=5))
    make(next_attempt_at=now + timedelta(minutes=5))
    make(status=Status.DELIVERED)
    make(status=Status.FAILED)
    make(lease_until=now + timedelta(seconds=30))
    assert sorted(webhook_deliveries_due()) == sorted([due, due_expired_lease])


def test_sweeper_task_enqueues_every_due_delivery(delivery, no_broker):
    assert tasks.webhooks_dispatch_due() == 1
    no_broker.assert_called_once_with(delivery.pk)


def test_redeliver_sends_the_same_message_again(
    api, receiver, endpoint, delivery, no_broker, django_capture_on_commit_callbacks
):
    _, secret = endpoint
    webhook_delivery_attempt(delivery_id=delivery.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = api["ds"].post(f"/api/v1/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 202
    assert response.json()["status"] == "pending" and response.json()["message_id"] == delivery.message_id
    no_broker.assert_called_once_with(delivery.pk)
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    first, second = receiver.requests
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"] == delivery.message_id
    assert Webhook(secret).verify(second["body"], second["headers"]) == delivery.payload
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == Status.DELIVERED


def test_redeliver_of_a_failed_delivery_grants_fresh_retries(api, receiver, delivery, settings, no_broker):
    receiver.status = 500
    settings.SIGNOFF_WEBHOOK_MAX_ATTEMPTS = 1
    webhook_delivery_attempt(delivery_id=delivery.pk)
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == Status.FAILED
    assert api["ds"].post(f"/api/v1/deliveries/{delivery.pk}/redeliver/").status_code == 202
    settings.SIGNOFF_WEBHOOK_MAX_ATTEMPTS = 3
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == 10  # failed again, and a retry is scheduled
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == Status.PENDING
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 2  # the log keeps every try


def test_redeliver_refuses_a_delivery_being_sent(api, delivery, no_broker):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() + timedelta(seconds=30))
    response = api["ds"].post(f"/api/v1/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 409 and response.json()["code"] == "delivery_in_flight"
    no_broker.assert_not_called()


def test_redeliver_of_an_unknown_delivery_is_404(api):
    response = api["ds"].post("/api/v1/deliveries/999/redeliver/")
    assert response.status_code == 404 and response.json()["code"] == "delivery_not_found"


def test_delivery_log_lists_attempts(api, receiver, endpoint, delivery):
    receiver.status = 500
    webhook_delivery_attempt(delivery_id=delivery.pk)
    log = api["ds"].get(f"/api/v1/webhooks/{endpoint[0].pk}/deliveries/").json()["results"]
    assert [(d["message_id"], d["attempt_count"]) for d in log] == [(delivery.message_id, 1)]
    assert log[0]["attempts"][0]["status_code"] == 500


def test_filesystem_broker_polls_often_enough_for_a_webhook_to_leave_at_once(settings):
    """kombu's filesystem transport sleeps polling_interval whenever the queue is empty (1 s by default, which put
    ~0.95 s between a sign-off and its webhook); the worker's transport must take the short interval."""
    from celery import current_app

    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        pytest.skip("only the filesystem broker polls; Redis blocks on BRPOP")
    with current_app.connection_for_read() as connection:
        assert connection.transport.polling_interval <= 0.1
