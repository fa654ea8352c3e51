"""Creating datasets, models, versions and campaigns in the browser: who may, what the forms refuse and say, and the
new-campaign form's helpers (model versions by dataset version, the first task's blind preview)."""

import json
from typing import Any

import pytest
from django.test import Client

from datasets.models import Dataset, DatasetVersion
from models_app.models import ModelVersion, RegisteredModel
from models_app.services.registry import model_version_create
from reviews.forms import CampaignForm
from reviews.models import Campaign

CREATION_PAGES = ["/datasets/new/", "/models/new/", "/models/calc/versions/new/", "/campaigns/new/"]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", CREATION_PAGES)
def test_creation_pages_open_for_data_scientists_only(users, loop_data, path):
    for role in ("ds", "admin"):
        assert client_for(users[role]).get(path).status_code == 200, (role, path)
    for role in ("reviewer", "approver"):
        assert client_for(users[role]).get(path).status_code == 403, (role, path)


def test_a_reviewer_cannot_create_anything_by_posting(users, loop_data):
    reviewer = client_for(users["reviewer"])
    assert reviewer.post("/datasets/new/", {"name": "sneaky"}).status_code == 403
    assert reviewer.post("/models/new/", {"name": "sneaky"}).status_code == 403
    assert reviewer.post("/models/calc/versions/new/", {"version": "9"}).status_code == 403
    dv = DatasetVersion.objects.get()
    assert reviewer.get(f"/campaigns/new/versions?dataset_version={dv.pk}").status_code == 403
    assert reviewer.post("/campaigns/new/preview", {"dataset_version": dv.pk}).status_code == 403
    assert not Dataset.objects.filter(name="sneaky").exists()
    assert not RegisteredModel.objects.filter(name="sneaky").exists()
    assert not ModelVersion.objects.filter(version="9").exists()


def test_the_pages_link_to_creation_for_data_scientists_only(users, loop_data):
    ds, approver = client_for(users["ds"]), client_for(users["approver"])
    assert 'href="/datasets/new/"' in ds.get("/datasets/").content.decode()
    registry = ds.get("/models/").content.decode()
    assert 'href="/models/new/"' in registry and 'href="/models/calc/versions/new/"' in registry
    assert 'href="/datasets/new/"' not in approver.get("/datasets/").content.decode()
    assert 'href="/models/new/"' not in approver.get("/models/").content.decode()


def test_dataset_form_creates_through_the_service_and_refuses_a_taken_or_reserved_name(users, loop_data):
    ds = client_for(users["ds"])
    response = ds.post("/datasets/new/", {"name": "fresh", "description": "first questions"})
    assert response.status_code == 302 and response["Location"] == "/datasets/fresh/"
    fresh = Dataset.objects.get(name="fresh")
    assert fresh.created_by == users["ds"] and fresh.description == "first questions"
    page = ds.get("/datasets/fresh/").content.decode()
    assert 'data-upload-url="/api/v1/datasets/fresh/versions/"' in page  # the first version's upload form
    taken = ds.post("/datasets/new/", {"name": "arith"}).content.decode()
    assert "A dataset named &#x27;arith&#x27; already exists." in taken
    reserved = ds.post("/datasets/new/", {"name": "new"}).content.decode()
    assert "is reserved for the page that creates datasets" in reserved
    assert "Enter a valid “slug”" in ds.post("/datasets/new/", {"name": "with space"}).content.decode()
    assert Dataset.objects.count() == 2


def test_model_form_leads_to_its_first_version(users, db):
    response = client_for(users["ds"]).post("/models/new/", {"name": "summarizer"})
    assert response.status_code == 302 and response["Location"] == "/models/summarizer/versions/new/"
    assert RegisteredModel.objects.get().created_by == users["ds"]


@pytest.mark.parametrize(
    ("field", "text", "error"),
    [
        (
            "params",
            '{"lr": 0.1,}',
            "Not valid JSON: Expecting property name enclosed in double quotes at line 1, column 12.",
        ),
        (
            "params",
            '{\n  "lr": 0.1\n  "layers": 2\n}',
            "Not valid JSON: Expecting &#x27;,&#x27; delimiter at line 3, column 3.",
        ),
        ("params", "[1, 2]", "Must be a JSON object such as {&quot;name&quot;: value}, not list."),
        (
            "metrics",
            '{"accuracy": "high", "f1": 0.8, "ok": true}',
            "Every metric must be a finite number; not: accuracy, ok.",
        ),
        ("metrics", '{"loss": NaN}', "Every metric must be a finite number; not: loss."),
    ],
)
def test_version_form_says_what_is_wrong_with_its_json(users, loop_data, field, text, error):
    response = client_for(users["ds"]).post("/models/calc/versions/new/", {"version": "3", field: text})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not ModelVersion.objects.filter(version="3").exists()


def test_version_form_registers_params_and_metrics_as_objects(users, loop_data):
    response = client_for(users["ds"]).post(
        "/models/calc/versions/new/",
        {"version": "3", "git_sha": "abc123", "params": '{"lr": 0.001, "layers": [4, 4]}', "metrics": '{"f1": 0.91}'},
    )
    assert response.status_code == 302 and response["Location"] == "/models/calc/3/"
    version = ModelVersion.objects.get(version="3")
    assert version.params == {"lr": 0.001, "layers": [4, 4]} and version.metrics == {"f1": 0.91}
    assert version.stage == ModelVersion.Stage.CANDIDATE and version.git_sha == "abc123"
    again = client_for(users["ds"]).post("/models/calc/versions/new/", {"version": "3"}).content.decode()
    assert "Model &#x27;calc&#x27; already has a version &#x27;3&#x27;." in again
    assert (
        "no &#x27;/&#x27;"
        in client_for(users["ds"]).post("/models/calc/versions/new/", {"version": "a/b"}).content.decode()
    )


def test_unknown_model_has_no_version_form(users, db):
    assert client_for(users["ds"]).get("/models/nope/versions/new/").status_code == 404


# --- the new-campaign form --------------------------------------------------------------------------------------


def campaign_post(users, **overrides) -> dict:
    dv = DatasetVersion.objects.get()
    data = {
        "name": "from the form",
        "kind": "pairwise",
        "dataset_version": dv.pk,
        "candidate": ModelVersion.objects.get(version="2").pk,
        "baseline": ModelVersion.objects.get(version="1").pk,
        "reviewers": [users["reviewer"].pk],
        "overlap": 1,
        "min_judgments": 3,
        "min_win_rate": 0.5,
    }
    return {**data, **overrides}


def test_campaign_form_marks_the_fields_of_each_kind(users, loop_data):
    form = CampaignForm()
    marked = {name: field.widget.attrs.get("data-kinds") for name, field in form.fields.items()}
    assert marked["baseline"] == "pairwise ranking rating" and marked["others"] == "ranking rating"
    assert marked["labels"] == marked["multi_label"] == "labeling" and marked["rubric"] == "rating"
    assert marked["name"] is None and marked["candidate"] is None and marked["reviewers"] is None
    page = client_for(users["ds"]).get("/campaigns/new/").content.decode()
    assert 'data-kinds="labeling"' in page and 'id="task-preview"' in page


def test_a_field_of_another_kind_is_dropped_not_refused(users, loop_data):
    # a labeling campaign posted with a baseline left over from pairwise: the service would refuse the baseline
    response = client_for(users["ds"]).post(
        "/campaigns/new/", campaign_post(users, kind="labeling", labels="even, odd", rubric="x: likert")
    )
    assert response.status_code == 302, response.content.decode()
    campaign = Campaign.objects.get()
    assert campaign.kind == "labeling" and campaign.baseline is None and campaign.labels == ["even", "odd"]
    assert campaign.rubric == []


def test_campaign_form_refuses_a_version_without_predictions_on_its_field(users, loop_data):
    lonely = model_version_create(model=RegisteredModel.objects.get(name="calc"), version="3", created_by=users["ds"])
    response = client_for(users["ds"]).post("/campaigns/new/", campaign_post(users, baseline=lonely.pk))
    assert response.status_code == 200
    assert "calc:3 has no predictions on arith v1." in response.content.decode()
    assert not Campaign.objects.exists()


def test_versions_endpoint_lists_only_versions_with_predictions_on_the_dataset_version(users, loop_data):
    model_version_create(model=RegisteredModel.objects.get(name="calc"), version="3", created_by=users["ds"])
    dv = DatasetVersion.objects.get()
    body = client_for(users["ds"]).get(f"/campaigns/new/versions?dataset_version={dv.pk}").json()
    assert [v["label"] for v in body["model_versions"]] == ["calc:1", "calc:2"]
    assert client_for(users["ds"]).get("/campaigns/new/versions?dataset_version=x").status_code == 400


def test_preview_is_the_first_item_blind_and_sanitised(users, api, loop_data):
    # calc:1's output on the first item is markdown with a script; the preview shows it as the review screen would
    rows = [{"id": "item-0", "output": "**bold** <script>alert(1)</script><img src=x onerror=alert(2)>"}]
    rows += [{"id": f"item-{i}", "output": str(i)} for i in range(1, 6)]
    model_version_create(model=RegisteredModel.objects.get(name="calc"), version="md", created_by=users["ds"])
    from tests.factories import jsonl_file

    response = api["ds"].post(
        "/api/v1/models/calc/versions/md/predictions/",
        {"dataset": "arith", "dataset_version": 1, "file": jsonl_file(rows)},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    post = campaign_post(users, baseline=ModelVersion.objects.get(version="md").pk, content_format="markdown")
    response = client_for(users["ds"]).post("/campaigns/new/preview", post)
    assert response.status_code == 200
    task = response.json()["task"]
    assert task["item"] == "item-0" and [o["slot"] for o in task["outputs"]] == ["A", "B"]
    text = json.dumps(task)
    assert "calc" not in text and "model" not in text  # no model named, no raw output next to its version
    html = next(o["content"]["html"] for o in task["outputs"] if "bold" in o["content"].get("html", ""))
    assert "<strong>bold</strong>" in html and "<script" not in html and "onerror" not in html
    assert not Campaign.objects.exists()


def test_diff_first_preview_is_the_first_item_whose_outputs_differ(users, api, loop_data):
    """A diff-first campaign has no task for an item with identical outputs: its preview must not show one."""
    from tests.factories import jsonl_file

    # calc:same answers as calc:2 (2i) on the first three items, and differently from item-3 on
    rows = [{"id": f"item-{i}", "output": str(2 * i if i < 3 else 100 + i)} for i in range(6)]
    model_version_create(model=RegisteredModel.objects.get(name="calc"), version="same", created_by=users["ds"])
    response = api["ds"].post(
        "/api/v1/models/calc/versions/same/predictions/",
        {"dataset": "arith", "dataset_version": 1, "file": jsonl_file(rows)},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    same = ModelVersion.objects.get(version="same").pk
    ds = client_for(users["ds"])

    def previewed(**overrides) -> Any:
        response = ds.post("/campaigns/new/preview", campaign_post(users, **{"baseline": same, **overrides}))
        assert response.status_code == 200, response.json()
        return response.json()["task"]

    changed = previewed(items="changed")
    assert changed["item"] == "item-3" and "What is 3 + 3?" in json.dumps(changed["input_content"])
    assert sorted(o["content"]["text"] for o in changed["outputs"]) == ["103", "6"]
    assert previewed(items="all")["item"] == "item-0" and previewed()["item"] == "item-0"
    assert previewed(kind="rating", items="changed")["item"] == "item-0"  # changed is pairwise only: ignored
    # a baseline with every output identical: a diff-first campaign would have no task, and the preview shows none
    rows = [{"id": f"item-{i}", "output": str(2 * i)} for i in range(6)]
    model_version_create(model=RegisteredModel.objects.get(name="calc"), version="twin", created_by=users["ds"])
    response = api["ds"].post(
        "/api/v1/models/calc/versions/twin/predictions/",
        {"dataset": "arith", "dataset_version": 1, "file": jsonl_file(rows)},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert previewed(baseline=ModelVersion.objects.get(version="twin").pk, items="changed") is None


def test_preview_needs_the_dataset_version_and_a_candidate(users, loop_data):
    response = client_for(users["ds"]).post("/campaigns/new/preview", {"kind": "pairwise"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) >= {"dataset_version", "candidate"}
