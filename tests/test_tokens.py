"""API tokens: they expire by default, their owner lists, creates and revokes them (API and page), a key is shown
once and stored only as a digest, someone else's token is "not found", and the token endpoints are throttled."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from core.models import TokenLabel
from tests.conftest import token_client


def with_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def assert_near(moment, expected, slack=timedelta(minutes=1)):
    assert abs(moment - expected) < slack, (moment, expected)


def every_stored_value() -> str:
    """All the columns of knox's and core's token tables, as text: a key must appear in none of them."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {AuthToken._meta.db_table}")
        rows = cursor.fetchall()
        cursor.execute(f"SELECT * FROM {TokenLabel._meta.db_table}")
        rows += cursor.fetchall()
    return repr(rows)


def test_a_token_made_through_the_api_expires_in_90_days_works_and_is_stored_only_as_a_digest(users):
    response = session_client(users["ds"]).post("/api/v1/tokens/", {"name": "nightly eval"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "created", "expiry", "expired", "token"}
    assert body["name"] == "nightly eval" and body["expired"] is False
    key = body["token"]
    assert key.startswith("so_")
    assert_near(AuthToken.objects.get(label__pk=body["id"]).expiry, timezone.now() + timedelta(days=90))
    assert with_key(key).get("/api/v1/datasets/").status_code == 200
    assert key not in every_stored_value() and key[3:] not in every_stored_value()


def test_the_default_lifetime_comes_from_the_setting_and_a_caller_may_ask_for_less(users, settings):
    settings.SIGNOFF_TOKEN_TTL_DAYS = 7
    client = session_client(users["ds"])
    default = client.post("/api/v1/tokens/", {}, format="json").json()
    assert_near(AuthToken.objects.get(label__pk=default["id"]).expiry, timezone.now() + timedelta(days=7))
    short = client.post("/api/v1/tokens/", {"expires_in_days": 2}, format="json").json()
    assert_near(AuthToken.objects.get(label__pk=short["id"]).expiry, timezone.now() + timedelta(days=2))
    refused = client.post("/api/v1/tokens/", {"expires_in_days": 0}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "invalid"


def test_a_user_lists_only_their_own_tokens_and_never_a_key(users):
    ds_client = token_client(users["ds"])  # made by knox directly, with no label: listed all the same
    made = session_client(users["ds"]).post("/api/v1/tokens/", {"name": "ci"}, format="json").json()
    other = session_client(users["approver"]).post("/api/v1/tokens/", {"name": "approver's"}, format="json").json()
    response = ds_client.get("/api/v1/tokens/")
    assert response.status_code == 200
    listed = response.json()["results"]
    assert [token["name"] for token in listed] == ["ci", ""]  # newest first
    assert all(set(token) == {"id", "name", "created", "expiry", "expired"} for token in listed)
    assert [token["expiry"] is None for token in listed] == [False, True]
    assert made["token"] not in response.content.decode()
    assert other["id"] not in [token["id"] for token in listed]


def test_a_user_revokes_their_own_token_and_someone_elses_is_not_found(users):
    ds = session_client(users["ds"])
    mine = ds.post("/api/v1/tokens/", {}, format="json").json()
    theirs = session_client(users["approver"]).post("/api/v1/tokens/", {}, format="json").json()
    refused = ds.delete(f"/api/v1/tokens/{theirs['id']}/")
    assert refused.status_code == 404
    assert set(refused.json()) == {"message", "code", "extra"}
    assert with_key(theirs["token"]).get("/api/v1/tokens/").status_code == 200  # still works
    assert ds.delete(f"/api/v1/tokens/{mine['id']}/").status_code == 204
    assert with_key(mine["token"]).get("/api/v1/datasets/").status_code == 401
    assert ds.delete(f"/api/v1/tokens/{mine['id']}/").status_code == 404


def test_a_token_made_by_knox_directly_can_be_revoked_by_its_owner(users):
    client = token_client(users["reviewer"])
    [token] = client.get("/api/v1/tokens/").json()["results"]
    assert client.delete(f"/api/v1/tokens/{token['id']}/").status_code == 204
    assert client.get("/api/v1/tokens/").status_code == 401  # it revoked the token it was using


def test_anonymous_callers_may_not_touch_tokens(db):
    assert APIClient().get("/api/v1/tokens/").status_code == 401
    assert APIClient().post("/api/v1/tokens/", {}, format="json").status_code == 401


def test_the_token_endpoints_are_throttled_per_user_with_the_error_shape(users, settings):
    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "100/minute", "tokens": "3/minute"},
    }
    client = token_client(users["ds"])
    try:
        for _ in range(3):
            assert client.get("/api/v1/tokens/").status_code == 200
        response = client.post("/api/v1/tokens/", {}, format="json")
        assert response.status_code == 429
        body = response.json()
        assert set(body) == {"message", "code", "extra"} and body["code"] == "throttled"
        assert int(response["Retry-After"]) == body["extra"]["retry_after"] > 0
        assert AuthToken.objects.filter(user=users["ds"]).count() == 1  # nothing was created
        assert token_client(users["approver"]).get("/api/v1/tokens/").status_code == 200  # per user
        assert client.get("/api/v1/datasets/").status_code == 200  # other endpoints are not counted
    finally:
        cache.clear()


def test_createtoken_expires_by_default_and_takes_days_or_never(db, capsys):
    def make(*args) -> AuthToken:
        call_command("createtoken", "ci-bot", "--role", "data_scientist", "--create-user", *args)
        key = capsys.readouterr().out.strip().splitlines()[-1]
        assert with_key(key).get("/api/v1/datasets/").status_code == 200
        return AuthToken.objects.get(label__pk=with_key(key).get("/api/v1/tokens/").json()["results"][0]["id"])

    assert_near(make().expiry, timezone.now() + timedelta(days=90))
    assert_near(make("--expires", "7", "--name", "nightly").expiry, timezone.now() + timedelta(days=7))
    assert make("--expires", "never").expiry is None
    assert make("--expires-in-days", "3").expiry is not None  # the old spelling still works
    for wrong in ("0", "soon"):
        with pytest.raises(CommandError, match="never"):
            call_command("createtoken", "ci-bot", "--expires", wrong)


def test_the_tokens_page_creates_shows_the_key_once_and_revokes(users):
    client = Client()
    client.force_login(users["reviewer"])
    assert 'href="/account/tokens/"' in client.get("/").content.decode()  # linked from the header
    response = client.post("/account/tokens/", {"name": "my script", "expires_in_days": "30"})
    assert response.status_code == 200
    page = response.content.decode()
    label = TokenLabel.objects.get(token__user=users["reviewer"])
    key = page.split('id="token-value">')[1].split("<")[0]
    assert key.startswith("so_") and with_key(key).get("/api/v1/tokens/").status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert_near(label.token.expiry, timezone.now() + timedelta(days=30))
    listing = client.get("/account/tokens/").content.decode()
    assert "my script" in listing and key not in listing
    other = session_client(users["ds"]).post("/api/v1/tokens/", {}, format="json").json()
    assert client.post(f"/account/tokens/{other['id']}/revoke/").status_code == 404
    assert client.post(f"/account/tokens/{label.pk}/revoke/").status_code == 302
    assert with_key(key).get("/api/v1/tokens/").status_code == 401
    assert "my script" not in client.get("/account/tokens/").content.decode()


def test_the_tokens_page_marks_an_expired_token(users):
    token, _ = AuthToken.objects.create(user=users["ds"], expiry=timedelta(days=1))
    AuthToken.objects.filter(pk=token.pk).update(expiry=timezone.now() - timedelta(hours=1))
    client = Client()
    client.force_login(users["ds"])
    assert "expired " in client.get("/account/tokens/").content.decode()


def test_a_token_is_made_only_from_a_json_object(api):
    """The fuzzer's find: a multipart body holding a bare `True` made a token with every default."""
    from knox.models import AuthToken

    before = AuthToken.objects.count()
    garbage = api["ds"].generic(
        "POST", "/api/v1/tokens/", b"--b\r\nTrue--b--\r\n", content_type="multipart/form-data; boundary=b"
    )
    assert garbage.status_code == 415 and garbage.json()["code"]
    assert api["ds"].post("/api/v1/tokens/", "true", content_type="application/json").status_code == 400
    assert AuthToken.objects.count() == before
    assert api["ds"].post("/api/v1/tokens/", {"name": "ci"}, format="json").status_code == 201
