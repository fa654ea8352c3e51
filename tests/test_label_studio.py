"""Importing a Label Studio JSON export: items, prediction sets per model version, and a labeling campaign whose
judgments are the annotations; all or nothing, the same bytes once."""

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from core.models import User
from datasets.models import DatasetVersion, Item
from models_app.models import ModelVersion, Prediction, PredictionSet, RegisteredModel
from reviews.models import Assignment, Campaign, Judgment, Task

URL = "/api/v1/datasets/reviews-ls/imports/label-studio/"


def choices(*labels, control="sentiment"):
    return [{"from_name": control, "to_name": "text", "type": "choices", "value": {"choices": list(labels)}}]


def annotation(ann_id, by, *labels, cancelled=False, lead_time=12.5):
    return {
        "id": ann_id,
        "completed_by": by,
        "result": choices(*labels),
        "was_cancelled": cancelled,
        "lead_time": lead_time,
        "created_at": "2024-03-01T10:00:00.000000Z",
        "updated_at": "2024-03-01T10:00:00Z",
        "ground_truth": False,
    }


def prediction(version, *labels, score=0.8):
    return {"id": 1, "model_version": version, "score": score, "result": choices(*labels), "created_ago": "1 day"}


RITA = {"id": 1, "email": "Rita@Example.org", "first_name": "Rita", "last_name": ""}  # an existing reviewer

EXPORT: list[dict[str, Any]] = [
    {
        "id": 101,
        "data": {"text": "Loved every minute of it."},
        "meta": {},
        "annotations": [annotation(1, RITA, "Positive"), annotation(2, 2, "Positive")],
        "predictions": [prediction("v3", "Positive"), prediction("v2", "Negative", score=0.4)],
    },
    {
        "id": 102,
        "data": {"text": "Dull and far too long."},
        "annotations": [annotation(3, RITA, "Negative"), annotation(4, 2, "Neutral")],
        "predictions": [prediction("v3", "Negative"), prediction("v2", "Negative")],
    },
    {
        "id": 103,
        "data": {"text": "It was fine, I suppose."},
        "annotations": [annotation(5, 2, "Positive", cancelled=True), annotation(6, RITA, "Neutral")],
        "predictions": [prediction("v3", "Neutral")],
    },
    {
        "id": 104,
        "data": {"text": "Great cast, terrible plot."},
        "annotations": [annotation(7, RITA, "Positive", "Negative")],  # several choices: the campaign is multi-label
        "predictions": [prediction("v3", "Negative")],
    },
    {
        "id": 105,
        "data": {"text": "Would not watch again."},
        "annotations": [annotation(8, RITA, "Negative"), annotation(9, 2, "Negative")],
        "predictions": [prediction("v3", "Negative", score=0.95), prediction("v2", "Negative")],
    },
    {
        "id": 106,
        "data": {"text": "No opinion yet.", "lang": "en"},
        "annotations": [],
        "predictions": [
            prediction("v3", "Neutral"),
            {
                "model_version": "v2",
                "score": None,
                "result": [{"from_name": "summary", "to_name": "text", "type": "textarea", "value": {"text": ["meh"]}}],
            },
        ],
    },
]


def export_file(tasks, name="project-1-at-2024-03-01.json") -> SimpleUploadedFile:
    body = tasks if isinstance(tasks, bytes) else json.dumps(tasks, indent=1).encode()
    return SimpleUploadedFile(name, body, content_type="application/json")


@pytest.fixture
def dataset(api, users):
    users["reviewer"].email = "rita@example.org"
    users["reviewer"].save()
    assert api["ds"].post("/api/v1/datasets/", {"name": "reviews-ls"}, format="json").status_code == 201


def import_export(api, tasks=EXPORT, role="ds", **extra):
    return api[role].post(URL, {"file": export_file(tasks), **extra}, format="multipart")


def nothing_stored():
    return (
        not DatasetVersion.objects.exists()
        and not RegisteredModel.objects.exists()
        and not Campaign.objects.exists()
        and not User.objects.filter(username__startswith="ls-").exists()
    )


def test_export_becomes_items_prediction_sets_and_a_labeling_campaign(api, users, dataset):
    response = import_export(api)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] == 1 and body["items"] == 6
    assert sorted((s["model"], s["version"], s["predictions"]) for s in body["prediction_sets"]) == [
        ("label-studio", "v2", 4),
        ("label-studio", "v3", 6),
    ]
    assert body["judgments"] == 8  # the cancelled annotation is not one

    version = DatasetVersion.objects.get(dataset__name="reviews-ls")
    item = Item.objects.get(version=version, external_id="106")
    assert item.input == {"text": "No opinion yet.", "lang": "en"}
    outputs = dict(
        Prediction.objects.filter(prediction_set__model_version__version="v2").values_list(
            "item__external_id", "output"
        )
    )
    assert outputs["101"] == "Negative"
    assert outputs["106"] == EXPORT[5]["predictions"][1]["result"]  # not a choices result: kept raw
    assert Prediction.objects.get(prediction_set__model_version__version="v3", item__external_id="105").score == 0.95

    campaign = Campaign.objects.get(pk=body["campaign"])
    assert campaign.kind == "labeling" and campaign.candidate.version == "v3"  # v3 labelled most annotated tasks
    assert campaign.labels == ["Positive", "Negative", "Neutral"] and campaign.multi_label
    assert campaign.overlap == 2
    stand_in = User.objects.get(username="ls-2")
    assert not stand_in.is_active and not stand_in.has_usable_password() and stand_in.role == User.Role.REVIEWER
    assert not Client().login(username="ls-2", password="")
    per_reviewer = {
        u: Judgment.objects.filter(task__campaign=campaign, reviewer__username=u).count() for u in ("rev", "ls-2")
    }
    assert per_reviewer == {"rev": 5, "ls-2": 3}
    assert set(campaign.reviewers.values_list("username", flat=True)) == {"rev", "ls-2"}
    judgment = Judgment.objects.get(task__campaign=campaign, task__item__external_id="104")
    assert judgment.labels == ["Positive", "Negative"] and judgment.duration_ms == 12500
    # every annotated task is fully judged: nothing is left for the assignment engine to hand out
    assert Task.objects.filter(campaign=campaign).count() == 5
    assert all(t.assigned_count == t.capacity for t in Task.objects.filter(campaign=campaign))
    assert not Assignment.objects.filter(campaign=campaign).exclude(status="done").exists()

    results = api["ds"].get(f"/api/v1/campaigns/{campaign.pk}/results/")
    assert results.status_code == 200, results.json()
    data = results.json()
    assert data["judgments"] == 8 and "labeling" in data
    assert data["labeling"]["gold_items"] >= 3
    assert data["agreement"] is not None and data["agreement"]["metric"] == "nominal"


def test_single_choice_annotations_give_a_single_label_campaign_whose_results_compute(api, dataset):
    tasks = [
        dict(task, annotations=[a for a in task["annotations"] if len(a["result"][0]["value"]["choices"]) == 1])
        for task in EXPORT
    ]
    response = import_export(api, tasks, model="sentiment-bert")
    assert response.status_code == 201, response.json()
    campaign = Campaign.objects.get(pk=response.json()["campaign"])
    assert not campaign.multi_label and campaign.candidate.model.name == "sentiment-bert"
    results = api["approver"].get(f"/api/v1/campaigns/{campaign.pk}/results/")
    assert results.status_code == 200
    assert results.json()["labeling"]["confusion"]["labels"] == ["Positive", "Negative", "Neutral"]


def test_the_same_bytes_imported_again_return_what_the_first_import_made(api, dataset):
    first = import_export(api)
    assert first.status_code == 201
    again = import_export(api)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert DatasetVersion.objects.count() == 1 and PredictionSet.objects.count() == 2
    assert Campaign.objects.count() == 1 and Judgment.objects.count() == 8


def test_existing_model_and_versions_are_reused(api, users, dataset):
    model = RegisteredModel.objects.create(name="label-studio", created_by=users["ds"])
    ModelVersion.objects.create(model=model, version="v3", created_by=users["ds"])
    assert import_export(api).status_code == 201
    assert ModelVersion.objects.filter(model=model).count() == 2


def test_an_export_that_is_not_an_array_is_refused_and_stores_nothing(api, dataset):
    response = import_export(api, b'{"tasks": []}')
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_upload" and "JSON array" in body["message"]
    assert nothing_stored()


def test_a_broken_export_names_each_task_and_field_and_stores_nothing(api, dataset):
    broken = [
        EXPORT[0],
        {"data": {"text": "no id"}, "annotations": [], "predictions": []},
        dict(EXPORT[1], annotations=[{"completed_by": 2, "result": [{"value": "Positive"}]}]),
        dict(EXPORT[2], predictions=[{"model_version": "v3", "result": "Positive"}]),
    ]
    response = import_export(api, broken)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_upload" and body["extra"]["total"] == 3
    errors = {(e["line"], e["field"]): e["message"] for e in body["extra"]["errors"]}
    assert "task #2 (no id)" in errors[(2, "id")]
    assert errors[(3, "annotations[0].result[0]")].startswith("task 102: is not a Label Studio result")
    assert errors[(4, "predictions[0].result")].startswith("task 103: must be a list")
    assert nothing_stored()


def test_a_task_id_repeated_is_reported_with_the_first_position(api, dataset):
    response = import_export(api, [EXPORT[0], EXPORT[1], dict(EXPORT[2], id=101)])
    assert response.status_code == 400
    assert response.json()["extra"]["errors"] == [
        {"line": 3, "column": None, "field": "id", "message": "duplicates id '101' from line 1"}
    ]
    assert nothing_stored()


def test_a_failure_while_publishing_leaves_nothing_behind(api, users, dataset):
    # two Label Studio accounts with the same email are one Signoff reviewer: their judgments would collide
    twin = {"id": 7, "email": "rita@example.org"}
    tasks = [dict(EXPORT[0], annotations=[annotation(1, RITA, "Positive"), annotation(2, twin, "Negative")]), EXPORT[5]]
    response = import_export(api, tasks)
    assert response.status_code == 409 and response.json()["code"] == "annotators_merge"
    assert nothing_stored()


def test_annotations_without_any_prediction_are_refused(api, dataset):
    tasks = [dict(task, predictions=[]) for task in EXPORT]
    response = import_export(api, tasks)
    assert response.status_code == 400 and response.json()["code"] == "campaign_needs_predictions"
    assert nothing_stored()


def test_an_export_without_annotations_makes_no_campaign(api, dataset):
    response = import_export(api, [dict(task, annotations=[]) for task in EXPORT])
    assert response.status_code == 201
    assert response.json()["campaign"] is None and response.json()["judgments"] == 0
    assert not Campaign.objects.exists()


@pytest.mark.parametrize("role", ["reviewer", "approver"])
def test_only_data_scientists_may_import(api, dataset, role):
    assert import_export(api, role=role).status_code == 403
    assert nothing_stored()


def test_a_truncated_export_names_the_task_it_stopped_in_and_stores_nothing(api, dataset):
    body = json.dumps(EXPORT).encode()
    response = import_export(api, body[: len(body) - 40])
    assert response.status_code == 400
    error = response.json()["extra"]["errors"][-1]
    assert error["line"] == 6 and "task #6 is not valid JSON" in error["message"]
    assert nothing_stored()


def test_an_empty_array_holds_no_tasks(api, dataset):
    response = import_export(api, b"[]")
    assert response.status_code == 400 and "holds no tasks" in response.json()["message"]
