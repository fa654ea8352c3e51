"""Who may call what: role rules per endpoint, blind views for reviewers, tokens, the error shape, query counts."""

import pytest
from django.db import connection
from knox.models import AuthToken
from rest_framework.test import APIClient

from reviews.models import Assignment
from tests.conftest import token_client
from tests.factories import UserFactory, jsonl_file


@pytest.fixture
def clients(api):
    return {**api, "anon": APIClient()}


def assert_error_shape(response) -> None:
    body = response.json()
    assert set(body) == {"message", "code", "extra"}, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["extra"], dict)


def check(expected: dict[str, int], call) -> None:
    """Call the endpoint as each role (denied roles first, so an allowed write cannot change their answer)."""
    order = sorted(expected, key=lambda role: expected[role] < 400)
    got = {}
    for role in order:
        response = call(role)
        got[role] = response.status_code
        if response.status_code >= 400:
            assert_error_shape(response)
            if response.status_code == 401:
                assert response.json()["code"] == "not_authenticated"
    assert got == expected


def test_listing_and_creating_datasets(clients):
    check(
        {"anon": 401, "reviewer": 403, "ds": 200, "approver": 200, "admin": 200},
        lambda role: clients[role].get("/api/v1/datasets/"),
    )
    check(
        {"anon": 401, "reviewer": 403, "approver": 403, "ds": 201, "admin": 201},
        lambda role: clients[role].post("/api/v1/datasets/", {"name": f"set-{role}"}, format="json"),
    )


def test_uploading_a_dataset_version(clients, loop_data):
    def upload(role):
        rows = [{"id": f"{role}-1", "input": "x"}]  # distinct bytes per role, so each allowed upload is new
        return clients[role].post("/api/v1/datasets/arith/versions/", {"file": jsonl_file(rows)}, format="multipart")

    check({"anon": 401, "reviewer": 403, "approver": 403, "ds": 201, "admin": 201}, upload)


def test_registering_models_and_versions_and_uploading_predictions(clients, loop_data):
    check(
        {"anon": 401, "reviewer": 403, "approver": 403, "ds": 201, "admin": 201},
        lambda role: clients[role].post("/api/v1/models/", {"name": f"model-{role}"}, format="json"),
    )
    check(
        {"anon": 401, "reviewer": 403, "approver": 403, "ds": 201, "admin": 201},
        lambda role: clients[role].post("/api/v1/models/calc/versions/", {"version": f"v-{role}"}, format="json"),
    )
    check(
        {"anon": 401, "reviewer": 403, "approver": 403, "ds": 201},
        lambda role: clients[role].post(
            "/api/v1/models/calc/versions/v-ds/predictions/",
            {"dataset": "arith", "dataset_version": 1, "file": jsonl_file([{"id": "item-0", "output": "0"}])},
            format="multipart",
        ),
    )
    check(
        {"anon": 401, "reviewer": 403, "ds": 200, "approver": 200, "admin": 200},
        lambda role: clients[role].get("/api/v1/models/calc/versions/2/"),
    )


def test_creating_campaigns_and_seeing_results(clients, loop_data, pairwise_campaign):
    def create(role):
        return clients[role].post(
            "/api/v1/campaigns/",
            {
                "name": f"by {role}",
                "kind": "pairwise",
                **loop_data,
                "reviewers": ["rev"],
                "overlap": 1,
            },
            format="json",
        )

    check({"anon": 401, "reviewer": 403, "approver": 403, "ds": 201, "admin": 201}, create)
    cid = pairwise_campaign["id"]
    check(
        {"anon": 401, "reviewer": 403, "ds": 200, "approver": 200, "admin": 200},
        lambda role: clients[role].get(f"/api/v1/campaigns/{cid}/results/"),
    )
    check(
        {"anon": 401, "reviewer": 200, "ds": 200, "approver": 200, "admin": 200},
        lambda role: clients[role].get(f"/api/v1/campaigns/{cid}/"),
    )


def test_only_reviewers_fetch_tasks_and_judge(clients, pairwise_campaign):
    cid = pairwise_campaign["id"]
    check(
        {"anon": 401, "ds": 403, "approver": 403, "reviewer": 200},
        lambda role: clients[role].get(f"/api/v1/campaigns/{cid}/next/"),
    )
    task = Assignment.objects.get(reviewer__username="rev").task_id
    check(
        {"anon": 401, "ds": 403, "approver": 403, "reviewer": 201},
        lambda role: clients[role].post(f"/api/v1/tasks/{task}/judgments/", {"choice": "A"}, format="json"),
    )


def test_only_approvers_sign_off(clients, pairwise_campaign):
    cid = pairwise_campaign["id"]
    check(
        {"anon": 401, "reviewer": 403, "ds": 403, "approver": 201},
        lambda role: clients[role].post(
            f"/api/v1/campaigns/{cid}/signoff/", {"decision": "reject", "rationale": "not yet"}, format="json"
        ),
    )


def test_only_approvers_move_a_version_to_production(clients, loop_data):
    from models_app.models import ModelVersion

    ModelVersion.objects.filter(version="2").update(stage=ModelVersion.Stage.APPROVED)
    check(
        {"anon": 401, "reviewer": 403, "ds": 403, "approver": 200},
        lambda role: clients[role].post(
            "/api/v1/models/calc/versions/2/stage/", {"stage": "production", "reason": "ship it"}, format="json"
        ),
    )


def test_webhooks_are_managed_by_data_scientists(clients):
    # A public address literal: accepted without any DNS lookup or request.
    check(
        {"anon": 401, "reviewer": 403, "approver": 403, "ds": 201},
        lambda role: clients[role].post(
            "/api/v1/webhooks/", {"url": "http://93.184.216.34/hook", "events": ["verdict.signed"]}, format="json"
        ),
    )
    check(
        {"anon": 401, "reviewer": 403, "approver": 403, "ds": 200}, lambda role: clients[role].get("/api/v1/webhooks/")
    )


def test_gate_is_closed_to_reviewers_whose_pending_would_name_the_blind_candidate(clients, pairwise_campaign):
    # the reviewer judges this campaign; reviewer2 is on it too; an outsider reviewer is refused the same way
    outsider = token_client(UserFactory.create(username="outsider"))
    for client in (clients["reviewer"], clients["reviewer2"], outsider):
        for url in ("/api/v1/gate/calc/2/", "/api/v1/gate/calc/1/", "/api/v1/gate/calc/2/?evidence=1"):
            response = client.get(url)
            assert response.status_code == 403, (url, response.json())
            assert_error_shape(response)
    check(
        {"anon": 401, "reviewer": 403, "ds": 200, "approver": 200, "admin": 200},
        lambda role: clients[role].get("/api/v1/gate/calc/2/"),
    )


def _signed(users, pairwise_campaign) -> dict:
    from reviews.models import Campaign, Verdict
    from reviews.services.verdicts import verdict_sign

    campaign = Campaign.objects.get(pk=pairwise_campaign["id"])
    verdict = verdict_sign(
        campaign=campaign, signer=users["approver"], decision="reject", rationale="rev and rev2 agreed"
    )
    assert isinstance(verdict, Verdict)  # a rejection decides at once: no approval waits for a second signer
    return {"id": verdict.pk, "hash": verdict.hash}


def test_gate_answers_ci_with_the_decision_only_and_evidence_on_request(clients, users, pairwise_campaign):
    verdict = _signed(users, pairwise_campaign)
    for role in ("ds", "approver", "admin"):
        narrow = clients[role].get("/api/v1/gate/calc/2/")
        assert narrow.status_code == 200
        body = narrow.json()
        assert set(body) == {"model", "version", "stage", "status", "verdict"}
        assert set(body["verdict"]) == {"id", "decision", "hash", "signed_at"}, body["verdict"]
        assert (body["verdict"]["id"], body["verdict"]["hash"], body["status"]) == (
            verdict["id"],
            verdict["hash"],
            "rejected",
        )
        assert "rev2" not in narrow.content.decode() and "agreed" not in narrow.content.decode()

        full = clients[role].get("/api/v1/gate/calc/2/?evidence=1").json()["verdict"]
        assert (full["signer"], full["rationale"]) == ("approver", "rev and rev2 agreed")
        assert {"evidence", "previous_hash", "campaign"} <= set(full)


def test_reviewer_outside_a_campaign_gets_404_not_403(api, users, pairwise_campaign):
    outsider = token_client(UserFactory.create(username="outsider"))
    cid = pairwise_campaign["id"]
    for url in (f"/api/v1/campaigns/{cid}/next/", f"/api/v1/campaigns/{cid}/"):
        response = outsider.get(url)
        assert response.status_code == 404
        assert_error_shape(response)
        assert response.json()["code"] == "campaign_not_found"
    # the same answer as for a campaign that does not exist: ids reveal nothing
    assert outsider.get("/api/v1/campaigns/999999/").json() == outsider.get(f"/api/v1/campaigns/{cid}/").json()
    assert outsider.get("/api/v1/campaigns/").json()["results"] == []


def test_reviewer_sees_the_campaign_without_model_names(api, pairwise_campaign):
    cid = pairwise_campaign["id"]
    for response in (api["reviewer"].get(f"/api/v1/campaigns/{cid}/"), api["reviewer"].get("/api/v1/campaigns/")):
        body = response.json()
        campaign = body["results"][0] if "results" in body else body  # the list, paged, or the campaign
        assert campaign["id"] == cid
        assert "candidate" not in campaign and "baseline" not in campaign
        # (the fixture's campaign *name* mentions the model; the model references must not appear)
        assert "calc:2" not in response.content.decode() and "calc:1" not in response.content.decode()
    full = api["ds"].get(f"/api/v1/campaigns/{cid}/").json()
    assert (full["candidate"], full["baseline"]) == ("calc:2", "calc:1")


def test_revoked_token_is_refused(users):
    instance, token = AuthToken.objects.create(user=users["ds"], expiry=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/datasets/").status_code == 200
    instance.delete()
    response = client.get("/api/v1/datasets/")
    assert response.status_code == 401
    assert_error_shape(response)
    assert response["WWW-Authenticate"] == "Token"


def test_an_expired_token_is_refused_saying_so_and_swept_a_month_later_without_touching_live_ones(users):
    from datetime import timedelta

    from django.utils import timezone

    from core.tasks import tokens_delete_expired_task

    expired, expired_token = AuthToken.objects.create(user=users["ds"], expiry=timedelta(hours=1))
    long_expired, _ = AuthToken.objects.create(user=users["ds"], expiry=timedelta(hours=1))
    live, live_token = AuthToken.objects.create(user=users["ds"], expiry=timedelta(hours=1))
    AuthToken.objects.filter(pk=expired.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    AuthToken.objects.filter(pk=long_expired.pk).update(expiry=timezone.now() - timedelta(days=31))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {expired_token}")
    for _ in range(2):  # the second time too: a weekly job is told why, not "invalid token"
        response = client.get("/api/v1/datasets/")
        assert response.status_code == 401
        assert_error_shape(response)
        assert response.json()["code"] == "token_expired"
        assert "expired" in response.json()["message"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {live_token}")
    assert client.get("/api/v1/datasets/").status_code == 200
    assert tokens_delete_expired_task() == 1  # beat sweeps only tokens expired more than 30 days ago
    assert set(AuthToken.objects.filter(user=users["ds"]).values_list("pk", flat=True)) == {live.pk, expired.pk}


def test_malformed_token_is_refused_with_the_error_shape(users):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token so_not-a-real-token")
    response = client.get("/api/v1/datasets/")
    assert response.status_code == 401
    assert_error_shape(response)


def test_tokens_are_stored_hashed(users):
    instance, token = AuthToken.objects.create(user=users["ds"], expiry=None)
    assert token.startswith("so_")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {AuthToken._meta.db_table}")
        stored = [str(value) for row in cursor.fetchall() for value in row]
    assert stored, "the token row exists"
    assert not any(token in value for value in stored)
    assert instance.token_key == token[: len(instance.token_key)] and len(instance.token_key) < len(token)


def test_every_error_response_has_exactly_message_code_and_extra(api, clients, pairwise_campaign):
    cid = pairwise_campaign["id"]
    responses = [
        clients["anon"].get("/api/v1/campaigns/"),  # 401
        api["reviewer"].post("/api/v1/datasets/", {"name": "x"}, format="json"),  # 403
        api["ds"].get("/api/v1/datasets/missing/"),  # 404
        api["ds"].get("/api/v1/models/calc/versions/99/"),  # 404 from a selector
        api["ds"].post("/api/v1/datasets/", {}, format="json"),  # 400 validation
        api["ds"].post("/api/v1/datasets/", {"name": "arith"}, format="json"),  # 409
        api["ds"].post("/api/v1/datasets/arith/versions/", {"file": "x"}, format="json"),  # 415
        api["ds"].delete("/api/v1/datasets/"),  # 405
        api["ds"].post(
            "/api/v1/campaigns/",
            {
                "name": "c",
                "kind": "pairwise",
                "dataset": "arith",
                "dataset_version": 1,
                "candidate": "calc",
                "reviewers": ["rev"],
            },
            format="json",
        ),  # 400 bad ref
        api["approver"].post(
            f"/api/v1/campaigns/{cid}/signoff/", {"decision": "approve", "rationale": "r"}, format="json"
        ),
        api["ds"].post("/api/v1/campaigns/", "{broken", content_type="application/json"),  # 400 parse error
    ]
    assert [r.status_code for r in responses] == [401, 403, 404, 404, 400, 409, 415, 405, 400, 409, 400]
    for response in responses:
        assert_error_shape(response)
    validation = responses[4].json()
    assert validation["code"] == "invalid" and "name" in validation["extra"]["fields"]
    assert responses[8].json()["code"] == "invalid_reference"


def test_campaign_list_does_not_query_per_campaign(api, loop_data, django_assert_max_num_queries):
    for n in range(5):
        response = api["ds"].post(
            "/api/v1/campaigns/",
            {
                "name": f"c{n}",
                "kind": "pairwise",
                **loop_data,
                "reviewers": ["rev", "rev2"],
                "overlap": 1,
            },
            format="json",
        )
        assert response.status_code == 201
    # token lookup, user, the page's count, campaigns (joined), reviewers and other versions (prefetched)
    with django_assert_max_num_queries(7):
        response = api["ds"].get("/api/v1/campaigns/")
    campaigns = response.json()["results"]
    assert len(campaigns) == 5 and all(c["reviewers"] == ["rev", "rev2"] for c in campaigns)
    with django_assert_max_num_queries(5):
        assert len(api["reviewer"].get("/api/v1/campaigns/").json()["results"]) == 5


def test_dataset_list_does_not_query_per_dataset(api, django_assert_max_num_queries):
    for n in range(5):
        api["ds"].post("/api/v1/datasets/", {"name": f"d{n}"}, format="json")
        api["ds"].post(
            f"/api/v1/datasets/d{n}/versions/", {"file": jsonl_file([{"id": "a", "input": str(n)}])}, format="multipart"
        )
    with django_assert_max_num_queries(5):  # + the page's count
        response = api["ds"].get("/api/v1/datasets/")
    datasets = response.json()["results"]
    assert [d["name"] for d in datasets] == [f"d{n}" for n in range(5)]
    assert all(len(d["versions"]) == 1 for d in datasets)


def test_model_version_list_does_not_query_per_version(api, loop_data, django_assert_max_num_queries):
    for n in range(3, 8):
        api["ds"].post("/api/v1/models/calc/versions/", {"version": str(n)}, format="json")
    with django_assert_max_num_queries(5):  # + the page's count
        response = api["ds"].get("/api/v1/models/calc/versions/")
    assert len(response.json()["results"]) == 7


def test_unknown_api_url_answers_in_the_error_shape(api):
    response = api["ds"].get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert set(response.json()) == {"message", "code", "extra"}
    assert response.json()["code"] == "not_found"
