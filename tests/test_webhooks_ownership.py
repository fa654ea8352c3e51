"""Webhook endpoints belong to their creator (admins see all), never show credentials, and a deactivated endpoint's
pending deliveries stop, visibly, and can go out again once it is reactivated."""

from datetime import timedelta
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from core.models import User
from tests.conftest import token_client
from tests.factories import UserFactory
from tests.test_webhooks import Receiver, assert_error_shape
from webhooks import tasks
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_delivery_attempt, webhook_endpoint_create, webhook_event_publish

Status = WebhookDelivery.Status


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def no_broker():
    with mock.patch.object(tasks.deliver_webhook, "delay") as delay:
        yield delay


@pytest.fixture
def receiver(settings):
    settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    settings.SIGNOFF_WEBHOOK_TIMEOUT_SECONDS = 3.0
    with Receiver() as running:
        yield running


@pytest.fixture
def other_ds(users):
    return UserFactory.create(username="ds2", role=User.Role.DATA_SCIENTIST)


@pytest.fixture
def owned(users, receiver, no_broker):
    """The data scientist's endpoint, with one pending delivery."""
    endpoint, _ = webhook_endpoint_create(
        url=f"{receiver.base}/mine", events=["verdict.signed"], created_by=users["ds"]
    )
    (delivery,) = webhook_event_publish(event="verdict.signed", payload={"n": 1})
    return endpoint, delivery


# --- ownership --------------------------------------------------------------------------------------------------


def test_another_data_scientist_gets_404_for_every_api_call_on_my_endpoint(api, owned, other_ds):
    endpoint, delivery = owned
    other = token_client(other_ds)
    assert other.get("/api/v1/webhooks/").json()["results"] == []
    for response in (
        other.get(f"/api/v1/webhooks/{endpoint.pk}/"),
        other.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/"),
        other.patch(f"/api/v1/webhooks/{endpoint.pk}/", {"is_active": False}, format="json"),
        other.delete(f"/api/v1/webhooks/{endpoint.pk}/"),
        other.post(f"/api/v1/deliveries/{delivery.pk}/redeliver/"),
    ):
        assert response.status_code == 404, response.json()
        assert_error_shape(response.json())
        assert response.json()["code"] in {"webhook_not_found", "delivery_not_found"}
    endpoint.refresh_from_db()
    assert endpoint.is_active and WebhookDelivery.objects.get(pk=delivery.pk).status == Status.PENDING


def test_the_owner_and_admins_see_the_endpoint(api, owned, other_ds, no_broker):
    endpoint, delivery = owned
    theirs, _ = webhook_endpoint_create(
        url="http://93.184.216.34/theirs", events=["verdict.signed"], created_by=other_ds
    )
    assert [e["id"] for e in api["ds"].get("/api/v1/webhooks/").json()["results"]] == [endpoint.pk]
    assert sorted(e["id"] for e in api["admin"].get("/api/v1/webhooks/").json()["results"]) == sorted(
        [endpoint.pk, theirs.pk]
    )
    for client in (api["ds"], api["admin"]):
        assert client.get(f"/api/v1/webhooks/{endpoint.pk}/").status_code == 200
        assert client.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/").json()["results"][0]["id"] == delivery.pk
    assert api["ds"].get(f"/api/v1/webhooks/{theirs.pk}/").status_code == 404
    assert api["admin"].delete(f"/api/v1/webhooks/{theirs.pk}/").status_code == 204


def test_another_data_scientist_gets_404_for_every_page_of_my_endpoint(users, owned, other_ds):
    endpoint, delivery = owned
    other = page_client(other_ds)
    assert endpoint.url not in other.get("/webhooks/").content.decode()
    assert other.get(f"/webhooks/{endpoint.pk}/").status_code == 404
    for path in (
        f"/webhooks/{endpoint.pk}/deactivate",
        f"/webhooks/{endpoint.pk}/reactivate",
        f"/deliveries/{delivery.pk}/redeliver",
    ):
        assert other.post(path).status_code == 404, path
    endpoint.refresh_from_db()
    assert endpoint.is_active
    owner_page = page_client(users["ds"]).get("/webhooks/").content.decode()
    admin_page = page_client(users["admin"]).get("/webhooks/").content.decode()
    assert endpoint.url in owner_page and endpoint.url in admin_page
    assert page_client(users["admin"]).get(f"/webhooks/{endpoint.pk}/").status_code == 200


# --- credentials in URLs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["https://user:s3cret@93.184.216.34/hook", "https://token@93.184.216.34/hook", "http://:s3cret@93.184.216.34/hook"],
)
def test_a_url_with_credentials_is_refused_with_a_pointer_to_the_signing_secret(api, users, url):
    response = api["ds"].post("/api/v1/webhooks/", {"url": url, "events": ["verdict.signed"]}, format="json")
    assert response.status_code == 400
    assert_error_shape(response.json())
    assert response.json()["code"] == "webhook_url_credentials"
    assert "signing secret" in response.json()["message"]
    page = page_client(users["ds"]).post("/webhooks/", {"url": url, "events": ["verdict.signed"]})
    assert page.status_code == 200 and "signing secret" in page.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_credentials_stored_before_are_never_shown(api, users):
    legacy = WebhookEndpoint.objects.create(
        url="https://ci-bot:hunter2@93.184.216.34/hook?x=1",
        events=["verdict.signed"],
        secret_encrypted="x",
        created_by=users["ds"],
    )
    shown = [
        api["ds"].get("/api/v1/webhooks/").content.decode(),
        api["ds"].get(f"/api/v1/webhooks/{legacy.pk}/").content.decode(),
        api["admin"].get("/api/v1/webhooks/").content.decode(),
        page_client(users["ds"]).get("/webhooks/").content.decode(),
        page_client(users["ds"]).get(f"/webhooks/{legacy.pk}/").content.decode(),
        page_client(users["admin"]).get(f"/webhooks/{legacy.pk}/").content.decode(),
    ]
    for text in shown:
        assert "hunter2" not in text and "ci-bot" not in text
        assert "https://***@93.184.216.34/hook?x=1" in text
    assert str(legacy) == "https://***@93.184.216.34/hook?x=1"


# --- deactivation stops pending deliveries ---------------------------------------------------------------------


def test_deactivating_cancels_pending_retries_visibly(api, receiver, owned):
    endpoint, delivery = owned
    receiver.status = 500
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == 10  # failed once, a retry is scheduled
    assert api["ds"].delete(f"/api/v1/webhooks/{endpoint.pk}/").status_code == 204
    delivery.refresh_from_db()
    assert delivery.status == Status.CANCELLED
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())  # the retry falls due
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 1  # only the attempt before deactivation
    (log,) = api["ds"].get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/").json()["results"]
    assert log["status"] == "cancelled"
    assert [a["error"] for a in log["attempts"]][-1] == "Not sent: the endpoint was deactivated by ds."


def test_the_delivery_task_skips_an_inactive_endpoint_and_says_why(receiver, owned):
    """A delivery in flight while the endpoint is deactivated is not cancelled then; its next try is."""
    endpoint, delivery = owned
    WebhookDelivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() + timedelta(seconds=30))
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(lease_until=None)
    with mock.patch.object(tasks.deliver_webhook, "apply_async") as retry:
        tasks.deliver_webhook(delivery.pk)
    retry.assert_not_called()
    assert receiver.requests == []
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == Status.CANCELLED
    assert WebhookAttempt.objects.get(delivery=delivery).error == "Not sent: the endpoint is deactivated."


def test_a_delivery_in_flight_is_left_to_its_worker_when_deactivating(api, owned):
    endpoint, delivery = owned
    WebhookDelivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() + timedelta(seconds=30))
    assert api["ds"].delete(f"/api/v1/webhooks/{endpoint.pk}/").status_code == 204
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == Status.PENDING
    assert not WebhookAttempt.objects.exists()


def test_page_deactivation_uses_the_same_service(users, owned):
    endpoint, delivery = owned
    response = page_client(users["ds"]).post(f"/webhooks/{endpoint.pk}/deactivate", follow=True)
    assert "1 pending delivery was cancelled" in response.content.decode()
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == Status.CANCELLED
    assert WebhookAttempt.objects.get(delivery=delivery).error == "Not sent: the endpoint was deactivated by ds."


def test_a_cancelled_delivery_goes_out_again_after_reactivation(api, receiver, owned, no_broker):
    endpoint, delivery = owned
    assert api["ds"].delete(f"/api/v1/webhooks/{endpoint.pk}/").status_code == 204
    refused = api["ds"].post(f"/api/v1/deliveries/{delivery.pk}/redeliver/")
    assert refused.status_code == 409 and refused.json()["code"] == "endpoint_inactive"
    reactivated = api["ds"].patch(f"/api/v1/webhooks/{endpoint.pk}/", {"is_active": True}, format="json")
    assert reactivated.status_code == 200 and reactivated.json()["is_active"] is True
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == Status.CANCELLED  # not resent behind anyone's back
    assert api["ds"].post(f"/api/v1/deliveries/{delivery.pk}/redeliver/").status_code == 202
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == Status.DELIVERED


def test_reactivation_checks_the_address_again(api, owned, settings):
    endpoint, _ = owned
    assert api["ds"].patch(f"/api/v1/webhooks/{endpoint.pk}/", {"is_active": False}, format="json").status_code == 200
    settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS = []
    response = api["ds"].patch(f"/api/v1/webhooks/{endpoint.pk}/", {"is_active": True}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "webhook_url_private"
    assert not WebhookEndpoint.objects.get(pk=endpoint.pk).is_active
