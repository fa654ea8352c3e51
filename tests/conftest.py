"""Shared fixtures: one user per role, token-authenticated API clients, and a ready review loop."""

import os

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from core.models import User
from reviews.services import decisions
from tests.factories import UserFactory, jsonl_file
from tests.support.s3 import CREDENTIALS, moto_s3_server

# Playwright's sync API runs an event loop in the test thread; the ORM calls tests make around it are safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# What a test asks for when it reads or writes the test database (pytest-django's db fixtures all go through the
# helper; `django_db_setup` is what a module-scoped seed, as in tests/test_browser_axe.py, starts from).
DATABASE_FIXTURES = frozenset({"_django_db_helper", "django_db_setup", "live_server"})


def pytest_collection_modifyitems(config, items):
    """A test marked db_agnostic runs once in CI, on SQLite: it must not ask for the database, or its PostgreSQL
    behaviour would go untested without anyone noticing. (Without a db fixture pytest-django refuses every query.)"""
    for item in items:
        if item.get_closest_marker("db_agnostic") and (
            item.get_closest_marker("django_db") or DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
        ):
            raise pytest.UsageError(f"{item.nodeid} is marked db_agnostic but uses the database")


@pytest.fixture(autouse=True)
def _forget_pending_gate_checks():
    """The process's memory of pending gate checks is keyed by campaign id, and tests reuse ids."""
    decisions.known_due.clear()


def create_users() -> dict[str, User]:
    return {
        "admin": UserFactory.create(username="admin", role=User.Role.ADMIN),
        "ds": UserFactory.create(username="ds", role=User.Role.DATA_SCIENTIST),
        "reviewer": UserFactory.create(username="rev", role=User.Role.REVIEWER),
        "reviewer2": UserFactory.create(username="rev2", role=User.Role.REVIEWER),
        "approver": UserFactory.create(username="approver", role=User.Role.APPROVER),
        "approver2": UserFactory.create(username="approver2", role=User.Role.APPROVER),
    }


@pytest.fixture
def users(db):
    return create_users()


def token_client(user: User) -> APIClient:
    _, token = AuthToken.objects.create(user=user, expiry=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def api(users):
    """api['ds'] is an APIClient authenticated with the data scientist's token, and so on."""
    return {role: token_client(user) for role, user in users.items()}


ITEMS = [
    {
        "id": f"item-{i}",
        "input": f"What is {i} + {i}?",
        "reference": str(2 * i),
        "tags": ["even" if i % 2 == 0 else "odd"],
    }
    for i in range(6)
]


@pytest.fixture
def loop_data(api):
    """A dataset version with two model versions' predictions on it, uploaded through the API."""
    ds = api["ds"]
    assert ds.post("/api/v1/datasets/", {"name": "arith"}, format="json").status_code == 201
    assert (
        ds.post("/api/v1/datasets/arith/versions/", {"file": jsonl_file(ITEMS)}, format="multipart").status_code == 201
    )
    for model, version, offset in (("calc", "2", 0), ("calc", "1", 1)):
        if ds.get(f"/api/v1/models/{model}/versions/").status_code == 404:
            assert ds.post("/api/v1/models/", {"name": model}, format="json").status_code == 201
        assert ds.post(f"/api/v1/models/{model}/versions/", {"version": version}, format="json").status_code == 201
        rows = [{"id": item["id"], "output": str(2 * i + offset)} for i, item in enumerate(ITEMS)]
        response = ds.post(
            f"/api/v1/models/{model}/versions/{version}/predictions/",
            {"dataset": "arith", "dataset_version": 1, "file": jsonl_file(rows)},
            format="multipart",
        )
        assert response.status_code == 201, response.json()
    return {"dataset": "arith", "dataset_version": 1, "candidate": "calc:2", "baseline": "calc:1"}


@pytest.fixture
def pairwise_campaign(api, loop_data):
    response = api["ds"].post(
        "/api/v1/campaigns/",
        {
            "name": "calc 2 vs 1",
            "kind": "pairwise",
            **loop_data,
            "reviewers": ["rev", "rev2"],
            "overlap": 1,
            "gate": {"min_judgments": 4, "min_win_rate": 0.5, "alternative": 0.95},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


CHROMIUM = os.environ.get("SIGNOFF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser):
    """Open a fresh browser context (its own cookies) per call: one per person in a test."""
    contexts = []

    def open_page():
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def browser_login(page, live_server, username: str, password: str = "pw-for-tests") -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.press("#id_password", "Enter")
    page.wait_for_url(f"{live_server.url}/")


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on a loopback port, for the run; the AWS credentials it takes are in the environment, where
    boto3 (in this process and in the workers and web servers the tests start) looks for them."""
    saved = {name: os.environ.get(name) for name in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    try:
        with moto_s3_server() as server:
            yield server
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def s3_bucket(s3_server, settings, tmp_path):
    """A fresh bucket as the default storage, and MEDIA_ROOT an empty folder that must stay empty."""
    from config.storage_url import default_storage_from_url

    bucket = s3_server.new_bucket()
    settings.STORAGES = {**settings.STORAGES, "default": default_storage_from_url(bucket.storage_url)}
    settings.MEDIA_ROOT = str(tmp_path / "media")
    (tmp_path / "media").mkdir()
    return bucket
