"""In Chromium: the endpoint's owner sends a test event from the webhook page and reads each attempt (request body,
status, response body, duration); a hostile response body is shown as text, never run. And each person turns an
e-mail notification off on their account page."""

import json

import pytest

from core.models import User
from notifications.models import NotificationPreference
from tests.conftest import browser_login
from tests.factories import UserFactory
from tests.support.answering_receiver import Receiver
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_delivery_attempt, webhook_endpoint_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = b'<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"><b>not bold</b>'


@pytest.fixture
def receiver(settings):
    settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]  # netguard refuses loopback unless listed
    settings.SIGNOFF_WEBHOOK_TIMEOUT_SECONDS = 3.0
    running = Receiver()
    yield running
    running.close()


def test_the_owner_sends_a_test_event_and_reads_the_attempt_with_the_response_shown_as_text(
    live_server, new_page, receiver
):
    dana = UserFactory.create(username="dana", role=User.Role.DATA_SCIENTIST)
    endpoint, _ = webhook_endpoint_create(url=receiver.url, events=["verdict.signed"], created_by=dana)
    receiver.status, receiver.body = 500, HOSTILE
    page = new_page()
    browser_login(page, live_server, "dana")
    page.goto(f"{live_server.url}/webhooks/{endpoint.pk}/")
    page.click("text=Send a test event")
    page.wait_for_selector("text=Test event")  # the confirmation names the message id
    delivery = WebhookDelivery.objects.get(event="ping")
    assert page.locator("tr.delivery").first.inner_text().startswith("ping")

    webhook_delivery_attempt(delivery_id=delivery.pk)  # the worker's task, here
    page.reload()
    attempt = page.locator("details.attempt").first
    assert attempt.locator(".attempt-status").inner_text() == "500"
    assert attempt.locator(".attempt-duration").inner_text().endswith(" ms")
    attempt.locator("summary").click()
    ((_, sent),) = receiver.requests
    shown = attempt.locator(".attempt-request").inner_text()
    assert json.loads(shown) == json.loads(sent) and json.loads(shown)["type"] == "ping"
    response = attempt.locator(".attempt-response")
    assert response.is_visible()
    assert response.inner_text() == HOSTILE.decode()  # the markup as text
    assert response.locator("script, img, b").count() == 0
    assert page.evaluate("window.pwned") is None


def test_a_person_turns_a_notification_off_on_their_account_page(live_server, new_page):
    alex = UserFactory.create(username="alex", role=User.Role.APPROVER, email="alex@example.test")
    page = new_page()
    browser_login(page, live_server, "alex")
    page.click("header >> text=Notifications")
    assert "alex@example.test" in page.inner_text("main")
    box = page.get_by_label("a campaign's gate decides and my sign-off is awaited")
    assert box.is_checked()
    box.uncheck()
    page.click("#notification-preferences button[type=submit]")
    page.wait_for_selector("text=Notification preferences saved.")
    assert not page.get_by_label("a campaign's gate decides and my sign-off is awaited").is_checked()
    assert page.get_by_label("a campaign I lead ends").is_checked()
    assert NotificationPreference.objects.get(user=alex, kind="signoff_awaited").enabled is False
