"""E-mail notifications against a real SMTP server on loopback (aiosmtpd): who is told what and when, opting out,
and a mail server that is down holding up nothing. Also the webhook endpoint owner's mail when deliveries keep
failing. Messages are sent by calling the outbox's service, as the worker's thin task does."""

import email
import socket
import threading
from datetime import timedelta
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import environ
import pytest
from aiosmtpd.controller import Controller
from celery import current_app
from django.db import transaction
from django.test import Client
from django.utils import timezone

from notifications.models import Notification, NotificationPreference
from notifications.selectors import notifications_due
from notifications.services import notification_publish, notification_send
from notifications.tasks import notifications_dispatch_due
from reviews.models import Campaign
from reviews.services.decisions import campaign_gate_check
from webhooks.models import WebhookEndpoint
from webhooks.services import webhook_delivery_attempt, webhook_endpoint_create, webhook_event_publish

BASE_URL = "https://signoff.example.test"


class Inbox:
    """aiosmtpd's handler: keeps every message it accepts, parsed."""

    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=policy.default)))
        return "250 Message accepted"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [message for rcpt, message in self.messages if address in rcpt]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SMTPServer:
    """A real SMTP server on a loopback port that can be stopped and started again on the same port."""

    def __init__(self):
        self.inbox = Inbox()
        self.port = free_port()
        self.controller: Controller | None = None

    def start(self):
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture(scope="module")
def smtp_server():
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server, settings):
    """Mail goes to the server through EMAIL_URL, parsed as the settings parse it (django-environ)."""
    smtp_server.inbox.messages.clear()
    if smtp_server.controller is None:
        smtp_server.start()
    configure_email_url(settings, f"smtp://127.0.0.1:{smtp_server.port}")
    yield smtp_server.inbox
    if smtp_server.controller is None:  # a test stopped it
        smtp_server.start()


def configure_email_url(settings, url: str) -> None:
    for key, value in environ.Env.email_url_config(url).items():
        if value is not None:
            setattr(settings, key, value)
    settings.EMAIL_TIMEOUT = 3.0
    settings.SIGNOFF_BASE_URL = BASE_URL


@pytest.fixture
def people(users):
    for user in users.values():
        user.email = f"{user.username}@example.test"
        user.save(update_fields=["email"])
    return users


def send_due() -> list[int | None]:
    """What beat's sweep and the worker do, in this process: every due message, once."""
    return [notification_send(notification_id=pk) for pk in notifications_due()]


def judge_all_for_candidate(client, cid):
    while (response := client.get(f"/api/v1/campaigns/{cid}/next/")).status_code == 200:
        task = response.json()
        want = str(2 * int(task["item"].split("-")[1]))
        slot = next(o["slot"] for o in task["outputs"] if o["output"] == want)
        posted = client.post(f"/api/v1/tasks/{task['task']}/judgments/", {"choice": slot}, format="json")
        assert posted.status_code == 201, posted.json()


def decided_campaign(api, pairwise_campaign) -> int:
    cid = pairwise_campaign["id"]
    judge_all_for_candidate(api["reviewer"], cid)
    assert campaign_gate_check(campaign_id=cid) == "pass"
    return cid


def body_parts(message) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


# --- who is told what ---------------------------------------------------------------------------------------------


def test_a_decided_gate_emails_every_approver_who_may_sign_with_a_link_to_the_campaign(
    smtp, people, api, pairwise_campaign
):
    cid = decided_campaign(api, pairwise_campaign)
    assert send_due() == [None, None, None]
    # approvers and the admin may sign; the lead (who uploaded the candidate) and the reviewers may not
    assert sorted(rcpt[0] for rcpt, _ in smtp.messages) == [
        "admin@example.test",
        "approver2@example.test",
        "approver@example.test",
    ]
    (message,) = smtp.to("approver@example.test")
    assert message["Subject"] == f"Sign-off awaited: campaign {cid} (calc 2 vs 1), gate pass"
    text, html = body_parts(message)
    link = f"{BASE_URL}/campaigns/{cid}/"
    assert link in text and f'href="{link}"' in html
    assert "decided pass" in text
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
    # the gate decides once: a second check sends nothing more
    campaign_gate_check(campaign_id=cid)
    assert send_due() == [] and len(smtp.messages) == 3


def test_an_approver_who_turned_it_off_on_the_account_page_gets_nothing(smtp, people, api, pairwise_campaign):
    browser = Client()
    browser.force_login(people["approver2"])
    page = browser.get("/account/notifications/")
    assert page.status_code == 200 and b'value="signoff_awaited" checked' in page.content
    saved = browser.post("/account/notifications/", {"enabled": ["campaign_ended", "webhook_failing"]})
    assert saved.status_code == 302
    assert b'value="signoff_awaited" checked' not in browser.get("/account/notifications/").content
    assert NotificationPreference.objects.get(user=people["approver2"], kind="signoff_awaited").enabled is False

    decided_campaign(api, pairwise_campaign)
    send_due()
    assert smtp.to("approver2@example.test") == []
    assert len(smtp.to("approver@example.test")) == 1


def test_an_unknown_kind_on_the_preferences_form_is_refused_by_name(people):
    browser = Client()
    browser.force_login(people["approver"])
    page = browser.post("/account/notifications/", {"enabled": ["signoff_awaited", "no_such_kind"]})
    assert page.status_code == 200
    assert b"Select a valid choice. no_such_kind is not one of the available choices." in page.content
    assert not NotificationPreference.objects.exists()


def test_the_lead_is_told_when_a_verdict_ends_the_campaign_with_a_link(smtp, people, api, pairwise_campaign):
    cid = decided_campaign(api, pairwise_campaign)
    signed = api["approver"].post(
        f"/api/v1/campaigns/{cid}/signoff/", {"decision": "approve", "rationale": "good"}, format="json"
    )
    assert signed.status_code == 201, signed.json()
    send_due()
    (message,) = smtp.to("ds@example.test")
    assert message["Subject"] == f"Campaign {cid} (calc 2 vs 1) has ended"
    text, html = body_parts(message)
    assert "approver signed it off: approved." in text
    assert f"{BASE_URL}/campaigns/{cid}/" in text and f'href="{BASE_URL}/campaigns/{cid}/"' in html


def test_the_lead_is_told_when_an_admin_closes_the_campaign_but_not_when_they_close_it_themselves(
    smtp, people, api, loop_data
):
    def campaign(name):
        body = {"name": name, "kind": "pairwise", **loop_data, "reviewers": ["rev"], "overlap": 1}
        response = api["ds"].post("/api/v1/campaigns/", body, format="json")
        assert response.status_code == 201, response.json()
        return response.json()["id"]

    by_admin, by_lead = campaign("closed by admin"), campaign("closed by lead")
    for client, cid in ((api["admin"], by_admin), (api["ds"], by_lead)):
        closed = client.patch(f"/api/v1/campaigns/{cid}/", {"status": "closed", "reason": "done"}, format="json")
        assert closed.status_code == 200, closed.json()
    send_due()
    ended = [m["Subject"] for m in smtp.to("ds@example.test") if "has ended" in m["Subject"]]
    assert ended == [f"Campaign {by_admin} (closed by admin) has ended"]
    text, _ = body_parts(smtp.to("ds@example.test")[0])
    assert "Closed by the lead: done, by admin." in text


def test_a_mail_server_that_is_down_holds_up_no_signoff_and_the_mail_goes_once_it_is_back(
    smtp, smtp_server, people, api, pairwise_campaign
):
    smtp_server.stop()
    cid = decided_campaign(api, pairwise_campaign)  # the gate decides: approvers' mail is written, not sent
    signed = api["approver"].post(
        f"/api/v1/campaigns/{cid}/signoff/", {"decision": "approve", "rationale": "good"}, format="json"
    )
    assert signed.status_code == 201, signed.json()
    assert Campaign.objects.get(pk=cid).status == Campaign.Status.CLOSED
    delays = send_due()
    assert len(delays) == 4 and all(delay == 30 for delay in delays)  # three approvers and the lead, all retried
    pending = Notification.objects.get(to_address="ds@example.test")
    assert pending.status == "pending" and pending.attempt_count == 1
    assert "ConnectionRefusedError" in pending.last_error
    assert send_due() == []  # not due again before its backoff

    smtp_server.start()
    Notification.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))  # the backoff has passed
    assert send_due() == [None] * 4
    assert len(smtp.to("ds@example.test")) == 1 and len(smtp.to("approver@example.test")) == 1
    assert Notification.objects.get(to_address="ds@example.test").status == "sent"
    assert send_due() == [] and len(smtp.messages) == 4  # sent once


def test_a_message_is_given_up_after_its_last_attempt_and_says_why(settings, people):
    configure_email_url(settings, f"smtp://127.0.0.1:{free_port()}")  # nothing listens there
    settings.SIGNOFF_EMAIL_MAX_ATTEMPTS = 2
    notification_publish(kind="campaign_ended", users=[people["ds"]], subject="s", message="m", path="/x")
    assert send_due() == [30]
    Notification.objects.update(next_attempt_at=timezone.now())
    assert send_due() == [None]
    failed = Notification.objects.get()
    assert (failed.status, failed.attempt_count) == ("failed", 2) and "ConnectionRefusedError" in failed.last_error
    assert failed.url == f"{BASE_URL}/x"


def test_the_mail_is_written_in_the_events_transaction_and_sent_after_it_commits(
    people, django_capture_on_commit_callbacks
):
    with pytest.raises(RuntimeError), transaction.atomic():
        notification_publish(kind="campaign_ended", users=[people["ds"]], subject="s", message="m", path="/")
        raise RuntimeError("the event failed")
    assert not Notification.objects.exists()  # rolled back with it: no mail about what did not happen

    with django_capture_on_commit_callbacks() as sends:
        written = notification_publish(
            kind="campaign_ended", users=[people["ds"], people["approver"]], subject="a\nb", message="m", path="/"
        )
    assert written == 2 and len(sends) == 2  # one send per message, queued only once the transaction commits
    assert set(Notification.objects.values_list("subject", flat=True)) == {"a b"}  # one line, a header can hold it


def test_beats_sweep_sends_every_due_message_through_the_worker_task(smtp, people):
    for user in (people["ds"], people["approver"]):
        notification_publish(kind="campaign_ended", users=[user], subject="swept", message="m", path="/")
    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True  # the sweep's .delay() runs the real task here, not in a worker
    try:
        assert notifications_dispatch_due() == 2
    finally:
        current_app.conf.task_always_eager = eager
    assert sorted(rcpt[0] for rcpt, _ in smtp.messages) == ["approver@example.test", "ds@example.test"]
    assert notifications_due() == []


def test_the_console_backend_is_the_default():
    assert environ.Env.email_url_config("consolemail://")["EMAIL_BACKEND"] == (
        "django.core.mail.backends.console.EmailBackend"
    )
    from config.settings import base

    assert base.EMAIL_CONFIG["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"  # no EMAIL_URL here


# --- webhook endpoints that keep failing -------------------------------------------------------------------------


class FailingReceiver:
    """A webhook receiver on loopback that answers with the status it is told."""

    def __init__(self):
        self.status = 500
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(receiver.status)
                self.send_header("content-length", "4")
                self.end_headers()
                self.wfile.write(b"nope")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()


@pytest.fixture
def failing_receiver(settings):
    settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    settings.SIGNOFF_WEBHOOK_TIMEOUT_SECONDS = 3.0
    receiver = FailingReceiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def attempt_new_event() -> None:
    (delivery,) = webhook_event_publish(event="verdict.signed", payload={"n": 1})
    webhook_delivery_attempt(delivery_id=delivery.pk)


def test_an_endpoint_owner_is_emailed_once_per_streak_of_failures(smtp, people, failing_receiver, settings):
    settings.SIGNOFF_WEBHOOK_FAILURE_NOTIFY_AFTER = 3
    endpoint, _ = webhook_endpoint_create(url=failing_receiver.url, events=["verdict.signed"], created_by=people["ds"])
    for _ in range(2):
        attempt_new_event()
    assert send_due() == []  # two failures: not yet a streak
    for _ in range(4):
        attempt_new_event()
    send_due()
    (message,) = smtp.to("ds@example.test")  # once at the third failure, not again at the fourth to sixth
    assert message["Subject"] == f"Webhook deliveries to {failing_receiver.url} are failing"
    text, _ = body_parts(message)
    assert "The last 3 attempts to deliver" in text and f"{BASE_URL}/webhooks/{endpoint.pk}/" in text
    assert WebhookEndpoint.objects.get().failure_streak == 6

    failing_receiver.status = 200  # a success ends the streak
    attempt_new_event()
    assert WebhookEndpoint.objects.values_list("failure_streak", "failure_notified").get() == (0, False)
    failing_receiver.status = 503
    for _ in range(3):
        attempt_new_event()
    send_due()
    assert len(smtp.to("ds@example.test")) == 2  # a new streak, a new message
    assert smtp.to("approver@example.test") == []  # only the owner


def test_a_delivery_given_up_tells_the_owner_before_the_streak_is_long(smtp, people, failing_receiver, settings):
    settings.SIGNOFF_WEBHOOK_FAILURE_NOTIFY_AFTER = 10
    settings.SIGNOFF_WEBHOOK_MAX_ATTEMPTS = 1
    webhook_endpoint_create(url=failing_receiver.url, events=["verdict.signed"], created_by=people["ds"])
    attempt_new_event()
    send_due()
    (message,) = smtp.to("ds@example.test")
    assert "a delivery was given up after its last retry" in body_parts(message)[0]


def test_an_owner_who_turned_webhook_mail_off_gets_none(smtp, people, failing_receiver, settings):
    settings.SIGNOFF_WEBHOOK_FAILURE_NOTIFY_AFTER = 1
    NotificationPreference.objects.create(user=people["ds"], kind="webhook_failing", enabled=False)
    webhook_endpoint_create(url=failing_receiver.url, events=["verdict.signed"], created_by=people["ds"])
    attempt_new_event()
    assert send_due() == [] and smtp.messages == []
    assert WebhookEndpoint.objects.get().failure_notified  # the streak was seen: no mail later in it either
