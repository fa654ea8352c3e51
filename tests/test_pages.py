"""Browser pages: each role sees its pages and is refused the others; forms call the same services."""

import pytest
from django.core.management import call_command
from django.test import Client
from knox.models import AuthToken

from core.models import User
from reviews.models import Campaign
from webhooks.models import WebhookEndpoint


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


PAGES_FOR_READERS = ["/datasets/", "/datasets/arith/", "/models/", "/models/calc/2/", "/campaigns/"]


@pytest.mark.parametrize("path", PAGES_FOR_READERS)
def test_reader_pages_render_for_data_scientists_and_approvers_only(users, loop_data, path):
    for role in ("ds", "approver", "admin"):
        assert client_for(users[role]).get(path).status_code == 200, (role, path)
    if path != "/campaigns/":
        assert client_for(users["reviewer"]).get(path).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(db):
    response = Client().get("/campaigns/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_home_shows_each_role_its_work(users, pairwise_campaign):
    reviewer_home = client_for(users["reviewer"]).get("/").content.decode()
    assert "Your review queue" in reviewer_home and "Start reviewing" in reviewer_home
    assert "calc:2" not in reviewer_home, "reviewers never see model names"
    approver_home = client_for(users["approver"]).get("/").content.decode()
    assert "Awaiting your sign-off" in approver_home and "calc 2 vs 1" in approver_home


def test_review_page_is_only_for_the_campaigns_reviewers(users, pairwise_campaign):
    path = f"/campaigns/{pairwise_campaign['id']}/review/"
    assert client_for(users["reviewer"]).get(path).status_code == 200
    outsider = User.objects.create_user("outsider", password="x", role=User.Role.REVIEWER)
    assert client_for(outsider).get(path).status_code == 404
    assert client_for(users["ds"]).get(path).status_code == 403


def test_results_page_is_refused_to_reviewers(users, pairwise_campaign):
    path = f"/campaigns/{pairwise_campaign['id']}/"
    assert client_for(users["reviewer"]).get(path).status_code == 403
    page = client_for(users["approver"]).get(path).content.decode()
    assert "Gate" in page and 'name="decision"' in page


def test_campaign_form_creates_a_campaign_through_the_service(users, loop_data):
    from datasets.models import DatasetVersion
    from models_app.models import ModelVersion

    client = client_for(users["ds"])
    response = client.post(
        "/campaigns/new/",
        {
            "name": "from the form",
            "kind": "pairwise",
            "dataset_version": DatasetVersion.objects.get().pk,
            "candidate": ModelVersion.objects.get(version="2").pk,
            "baseline": ModelVersion.objects.get(version="1").pk,
            "labels": "",
            "reviewers": [users["reviewer"].pk],
            "overlap": 1,
            "min_judgments": 3,
            "min_win_rate": 0.5,
            "guidelines": "Pick the right sum.",
        },
    )
    campaign = Campaign.objects.get(name="from the form")
    assert response.status_code == 302 and response["Location"] == f"/campaigns/{campaign.pk}/"
    assert (
        campaign.tasks.count() == 6
        and {"min_judgments": 3, "min_win_rate": 0.5}.items() <= campaign.gate_policy.items()
    )


def test_campaign_form_shows_the_services_error_on_its_field(users, loop_data):
    from datasets.models import DatasetVersion
    from models_app.models import ModelVersion

    response = client_for(users["ds"]).post(
        "/campaigns/new/",
        {
            "name": "no baseline",
            "kind": "pairwise",
            "dataset_version": DatasetVersion.objects.get().pk,
            "candidate": ModelVersion.objects.get(version="2").pk,
            "reviewers": [users["reviewer"].pk],
            "overlap": 1,
            "min_judgments": 3,
            "min_win_rate": 0.5,
        },
    )
    assert response.status_code == 200
    assert "A pairwise campaign needs a baseline." in response.content.decode()
    assert not Campaign.objects.filter(name="no baseline").exists()


def test_sign_off_form_refuses_the_uploader_and_signs_for_another_approver(users, api, pairwise_campaign):
    cid = pairwise_campaign["id"]
    reviewer = api["reviewer"]
    while (task := reviewer.get(f"/api/v1/campaigns/{cid}/next/")).status_code == 200:
        body = task.json()
        right = str(int(body["input"].split()[2]) * 2)
        slot = next(o["slot"] for o in body["outputs"] if o["output"] == right)
        reviewer.post(f"/api/v1/tasks/{body['task']}/judgments/", {"choice": slot}, format="json")
    response = client_for(users["approver"]).post(
        f"/campaigns/{cid}/signoff", {"decision": "approve", "rationale": "wins"}, follow=True
    )
    assert "Signed: approved" in response.content.decode()
    assert Campaign.objects.get(pk=cid).verdict.signer == users["approver"]


def test_item_images_are_shown_to_assigned_reviewers_only(users, api, settings, tmp_path):
    from tests.factories import jsonl_file, png_base64

    settings.MEDIA_ROOT = str(tmp_path)
    ds = api["ds"]
    ds.post("/api/v1/datasets/", {"name": "pics"}, format="json")
    ds.post(
        "/api/v1/datasets/pics/versions/",
        {"file": jsonl_file([{"id": "p1", "input": {"image": png_base64(), "q": "?"}}])},
        format="multipart",
    )
    from datasets.models import Item

    item = Item.objects.get(external_id="p1")
    assert client_for(users["ds"]).get(f"/items/{item.pk}/image").status_code == 200
    assert client_for(users["reviewer"]).get(f"/items/{item.pk}/image").status_code == 404


def test_webhook_page_shows_the_secret_once_and_stores_it_encrypted(users, settings):
    settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    client = client_for(users["ds"])
    page = client.post("/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["verdict.signed"]}).content.decode()
    endpoint = WebhookEndpoint.objects.get()
    secret = page.split('id="secret-value">')[1].split("<")[0]
    assert secret.startswith("whsec_") and secret not in endpoint.secret_encrypted
    assert secret not in client.get("/webhooks/").content.decode()
    assert client_for(users["reviewer"]).get("/webhooks/").status_code == 403


def test_createtoken_prints_a_working_token_stored_only_as_a_digest(db, capsys):
    call_command("createtoken", "ci-bot", "--role", "data_scientist", "--create-user")
    token = capsys.readouterr().out.strip().splitlines()[-1]
    user = User.objects.get(username="ci-bot")
    assert user.role == User.Role.DATA_SCIENTIST
    stored = AuthToken.objects.get(user=user)
    assert token not in (stored.digest, stored.token_key)
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/datasets/").status_code == 200


def test_lead_sees_every_judgment_with_model_names_and_can_discard_one(users, api, pairwise_campaign):
    from reviews.models import Judgment

    cid = pairwise_campaign["id"]
    task = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").json()
    api["reviewer"].post(
        f"/api/v1/tasks/{task['task']}/judgments/", {"choice": "tie", "comment": "<b>hm</b>"}, format="json"
    )
    lead = client_for(users["ds"])
    page = lead.get(f"/campaigns/{cid}/judgments/").content.decode()
    assert "calc:2" in page and "calc:1" in page, "the lead sees model names"
    assert "&lt;b&gt;hm&lt;/b&gt;" in page and "<b>hm</b>" not in page
    judgment = Judgment.objects.get()
    response = lead.post(f"/judgments/{judgment.pk}/discard", {"reason": "rushed"}, follow=True)
    assert "no longer counts" in response.content.decode()
    judgment.refresh_from_db()
    assert judgment.discard_reason == "rushed" and judgment.discarded_by == users["ds"]
    assert client_for(users["reviewer"]).get(f"/campaigns/{cid}/judgments/").status_code == 403
