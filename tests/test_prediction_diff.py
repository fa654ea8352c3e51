"""The prediction diff of two model versions on a dataset version: identical, changed and missing outputs (JSON by
value, text exactly or ignoring whitespace and case), per tag, computed in SQL in a constant number of queries,
paged, for data scientists and approvers only; `against` defaults to the version in production."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from models_app.models import ModelVersion
from models_app.selectors_diff import PAGE_SIZE
from tests.factories import jsonl_file

ITEMS: list[dict[str, Any]] = [
    {"id": "same-text", "input": "a", "tags": ["text"]},
    {"id": "same-json", "input": "b", "tags": ["json"]},
    {"id": "json-keys", "input": "c", "tags": ["json"]},
    {"id": "case-only", "input": "d", "tags": ["text"]},
    {"id": "space-only", "input": "e", "tags": ["text", "hard"]},
    {"id": "really-changed", "input": "f", "tags": ["text", "hard"]},
    {"id": "json-changed", "input": "g", "tags": ["json"]},
    {"id": "only-in-new", "input": "h"},
    {"id": "in-neither", "input": "i", "tags": ["text"]},
]
NEW: dict[str, Any] = {
    "same-text": "Paris",
    "same-json": {"label": "cat", "p": [0.9, 0.1]},
    "json-keys": {"a": 1, "b": 2},
    "case-only": "Hello World",
    "space-only": "a  b\tc",
    "really-changed": "<script>alert('x')</script>",
    "json-changed": {"label": "dog"},
    "only-in-new": "new",
}
OLD: dict[str, Any] = {
    "same-text": "Paris",
    "same-json": {"label": "cat", "p": [0.9, 0.1]},
    "json-keys": {"a": 1, "b": 2},
    "case-only": "hello world",
    "space-only": "a b c",
    "really-changed": "something else",
    "json-changed": {"label": "cat"},
}


def _upload_predictions(client, version: str, outputs: dict[str, Any], dataset: str = "diffset") -> None:
    response = client.post(
        f"/api/v1/models/m/versions/{version}/predictions/",
        {
            "dataset": dataset,
            "dataset_version": 1,
            "file": jsonl_file([{"id": k, "output": v} for k, v in outputs.items()]),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()


@pytest.fixture
def versions(api, users):
    ds = api["ds"]
    assert ds.post("/api/v1/datasets/", {"name": "diffset"}, format="json").status_code == 201
    response = ds.post("/api/v1/datasets/diffset/versions/", {"file": jsonl_file(ITEMS)}, format="multipart")
    assert response.status_code == 201, response.json()
    assert ds.post("/api/v1/models/", {"name": "m"}, format="json").status_code == 201
    for version in ("old", "new", "other"):
        assert ds.post("/api/v1/models/m/versions/", {"version": version}, format="json").status_code == 201
    _upload_predictions(ds, "new", NEW)
    _upload_predictions(ds, "old", OLD)
    # "old" is the version in production: the diff's default
    ModelVersion.objects.filter(version="old").update(stage=ModelVersion.Stage.PRODUCTION)
    return api


URL = "/api/v1/models/m/versions/new/diff/?dataset=diffset&dataset_version=1"


def test_diff_counts_identical_changed_and_missing_against_production_by_default(versions):
    response = versions["ds"].get(URL)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["model"], body["version"], body["against"], body["normalize"]) == ("m", "new", "old", "exact")
    assert (body["identical"], body["changed"], body["missing"]) == (3, 4, 2)
    assert body["by_tag"] == {
        "hard": {"identical": 0, "changed": 2, "missing": 0},
        "json": {"identical": 2, "changed": 1, "missing": 0},
        "text": {"identical": 1, "changed": 3, "missing": 1},
    }
    page = body["changed_items"]
    assert (page["offset"], page["next_offset"]) == (0, None)
    assert page["items"] == [
        {"id": "case-only", "tags": ["text"], "output": "Hello World", "against_output": "hello world"},
        {"id": "json-changed", "tags": ["json"], "output": {"label": "dog"}, "against_output": {"label": "cat"}},
        {
            "id": "really-changed",
            "tags": ["text", "hard"],
            "output": "<script>alert('x')</script>",
            "against_output": "something else",
        },
        {"id": "space-only", "tags": ["text", "hard"], "output": "a  b\tc", "against_output": "a b c"},
    ]


def test_whitespace_case_normalization_ignores_spacing_and_letter_case(versions):
    body = versions["ds"].get(URL + "&normalize=whitespace_case").json()
    assert (body["identical"], body["changed"], body["missing"]) == (5, 2, 2)
    assert [item["id"] for item in body["changed_items"]["items"]] == ["json-changed", "really-changed"]


def test_explicit_against_and_the_diff_is_symmetric_in_its_counts(versions):
    body = versions["ds"].get("/api/v1/models/m/versions/old/diff/?against=new&dataset=diffset&dataset_version=1")
    assert body.status_code == 200, body.json()
    assert (body.json()["identical"], body.json()["changed"], body.json()["missing"]) == (3, 4, 2)
    assert body.json()["changed_items"]["items"][0]["output"] == "hello world"


@pytest.mark.parametrize(
    ("url", "status", "field"),
    [
        ("/api/v1/models/m/versions/new/diff/?dataset=diffset&dataset_version=1&against=other", 400, "against"),
        ("/api/v1/models/m/versions/old/diff/?dataset=diffset&dataset_version=1", 400, "against"),
        ("/api/v1/models/m/versions/new/diff/?dataset=diffset&dataset_version=1&against=nope", 404, None),
        ("/api/v1/models/m/versions/new/diff/?dataset=diffset", 400, "dataset_version"),
        ("/api/v1/models/m/versions/new/diff/?dataset=diffset&dataset_version=1&normalize=loose", 400, "normalize"),
    ],
)
def test_bad_requests_say_what_and_where(versions, url, status, field):
    response = versions["ds"].get(url)
    assert response.status_code == status, response.json()
    body = response.json()
    assert body["message"] and body["code"]
    if field:
        assert field in str(body), body


def test_without_a_version_in_production_against_must_be_named(versions):
    ModelVersion.objects.filter(version="old").update(stage=ModelVersion.Stage.APPROVED)
    response = versions["ds"].get(URL)
    assert response.status_code == 400
    assert "no version in production" in response.json()["message"]


@pytest.mark.parametrize(
    ("role", "status"), [("ds", 200), ("approver", 200), ("reviewer", 403), ("reviewer2", 403), ("admin", 200)]
)
def test_only_those_who_may_see_results_read_the_outputs(versions, role, status):
    """Reviewers judge blind: the diff would tell them which output is which version's."""
    assert versions[role].get(URL).status_code == status


def test_anonymous_callers_are_refused(versions, client):
    assert client.get(URL).status_code in (401, 403)


def test_the_changed_list_pages_by_offset(versions, monkeypatch):
    monkeypatch.setattr("models_app.selectors_diff.PAGE_SIZE", 3)
    import models_app.selectors_diff as diff

    a, b = diff.prediction_sets_for_diff(
        version=ModelVersion.objects.get(version="new"),
        against=ModelVersion.objects.get(version="old"),
        dataset_version=ModelVersion.objects.get(version="new").prediction_sets.get().dataset_version,
    )
    first = diff.prediction_diff_changed_page(a=a, b=b, limit=3)
    second = diff.prediction_diff_changed_page(a=a, b=b, offset=first.next_offset or 0, limit=3)
    assert [r["id"] for r in first.rows] == ["case-only", "json-changed", "really-changed"]
    assert (first.next_offset, second.next_offset) == (3, None)
    assert [r["id"] for r in second.rows] == ["space-only"]
    body = versions["ds"].get(URL + "&offset=2").json()["changed_items"]
    assert (body["offset"], [i["id"] for i in body["items"]]) == (2, ["really-changed", "space-only"])


def _query_count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_query_count_does_not_grow_with_the_number_of_items(versions):
    small = _query_count(versions["ds"], URL)
    ds = versions["ds"]
    many: list[dict[str, Any]] = [
        {"id": f"x{i:04d}", "input": str(i), "tags": [f"t{i % 7}"]} for i in range(PAGE_SIZE * 3)
    ]
    assert ds.post("/api/v1/datasets/", {"name": "big"}, format="json").status_code == 201
    assert ds.post("/api/v1/datasets/big/versions/", {"file": jsonl_file(many)}, format="multipart").status_code == 201
    _upload_predictions(ds, "new", {row["id"]: f"out {i}" for i, row in enumerate(many)}, dataset="big")
    _upload_predictions(ds, "old", {row["id"]: f"out {i // 2 * 2}" for i, row in enumerate(many)}, dataset="big")
    url = "/api/v1/models/m/versions/new/diff/?dataset=big&dataset_version=1"
    body = ds.get(url).json()
    assert (body["identical"], body["changed"], body["missing"]) == (PAGE_SIZE * 3 // 2, PAGE_SIZE * 3 // 2, 0)
    assert len(body["changed_items"]["items"]) == PAGE_SIZE and body["changed_items"]["next_offset"] == PAGE_SIZE
    assert _query_count(ds, url) == small
