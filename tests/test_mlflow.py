"""MLflow, both ways, against a real `mlflow server` (started once for this module from its own venv,
tests/support/mlflow.py): versions registered over MLflow's REST API (a test-side client, tests/support/mlflow_client.py)
come in by its signed webhook and by the reconcile; a signed verdict's tags and the production alias go out through the
outbox, and wait out MLflow being down."""

import json
import time
import uuid
from urllib.parse import urlsplit

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from core.models import User
from integrations import tasks
from integrations.mlflow.rest import MlflowRest
from integrations.mlflow.signature import sign
from integrations.models import MlflowSync, MlflowVersionLink
from integrations.selectors import mlflow_syncs_due
from integrations.services.mlflow_in import mlflow_reconcile, mlflow_rest
from integrations.services.mlflow_out import mlflow_sync_attempt, mlflow_sync_enqueue
from models_app.models import ModelVersion
from reviews.models import Verdict
from tests.conftest import ITEMS, browser_login, token_client
from tests.factories import UserFactory, jsonl_file
from tests.support.axe import describe, serious_violations
from tests.support.mlflow import Relay, mlflow_hmac_signatures, mlflow_server, mlflow_signature
from tests.support.mlflow_client import MlflowTestClient
from tests.support.screenshots import screenshot
from tests.support.worker import celery_worker

SECRET = "mlflow-webhook-secret-for-tests"
WEBHOOK = "/api/v1/integrations/mlflow/webhook/"


# Module scope: only this module uses the server, so it runs once and stops when the module is done, not at the end of
# a whole suite's session (its two processes hold ~430 MB).
@pytest.fixture(scope="module", autouse=True)
def mlflow_starting(tmp_path_factory):
    """Autouse, so the server starts before the other fixtures (the test database, when this module runs alone) and
    starts alongside them."""
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as server:
        yield server


@pytest.fixture(scope="module")
def mlflow(mlflow_starting):
    return mlflow_starting.wait_healthy()


@pytest.fixture(scope="module")
def client(mlflow):
    return MlflowTestClient(mlflow.url)


@pytest.fixture
def mlflow_on(settings, mlflow):
    settings.SIGNOFF_MLFLOW_TRACKING_URI = mlflow.url
    settings.SIGNOFF_MLFLOW_WEBHOOK_SECRET = SECRET
    settings.SIGNOFF_BASE_URL = "https://signoff.example"
    return settings


def register(client, name: str, *, params=None, metrics=None):
    """What a training job does: a run with params and metrics, and a version of `name` from it."""
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name)
    run = client.create_run("0")
    for key, value in (params or {}).items():
        client.log_param(run.info.run_id, key, value)
    for key, value in (metrics or {}).items():
        client.log_metric(run.info.run_id, key, value)
    client.set_terminated(run.info.run_id)
    return client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)


def unique(prefix: str = "m") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def mlflow_request(name: str, version: str, *, secret: str = SECRET, timestamp: int | None = None, **event):
    """A webhook request built the way MLflow builds it (mlflow/webhooks/delivery.py): its JSON, its headers, and its
    signature (the test side's, which test_our_signature_is_mlflows checks against MLflow's own function)."""
    body = json.dumps(
        {
            "entity": event.get("entity", "model_version"),
            "action": event.get("action", "created"),
            "timestamp": "2026-01-01T00:00:00+00:00",
            "data": {"name": name, "version": version, "source": "x", "run_id": None, "tags": {}, "description": None},
        }
    )
    delivery_id, stamp = str(uuid.uuid4()), str(timestamp or int(time.time()))
    headers = {
        "HTTP_X_MLFLOW_DELIVERY_ID": delivery_id,
        "HTTP_X_MLFLOW_TIMESTAMP": stamp,
        "HTTP_X_MLFLOW_SIGNATURE": mlflow_signature(secret, delivery_id, stamp, body),
    }
    return body, headers


def post_webhook(body: str, headers: dict):
    return Client().post(WEBHOOK, body, content_type="application/json", **headers)


# --- in ---------------------------------------------------------------------------------------------------------------


def test_our_signature_is_mlflows():
    """MLflow's own signing function, run in its venv: the app's `sign` and the tests' requests match it."""
    body, headers = mlflow_request("m", "1")
    cases = [
        ("s", "d", "1", "{}"),
        (SECRET, headers["HTTP_X_MLFLOW_DELIVERY_ID"], headers["HTTP_X_MLFLOW_TIMESTAMP"], body),
        ("sécret", "dé", "1767225600", '{"name": "modèle"}'),  # non-ASCII: both encode UTF-8
    ]
    theirs = mlflow_hmac_signatures(cases)
    assert sign(secret="s", delivery_id="d", timestamp="1", body="{}") == theirs[0]
    assert [sign(secret=k, delivery_id=d, timestamp=t, body=b) for k, d, t, b in cases] == theirs
    assert [mlflow_signature(*case) for case in cases] == theirs
    assert headers["HTTP_X_MLFLOW_SIGNATURE"] == theirs[1]


@pytest.mark.django_db
def test_signed_webhook_makes_the_version_a_candidate_with_its_run(mlflow_on, client):
    name = unique()
    created = register(client, name, params={"lr": "0.01", "layers": "4"}, metrics={"auc": 0.91})
    response = post_webhook(*mlflow_request(name, created.version))
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "created", "model": name, "version": "1"}
    version = ModelVersion.objects.select_related("model", "created_by", "mlflow_link").get(model__name=name)
    assert (version.version, version.stage) == ("1", ModelVersion.Stage.CANDIDATE)
    assert version.artifact_uri == created.source and created.source.startswith("runs:/")
    assert version.params == {"lr": "0.01", "layers": "4"} and version.metrics == {"auc": 0.91}
    assert version.mlflow_link.run_id == created.run_id
    # registered by an account that cannot log in, so any approver may sign the candidate off
    assert version.created_by.username == "mlflow" and not version.created_by.has_usable_password()
    # MLflow retries a delivery it thinks lost: the same version again is still one version
    again = post_webhook(*mlflow_request(name, created.version))
    assert again.status_code == 200 and again.json()["status"] == "exists"
    assert ModelVersion.objects.filter(model__name=name).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "spoil",
    [
        lambda body, headers: (body.replace('"1"', '"2"'), headers),  # body changed after signing
        lambda body, headers: (body, {**headers, "HTTP_X_MLFLOW_SIGNATURE": "v1,AAAA"}),
        lambda body, headers: (body, {k: v for k, v in headers.items() if k != "HTTP_X_MLFLOW_SIGNATURE"}),
    ],
    ids=["tampered-body", "wrong-signature", "unsigned"],
)
def test_a_request_not_signed_with_the_secret_is_refused(mlflow_on, client, spoil):
    name = unique()
    register(client, name)
    response = post_webhook(*spoil(*mlflow_request(name, "1")))
    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature" and "X-MLflow-" in response.json()["message"]
    assert not ModelVersion.objects.filter(model__name=name).exists()


@pytest.mark.django_db
def test_a_replayed_old_request_and_a_foreign_secret_are_refused(mlflow_on, client):
    name = unique()
    register(client, name)
    stale = post_webhook(*mlflow_request(name, "1", timestamp=int(time.time()) - 600))
    assert stale.status_code == 401 and "clock" in stale.json()["message"]
    foreign = post_webhook(*mlflow_request(name, "1", secret="another-secret"))
    assert foreign.status_code == 401
    assert not ModelVersion.objects.filter(model__name=name).exists()


@pytest.mark.django_db
def test_webhook_is_404_while_the_integration_is_off_and_403_without_a_secret(settings, mlflow_on, client):
    body, headers = mlflow_request("any", "1")
    settings.SIGNOFF_MLFLOW_WEBHOOK_SECRET = ""
    assert post_webhook(body, headers).status_code == 403
    settings.SIGNOFF_MLFLOW_TRACKING_URI = ""
    assert post_webhook(body, headers).status_code == 404


@pytest.mark.django_db
def test_other_events_are_answered_and_ignored(mlflow_on):
    response = post_webhook(*mlflow_request("whatever", "1", entity="model_version_tag", action="set"))
    assert response.status_code == 200 and response.json() == {"status": "ignored", "event": "model_version_tag.set"}


@pytest.mark.django_db
def test_reconcile_brings_what_no_webhook_announced_once(mlflow_on, client):
    name = unique()
    for auc in (0.8, 0.85):
        register(client, name, metrics={"auc": auc})
    result = mlflow_reconcile(rest=mlflow_rest())
    assert {f"{name}:1", f"{name}:2"} <= set(result.imported)
    assert dict(ModelVersion.objects.filter(model__name=name).values_list("version", "metrics")) == {
        "1": {"auc": 0.8},
        "2": {"auc": 0.85},
    }
    # the next run, and beat's task, find nothing new for it
    assert not [label for label in mlflow_reconcile(rest=mlflow_rest()).imported if label.startswith(name)]
    assert tasks.mlflow_reconcile_task() == 0
    assert ModelVersion.objects.filter(model__name=name).count() == 2


@pytest.mark.django_db
def test_a_second_link_to_the_same_mlflow_version_is_refused_by_the_database(mlflow_on, client):
    name = unique()
    register(client, name)
    mlflow_reconcile(rest=mlflow_rest())
    link = MlflowVersionLink.objects.get(mlflow_name=name)
    other = ModelVersion.objects.create(
        model=link.model_version.model, version="99", created_by=link.model_version.created_by
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        MlflowVersionLink.objects.create(model_version=other, mlflow_name=name, mlflow_version="1")


@pytest.mark.django_db
def test_a_name_signoff_cannot_hold_is_skipped_with_the_reason(mlflow_on, client):
    name = f"team.{unique()}"  # MLflow allows dots; Signoff's model names are slugs
    register(client, name)
    result = mlflow_reconcile(rest=mlflow_rest())
    assert "letters, digits" in result.skipped[f"{name}:1"]
    assert not ModelVersion.objects.filter(model__name=name).exists()


# --- out --------------------------------------------------------------------------------------------------------------


def mirror(client, version: ModelVersion) -> MlflowVersionLink:
    """Link an API-registered Signoff version to a fresh MLflow version, as if it had come from there."""
    name = unique()
    created = register(client, name)
    return MlflowVersionLink.objects.create(
        model_version=version, mlflow_name=name, mlflow_version=created.version, run_id=created.run_id
    )


def judge_all(client, cid):
    while (response := client.get(f"/api/v1/campaigns/{cid}/next/")).status_code == 200:
        task = response.json()
        want = str(2 * int(task["item"].split("-")[1]))
        slot = next(o["slot"] for o in task["outputs"] if o["output"] == want)
        assert (
            client.post(f"/api/v1/tasks/{task['task']}/judgments/", {"choice": slot}, format="json").status_code == 201
        )


def deliver_all() -> None:
    for sync_id in mlflow_syncs_due():
        tasks.mlflow_sync_deliver(sync_id)  # the task body, in this process


@pytest.mark.django_db
def test_signed_verdict_tags_the_mlflow_version_and_production_moves_the_alias(
    mlflow_on, client, api, pairwise_campaign
):
    candidate = ModelVersion.objects.get(model__name="calc", version="2")
    link = mirror(client, candidate)
    judge_all(api["reviewer"], pairwise_campaign["id"])
    signed = api["approver"].post(
        f"/api/v1/campaigns/{pairwise_campaign['id']}/signoff/",
        {"decision": "approve", "rationale": "ok"},
        format="json",
    )
    assert signed.status_code == 201
    verdict = Verdict.objects.get()
    assert MlflowSync.objects.get().kind == MlflowSync.Kind.TAGS  # written with the verdict, before anything is sent
    deliver_all()
    tags = client.get_model_version(link.mlflow_name, link.mlflow_version).tags
    assert tags["signoff.decision"] == "approved"
    assert tags["signoff.verdict_hash"] == verdict.hash == signed.json()["hash"]
    assert tags["signoff.verdict_url"] == f"https://signoff.example/verdicts/{verdict.pk}/"
    assert MlflowSync.objects.get().status == MlflowSync.Status.DELIVERED

    page = Client()
    page.force_login(User.objects.get(username="approver"))
    moved = page.post("/models/calc/2/promote", {"reason": "rollout 7"})
    assert moved.status_code == 302
    deliver_all()
    assert client.get_model_version_by_alias(link.mlflow_name, "champion").version == link.mlflow_version
    shown = page.get("/models/calc/2/").content.decode()
    assert link.mlflow_name in shown and "signoff.decision=approved" in shown and "alias <code>champion" in shown
    assert "Not yet written to MLflow" not in shown


@pytest.mark.django_db
def test_a_version_that_did_not_come_from_mlflow_sends_nothing(mlflow_on, api, pairwise_campaign):
    response = api["approver"].post(
        f"/api/v1/campaigns/{pairwise_campaign['id']}/signoff/",
        {"decision": "reject", "rationale": "no"},
        format="json",
    )
    assert response.status_code == 201 and not MlflowSync.objects.exists()


@pytest.mark.django_db
def test_mlflow_down_never_blocks_the_signoff_and_the_tags_land_once_it_is_back(
    mlflow_on, mlflow, client, api, pairwise_campaign
):
    relay = Relay(target_port=urlsplit(mlflow.url).port)  # down: nothing listens on its port yet
    mlflow_on.SIGNOFF_MLFLOW_TRACKING_URI = relay.url
    candidate = ModelVersion.objects.get(model__name="calc", version="2")
    link = mirror(client, candidate)
    signed = api["approver"].post(
        f"/api/v1/campaigns/{pairwise_campaign['id']}/signoff/",
        {"decision": "reject", "rationale": "no"},
        format="json",
    )
    assert signed.status_code == 201
    candidate.refresh_from_db()
    assert candidate.stage == ModelVersion.Stage.REJECTED

    sync = MlflowSync.objects.get()
    assert mlflow_sync_attempt(sync_id=sync.pk, rest=mlflow_rest()) == 10  # the webhooks' first backoff
    sync.refresh_from_db()
    assert (sync.status, sync.attempt_count) == (MlflowSync.Status.PENDING, 1)
    assert "unreachable" in sync.last_error
    assert mlflow_syncs_due() == []  # not before its backoff
    page = Client()
    page.force_login(User.objects.get(username="approver"))
    shown = page.get("/models/calc/2/").content.decode()
    assert "Not yet written to MLflow" in shown and "unreachable" in shown

    relay.up()
    try:
        MlflowSync.objects.filter(pk=sync.pk).update(next_attempt_at=timezone.now())  # its backoff has passed
        assert tasks.mlflow_outbox_dispatch_due() == 1  # beat's sweep finds it (its message went to the broker)
        deliver_all()
    finally:
        relay.down()
    sync.refresh_from_db()
    assert sync.status == MlflowSync.Status.DELIVERED and sync.last_error == ""
    assert client.get_model_version(link.mlflow_name, link.mlflow_version).tags["signoff.decision"] == "rejected"
    assert "Not yet written to MLflow" not in page.get("/models/calc/2/").content.decode()


@pytest.mark.django_db
def test_a_refusal_by_mlflow_fails_at_once_and_shows(mlflow_on, client, api, pairwise_campaign):
    candidate = ModelVersion.objects.get(model__name="calc", version="2")
    link = mirror(client, candidate)
    client.delete_model_version(link.mlflow_name, link.mlflow_version)  # gone in MLflow: no retry will mend that
    api["approver"].post(
        f"/api/v1/campaigns/{pairwise_campaign['id']}/signoff/",
        {"decision": "reject", "rationale": "no"},
        format="json",
    )
    assert mlflow_sync_attempt(sync_id=MlflowSync.objects.get().pk, rest=mlflow_rest()) is None
    sync = MlflowSync.objects.get()
    assert sync.status == MlflowSync.Status.FAILED and "404" in sync.last_error
    page = Client()
    page.force_login(User.objects.get(username="approver"))
    assert "given up" in page.get("/models/calc/2/").content.decode()


@pytest.mark.django_db
def test_a_write_given_up_is_sent_again_from_the_version_page(mlflow_on, mlflow, client, api, pairwise_campaign):
    mlflow_on.SIGNOFF_WEBHOOK_MAX_ATTEMPTS = 1
    relay = Relay(target_port=urlsplit(mlflow.url).port)
    mlflow_on.SIGNOFF_MLFLOW_TRACKING_URI = relay.url
    link = mirror(client, ModelVersion.objects.get(model__name="calc", version="2"))
    api["approver"].post(
        f"/api/v1/campaigns/{pairwise_campaign['id']}/signoff/",
        {"decision": "reject", "rationale": "no"},
        format="json",
    )
    sync = MlflowSync.objects.get()
    assert mlflow_sync_attempt(sync_id=sync.pk, rest=mlflow_rest()) is None
    sync.refresh_from_db()
    assert sync.status == MlflowSync.Status.FAILED
    reviewer, page = Client(), Client()
    reviewer.force_login(User.objects.get(username="rev"))
    assert reviewer.post(f"/mlflow/syncs/{sync.pk}/retry").status_code == 403  # reviewers never see the registry
    page.force_login(User.objects.get(username="ds"))
    assert "Send again now" in page.get("/models/calc/2/").content.decode()
    relay.up()
    try:
        answer = page.post(f"/mlflow/syncs/{sync.pk}/retry")
        assert answer.status_code == 302 and answer["Location"] == "/models/calc/2/"
        sync.refresh_from_db()
        assert (sync.status, sync.attempt_count) == (MlflowSync.Status.PENDING, 0)
        deliver_all()
    finally:
        relay.down()
    sync.refresh_from_db()
    assert sync.status == MlflowSync.Status.DELIVERED
    assert client.get_model_version(link.mlflow_name, link.mlflow_version).tags["signoff.decision"] == "rejected"
    again = page.post(f"/mlflow/syncs/{sync.pk}/retry", follow=True)  # delivered: nothing to send again
    assert "was delivered" in again.content.decode()


# --- end to end: MLflow's own webhook to a live Signoff, and a real worker writing back ------------------------------


def campaign_on(api, model: str, candidate: str, baseline: str) -> int:
    ds = api["ds"]
    assert ds.post("/api/v1/datasets/", {"name": "arith"}, format="json").status_code == 201
    assert (
        ds.post("/api/v1/datasets/arith/versions/", {"file": jsonl_file(ITEMS)}, format="multipart").status_code == 201
    )
    for version, offset in ((candidate, 0), (baseline, 1)):
        rows = [{"id": item["id"], "output": str(2 * i + offset)} for i, item in enumerate(ITEMS)]
        response = ds.post(
            f"/api/v1/models/{model}/versions/{version}/predictions/",
            {"dataset": "arith", "dataset_version": 1, "file": jsonl_file(rows)},
            format="multipart",
        )
        assert response.status_code == 201, response.json()
    response = ds.post(
        "/api/v1/campaigns/",
        {
            "name": "mlflow e2e",
            "kind": "pairwise",
            "dataset": "arith",
            "dataset_version": 1,
            "candidate": f"{model}:{candidate}",
            "baseline": f"{model}:{baseline}",
            "reviewers": ["rev"],
            "overlap": 1,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def wait_for(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    raise AssertionError(f"not true after {timeout} s: {check.__doc__ or check}")


@pytest.mark.django_db(transaction=True)
def test_mlflow_delivers_its_webhook_to_signoff_and_a_worker_writes_the_verdict_back(
    live_server, mlflow_on, mlflow, client
):
    UserFactory.create(username="ds", role=User.Role.DATA_SCIENTIST)
    UserFactory.create(username="rev", role=User.Role.REVIEWER)
    UserFactory.create(username="approver", role=User.Role.APPROVER)
    api = {name: token_client(User.objects.get(username=name)) for name in ("ds", "approver")}
    name = unique("e2e")
    hook = client.create_webhook(
        name=name, url=f"{live_server.url}{WEBHOOK}", events=["model_version.created"], secret=SECRET
    )
    time.sleep(1.2)  # MLflow caches each event's list of webhooks for MLFLOW_WEBHOOK_CACHE_TTL (1 s here)
    try:
        for auc in (0.7, 0.9):
            register(client, name, metrics={"auc": auc})

        def both_arrived():
            """MLflow's own signed deliveries made both versions"""
            return ModelVersion.objects.filter(model__name=name).count() == 2

        wait_for(both_arrived)
    finally:
        client.delete_webhook(hook.webhook_id)
    assert ModelVersion.objects.get(model__name=name, version="2").metrics == {"auc": 0.9}
    cid = campaign_on(api, name, candidate="2", baseline="1")
    with celery_worker(SIGNOFF_MLFLOW_TRACKING_URI=mlflow.url, SIGNOFF_BASE_URL="https://signoff.example"):
        signed = api["approver"].post(
            f"/api/v1/campaigns/{cid}/signoff/", {"decision": "reject", "rationale": "worse"}, format="json"
        )
        assert signed.status_code == 201

        def tagged():
            """the worker set the verdict's tags on MLflow's version 2"""
            return client.get_model_version(name, "2").tags.get("signoff.verdict_hash")

        assert wait_for(tagged) == signed.json()["hash"]
    assert client.get_model_version(name, "2").tags["signoff.decision"] == "rejected"
    assert MlflowSync.objects.get().status == MlflowSync.Status.DELIVERED


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_version_page_shows_a_write_mlflow_has_not_taken_in_chromium(
    live_server, new_page, users, mlflow_on, mlflow, client
):
    name = unique()
    register(client, name, params={"lr": "0.1"})
    mlflow_reconcile(rest=mlflow_rest())
    link = MlflowVersionLink.objects.get(mlflow_name=name)
    relay = Relay(target_port=urlsplit(mlflow.url).port)  # never up: MLflow unreachable
    sync = mlflow_sync_enqueue(link=link, kind=MlflowSync.Kind.ALIAS, payload={"alias": "champion"})
    mlflow_sync_attempt(sync_id=sync.pk, rest=MlflowRest(base_url=relay.url, timeout=2))
    page = new_page()
    browser_login(page, live_server, "approver")
    page.goto(f"{live_server.url}/models/{name}/1/")
    alert = page.get_by_role("alert")
    assert "Not yet written to MLflow: alias (pending, 1 attempt" in alert.inner_text()
    assert "retried with backoff" in alert.inner_text()
    card = page.locator("#mlflow-sync")
    assert link.run_id in card.inner_text() and "runs:/" in card.inner_text()
    assert serious_violations(page) == [], describe(serious_violations(page))
    screenshot(page, "mlflow-version-pending.png", full_page=True)
