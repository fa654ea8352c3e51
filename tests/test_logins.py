"""Logins: repeated failures lock out an account and an address (django-axes), with a clear message on the login
page; the lock clears after the cool-off or when an admin resets it. Anonymous API calls are throttled."""

import json
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client, override_settings

from core.models import User
from tests.factories import UserFactory

if TYPE_CHECKING:  # the test client's response type exists in django-stubs only
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

LOCKED_OUT = (
    "Too many failed attempts for this account or address; try again in 15 minutes, or ask an admin to unlock it."
)


def attempt(username: str, password: str, address: str = "10.0.0.1", **headers) -> tuple[Client, "TestResponse"]:
    client = Client(REMOTE_ADDR=address, **headers)
    return client, client.post("/login/", {"username": username, "password": password})


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def dana(db):
    return UserFactory.create(username="dana", role=User.Role.DATA_SCIENTIST)


def test_the_right_password_still_logs_in_after_a_few_typos(dana):
    for _ in range(3):
        client, response = attempt("dana", "typo")
        assert response.status_code == 200 and not logged_in(client)
    client, response = attempt("dana", "pw-for-tests")
    assert response.status_code == 302 and logged_in(client)


def test_thirty_wrong_passwords_lock_the_account_even_from_addresses_never_seen(dana):
    for i in range(30):  # one failure per address: only the account's count can lock it
        attempt("dana", f"guess-{i}", address=f"10.1.0.{i + 1}")
    client, response = attempt("dana", "pw-for-tests", address="10.2.0.1")
    assert response.status_code == 429
    assert not logged_in(client)
    assert LOCKED_OUT in response.content.decode()
    assert 'name="password"' in response.content.decode()  # the login page, not a bare error
    other = UserFactory.create(username="other")
    client, response = attempt(other.username, "pw-for-tests", address="10.2.0.1")
    assert response.status_code == 302 and logged_in(client)  # the address is not locked


def test_thirty_wrong_passwords_from_one_address_lock_that_address_for_every_account(dana):
    for i in range(30):  # a different account each time: only the address's count can lock it
        attempt(f"someone-{i}", "guess", address="10.3.0.1")
    client, response = attempt("dana", "pw-for-tests", address="10.3.0.1")
    assert response.status_code == 429 and not logged_in(client)
    assert LOCKED_OUT in response.content.decode()
    client, response = attempt("dana", "pw-for-tests", address="10.3.0.2")
    assert response.status_code == 302 and logged_in(client)


def test_a_forged_x_forwarded_for_does_not_escape_the_address_lock(dana):
    for i in range(30):
        attempt(f"someone-{i}", "guess", address="10.4.0.1", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}")
    client, response = attempt("dana", "pw-for-tests", address="10.4.0.1", HTTP_X_FORWARDED_FOR="198.51.100.200")
    assert response.status_code == 429 and not logged_in(client)


@override_settings(SIGNOFF_PROXY_COUNT=1)
def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(dana):
    for i in range(30):  # the proxy (10.5.0.1) appends the client's address; what the client sent is on the left
        attempt(f"someone-{i}", "guess", address="10.5.0.1", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}, 203.0.113.7")
    client, response = attempt("dana", "pw-for-tests", address="10.5.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert response.status_code == 429
    client, response = attempt("dana", "pw-for-tests", address="10.5.0.1", HTTP_X_FORWARDED_FOR="203.0.113.8")
    assert response.status_code == 302 and logged_in(client)  # another client behind the same proxy


def test_the_lock_clears_after_the_cool_off(dana):
    with override_settings(AXES_COOLOFF_TIME=timedelta(seconds=2)):
        for i in range(30):
            attempt("dana", f"guess-{i}")
        client, response = attempt("dana", "pw-for-tests")
        assert response.status_code == 429
        assert "try again in 1 minute, or ask an admin" in response.content.decode()
        time.sleep(2.5)
        client, response = attempt("dana", "pw-for-tests")
        assert response.status_code == 302 and logged_in(client)


def test_an_admin_unlocks_an_account(dana):
    for i in range(30):
        attempt("dana", f"guess-{i}", address=f"10.6.0.{i + 1}")
    assert attempt("dana", "pw-for-tests", address="10.6.1.1")[1].status_code == 429
    call_command("axes_reset_username", "dana")
    client, response = attempt("dana", "pw-for-tests", address="10.6.1.1")
    assert response.status_code == 302 and logged_in(client)


def test_the_admin_login_is_locked_too(dana):
    for i in range(30):
        attempt("dana", f"guess-{i}")
    dana.is_staff = True
    dana.save()
    client = Client(REMOTE_ADDR="10.0.0.1")
    response = client.post("/admin/login/", {"username": "dana", "password": "pw-for-tests"})
    assert response.status_code == 429 and not logged_in(client)


@pytest.fixture
def fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


def test_anonymous_api_calls_are_throttled_with_the_error_shape(db, fresh_throttle_counts, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "2/minute", "tokens": "100/minute"},
    }
    client = Client(REMOTE_ADDR="10.7.0.1")
    for _ in range(2):
        assert client.get("/api/schema/").status_code == 200
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 429
    body = json.loads(response.content)
    assert set(body) == {"message", "code", "extra"}
    assert body["code"] == "throttled"
    assert 0 < body["extra"]["retry_after"] <= 60
    assert int(response["Retry-After"]) == body["extra"]["retry_after"]
    assert Client(REMOTE_ADDR="10.7.0.2").get("/api/schema/").status_code == 200  # per address
