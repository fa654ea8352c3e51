"""Importing Label Studio exports as Label Studio 1.23.2 really writes them (tests/fixtures/label_studio/, with how
each was made in its README): items, prediction sets per model version, and a labeling campaign whose judgments are
the annotations; or, without predictions, a labeled dataset version. All or nothing, the same bytes once.

The three files are Label Studio's own. The variants without a file of their own are derived from them here, each
derivation in the function that makes it, following what Label Studio's exporter and converter write."""

import copy
import csv
import io
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import strategies as st

from core.models import User
from datasets.models import DatasetVersion, Item
from models_app.models import Prediction, PredictionSet, RegisteredModel
from reviews.models import Assignment, Campaign, Judgment, LabelStudioImportRecord, Task
from reviews.services.label_studio_flat import majority

URL = "/api/v1/datasets/reviews-ls/imports/label-studio/"
FIXTURES = Path(__file__).parent / "fixtures" / "label_studio"
ANNOTATOR_EMAIL = "annotator@example.com"  # the e-mail the snapshot's expanded completed_by carries


def real(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


EXPORT = real("export.json")  # 20 annotated tasks; predictions as ids; completed_by as an id
SNAPSHOT_FULL = real("export_snap_full.json")  # all 30 tasks; predictions and completed_by expanded
EXPORT_MIN = real("export_min.json")  # JSON_MIN: one flat record per annotation


def all_tasks_export() -> list[dict]:
    """`download_all_tasks=true` (and a snapshot with default options, which also lists predictions and users by
    id): the JSON export's tasks plus the unannotated ones, which Label Studio writes in the same shape with
    `annotations: []` and their predictions as ids. Taken from the full snapshot's tasks 21-30."""
    unannotated = []
    for task in SNAPSHOT_FULL:
        if not task["annotations"]:
            listed = copy.deepcopy(task)
            listed["predictions"] = [p["id"] for p in task["predictions"]]
            unannotated.append(listed)
    return EXPORT + unannotated


def export_without_predictions() -> list[dict]:
    """A project with no predictions: Label Studio writes `predictions: []` and annotations whose `prediction` is
    empty (they did not start from one)."""
    tasks = copy.deepcopy(EXPORT)
    for task in tasks:
        task["predictions"] = []
        for annotation in task["annotations"]:
            annotation["prediction"] = {}
            annotation["parent_prediction"] = None
    return tasks


# JSON_MIN with several annotators: Label Studio's converter writes one record per annotation, a task's records one
# after another (newest first). Task 1: users 1, 2, 3 say positive, negative, negative -> negative. Task 2: users 1
# and 2 say neutral and positive -> a tie, given to the first in sort order, neutral.
def min_with_several_annotators() -> list[dict]:
    records = []
    for record in EXPORT_MIN:
        task_id = record["id"]
        extra = {1: [(2, "negative"), (3, "negative")], 2: [(2, "positive")]}.get(task_id, [])
        for user, label in extra:
            records.append(dict(record, sentiment=label, annotator=user, annotation_id=100 + user * 10 + task_id))
        records.append(record)
    return records


def min_as_delimited(records: list[dict], delimiter: str) -> bytes:
    """Label Studio's CSV/TSV export (label_studio_sdk converter, exports/csv2.py) of the same annotations: the
    JSON_MIN record's keys as sorted columns, csv.QUOTE_NONNUMERIC, `,` or a tab; a value that is not text or a
    number (several choices: {"choices": [...]}) as JSON; a missing value is empty."""
    out = io.StringIO()
    keys = sorted({key for record in records for key in record})
    writer = csv.DictWriter(out, fieldnames=keys, quoting=csv.QUOTE_NONNUMERIC, delimiter=delimiter)
    writer.writeheader()
    for record in records:
        writer.writerow(
            {k: "" if v is None else json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in record.items()}
        )
    return out.getvalue().encode()


def export_file(tasks, name="project-1-at-2026-12-06-11-07.json") -> SimpleUploadedFile:
    body = tasks if isinstance(tasks, bytes) else json.dumps(tasks, indent=1).encode()
    return SimpleUploadedFile(name, body, content_type="application/json")


@pytest.fixture
def dataset(api, users):
    assert api["ds"].post("/api/v1/datasets/", {"name": "reviews-ls"}, format="json").status_code == 201


def import_export(api, tasks, role="ds", name="project-1-at-2026-12-06-11-07.json", **extra):
    return api[role].post(URL, {"file": export_file(tasks, name), **extra}, format="multipart")


def nothing_stored():
    return (
        not DatasetVersion.objects.exists()
        and not RegisteredModel.objects.exists()
        and not Campaign.objects.exists()
        and not User.objects.filter(username__startswith="ls-").exists()
    )


def annotated_labels(tasks) -> dict[str, str]:
    return {str(t["id"]): t["annotations"][0]["result"][0]["value"]["choices"][0] for t in tasks if t["annotations"]}


def test_the_json_export_with_prediction_ids_imports_the_predictions_its_annotations_embed(api, dataset):
    response = import_export(api, EXPORT)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["items"] == 20 and body["judgments"] == 20 and body["format"] == "json"
    assert body["prediction_sets"] == [{"model": "label-studio", "version": "sent-v2", "predictions": 20}]
    assert body["tasks_without_prediction_content"] == 0 and body["references"] == 0 and body["notes"] == []
    first = EXPORT[0]["annotations"][0]["prediction"]
    stored = Prediction.objects.get(item__external_id="1")
    assert stored.output == first["result"][0]["value"]["choices"][0] and stored.score == first["score"]

    campaign = Campaign.objects.get(pk=body["campaign"])
    assert campaign.candidate.version == "sent-v2" and set(campaign.labels) == {"positive", "neutral", "negative"}
    judged = {j.task.item.external_id: j.labels for j in Judgment.objects.filter(task__campaign=campaign)}
    assert judged == {item: [label] for item, label in annotated_labels(EXPORT).items()}
    assert not Item.objects.filter(reference__isnull=False).exists()  # the annotations are judgments, not references
    # each judgment keeps its annotation's time: when it was made and how long it took
    for task in EXPORT:
        annotation = task["annotations"][0]
        judgment = Judgment.objects.get(task__item__external_id=str(task["id"]))
        assert judgment.created_at == datetime.fromisoformat(annotation["created_at"])
        assert judgment.duration_ms == round(annotation["lead_time"] * 1000)
    stand_in = User.objects.get(username="ls-1")  # completed_by is an id here: no e-mail to match
    assert not stand_in.is_active and not stand_in.has_usable_password() and stand_in.role == User.Role.REVIEWER
    assert not Client().login(username="ls-1", password="")
    assert all(t.assigned_count == t.capacity for t in Task.objects.filter(campaign=campaign))
    assert not Assignment.objects.filter(campaign=campaign).exclude(status="done").exists()
    results = api["ds"].get(f"/api/v1/campaigns/{campaign.pk}/results/")
    assert results.status_code == 200 and results.json()["judgments"] == 20


def test_the_full_snapshot_maps_its_annotator_to_the_reviewer_with_that_email(api, users, dataset):
    users["reviewer"].email = ANNOTATOR_EMAIL.upper()  # e-mails match whatever their case
    users["reviewer"].save()
    response = import_export(api, SNAPSHOT_FULL, instance="ls.example.org")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["items"] == 30 and body["judgments"] == 20 and body["instance"] == "ls.example.org"
    assert body["prediction_sets"][0]["predictions"] == 30 and body["tasks_without_prediction_content"] == 0
    campaign = Campaign.objects.get(pk=body["campaign"])
    assert set(Judgment.objects.filter(task__campaign=campaign).values_list("reviewer__username", flat=True)) == {"rev"}
    assert not User.objects.filter(username__startswith="ls-").exists()
    judged = {j.task.item.external_id: j.labels[0] for j in Judgment.objects.filter(task__campaign=campaign)}
    assert judged == annotated_labels(SNAPSHOT_FULL)


def test_a_snapshot_with_users_expanded_and_predictions_as_ids_reads_both(api, users, dataset):
    # serialization_options annotations__completed_by.only_id = false alone: the full snapshot with each task's
    # predictions back to ids (the annotations still embed theirs)
    tasks = copy.deepcopy(SNAPSHOT_FULL)
    for task in tasks:
        task["predictions"] = [p["id"] for p in task["predictions"]]
    users["reviewer"].email = ANNOTATOR_EMAIL
    users["reviewer"].save()
    response = import_export(api, tasks)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["judgments"] == 20 and body["prediction_sets"][0]["predictions"] == 20
    assert body["tasks_without_prediction_content"] == 10  # tasks 21-30: not annotated, nothing embedded
    assert set(Judgment.objects.values_list("reviewer__username", flat=True)) == {"rev"}


def test_all_tasks_with_prediction_ids_say_how_many_had_no_prediction_and_where_it_is(api, dataset):
    response = import_export(api, all_tasks_export())
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["items"] == 30 and body["judgments"] == 20
    assert body["prediction_sets"][0]["predictions"] == 20  # only the embedded copies
    assert body["tasks_without_prediction_content"] == 10
    assert "predictions.only_id = false" in body["notes"][0] and body["notes"][0].startswith("10 task(s)")
    assert not Item.objects.filter(external_id="25").get().reference


def test_an_export_without_predictions_becomes_a_labeled_dataset_version(api, dataset):
    response = import_export(api, export_without_predictions())
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["campaign"] is None and body["judgments"] == 0 and body["prediction_sets"] == []
    assert body["references"] == 20 and body["reference_ties"] == {"total": 0, "items": []}
    assert "No labeling campaign" in body["notes"][0]
    references = dict(Item.objects.values_list("external_id", "reference"))
    assert references == annotated_labels(EXPORT)
    assert not Campaign.objects.exists() and not User.objects.filter(username__startswith="ls-").exists()


def test_json_min_needs_its_choices_control_named(api, dataset):
    response = import_export(api, EXPORT_MIN)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "control_required" and body["extra"]["field"] == "control"
    assert "sentiment" in body["message"] and "text" in body["message"]
    assert nothing_stored()


def test_json_min_becomes_items_whose_reference_is_the_annotation(api, dataset):
    response = import_export(api, EXPORT_MIN, control="sentiment")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["format"] == "json_min" and body["items"] == 20 and body["references"] == 20
    assert body["campaign"] is None and body["prediction_sets"] == [] and not Campaign.objects.exists()
    item = Item.objects.get(external_id="1")
    assert item.input == {"text": EXPORT_MIN[0]["text"]} and item.reference == EXPORT_MIN[0]["sentiment"]
    assert dict(Item.objects.values_list("external_id", "reference")) == annotated_labels(EXPORT)


def test_several_annotators_give_the_majority_and_ties_are_broken_by_sort_order_and_reported(api, dataset):
    response = import_export(api, min_with_several_annotators(), control="sentiment")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["items"] == 20
    assert body["reference_ties"] == {
        "total": 1,
        "items": [{"id": "2", "labels": ["neutral", "positive"], "chosen": "neutral"}],
    }
    assert Item.objects.get(external_id="1").reference == "negative"  # two of three, over user 1's positive
    assert Item.objects.get(external_id="2").reference == "neutral"
    assert "1 tie(s)" in body["notes"][0]


@pytest.mark.parametrize(("delimiter", "name", "fmt"), [(",", "export.csv", "csv"), ("\t", "export.tsv", "tsv")])
def test_csv_and_tsv_exports_import_as_json_min_does(api, dataset, delimiter, name, fmt):
    records = min_with_several_annotators()
    records[-1]["sentiment"] = {"choices": ["positive", "neutral"]}  # task 20's annotation: two choices
    response = import_export(api, min_as_delimited(records, delimiter), name=name, control="sentiment")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["format"] == fmt and body["items"] == 20 and body["reference_ties"]["total"] == 1
    assert Item.objects.get(external_id="1").reference == "negative"
    assert Item.objects.get(external_id="20").reference == ["neutral", "positive"]
    assert Item.objects.get(external_id="3").input == {"text": EXPORT_MIN[2]["text"]}


def test_json_min_of_all_tasks_keeps_unannotated_tasks_without_reference(api, dataset):
    # download_all_tasks=true in JSON_MIN: an unannotated task is one record of its data and id, its annotator
    # and times None (the converter's get_data(task, {}, {}))
    extra = [
        {"text": t["data"]["text"], "id": t["id"], "annotator": None, "annotation_id": None, "created_at": None}
        | {"updated_at": None, "lead_time": None}
        for t in SNAPSHOT_FULL
        if not t["annotations"]
    ]
    response = import_export(api, EXPORT_MIN + extra, control="sentiment")
    assert response.status_code == 201, response.json()
    assert response.json()["items"] == 30 and response.json()["references"] == 20
    assert Item.objects.get(external_id="30").reference is None


def test_a_multi_choice_record_in_json_min_is_a_label_set(api, dataset):
    # several choices: the converter writes {"choices": [...]} under the control's name
    records = copy.deepcopy(EXPORT_MIN)
    records[0]["sentiment"] = {"choices": ["positive", "neutral"]}
    response = import_export(api, records, control="sentiment")
    assert response.status_code == 201, response.json()
    assert Item.objects.get(external_id="1").reference == ["neutral", "positive"]


def test_a_broken_json_min_record_is_named_and_nothing_is_stored(api, dataset):
    records = copy.deepcopy(EXPORT_MIN)
    records[3]["sentiment"] = 7
    del records[5]["id"]
    response = import_export(api, records, control="sentiment")
    assert response.status_code == 400
    errors = {(e["line"], e["field"]): e["message"] for e in response.json()["extra"]["errors"]}
    assert errors[(4, "sentiment")].startswith("record #4: sentiment must be a label")
    assert errors[(6, "id")].startswith("record #6: id")
    assert nothing_stored()


def test_a_control_no_record_has_is_refused(api, dataset):
    response = import_export(api, EXPORT_MIN, control="mood")
    assert response.status_code == 400
    assert "no record has a column 'mood'" in response.json()["extra"]["errors"][0]["message"]
    assert nothing_stored()


def test_stand_ins_are_namespaced_per_label_studio_instance(api, users, dataset):
    assert api["ds"].post("/api/v1/datasets/", {"name": "other-ls"}, format="json").status_code == 201
    assert import_export(api, EXPORT, instance="ls-a.example.org").status_code == 201
    other = api["ds"].post(
        "/api/v1/datasets/other-ls/imports/label-studio/",
        {"file": export_file(EXPORT), "instance": "ls-b.example.org"},
        format="multipart",
    )
    assert other.status_code == 201, other.json()
    reviewers = {c.pk: set(c.reviewers.values_list("username", flat=True)) for c in Campaign.objects.all()}
    assert sorted(map(sorted, reviewers.values())) == [["ls-ls-a.example.org-1"], ["ls-ls-b.example.org-1"]]
    assert User.objects.get(username="ls-ls-b.example.org-1").last_name == "annotator 1 of ls-b.example.org"


def test_an_instance_that_cannot_be_part_of_a_username_is_refused(api, dataset):
    response = import_export(api, EXPORT, instance="ls a/b")
    assert response.status_code == 400 and "instance" in json.dumps(response.json())
    assert nothing_stored()


def test_the_same_bytes_imported_again_return_what_the_first_import_made(api, dataset):
    for tasks, extra in [(all_tasks_export(), {}), (min_with_several_annotators(), {"control": "sentiment"})]:
        first = import_export(api, tasks, **extra)
        assert first.status_code == 201
        again = import_export(api, tasks, **extra)
        assert again.status_code == 200 and again.json() == first.json()
    assert DatasetVersion.objects.count() == 2 and PredictionSet.objects.count() == 1
    assert Campaign.objects.count() == 1 and Judgment.objects.count() == 20


def test_an_import_made_before_imports_were_recorded_answers_as_it_did(api, dataset):
    first = import_export(api, SNAPSHOT_FULL).json()
    LabelStudioImportRecord.objects.all().delete()  # as an import made before migration 0010 left it
    again = import_export(api, SNAPSHOT_FULL)
    assert again.status_code == 200
    body = again.json()
    assert body["campaign"] == first["campaign"] and body["judgments"] == 20 and body["format"] == ""
    assert body["reference_ties"] == {"total": 0, "items": []} and body["notes"] == []


def test_a_broken_export_names_each_task_and_field_and_stores_nothing(api, dataset):
    broken = copy.deepcopy(EXPORT[:4])
    del broken[1]["id"]
    broken[2]["annotations"][0]["result"] = [{"value": "positive"}]
    broken[3]["predictions"] = ["sent-v2"]
    response = import_export(api, broken)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_upload" and body["extra"]["total"] == 3
    errors = {(e["line"], e["field"]): e["message"] for e in body["extra"]["errors"]}
    assert "task #2 (no id)" in errors[(2, "id")]
    assert errors[(3, "annotations[0].result[0]")].startswith("task 3: is not a Label Studio result")
    assert errors[(4, "predictions[0]")] == "task 4: must be a prediction object or a prediction id"
    assert nothing_stored()


def test_a_task_id_repeated_is_reported_with_the_first_position(api, dataset):
    response = import_export(api, [EXPORT[0], EXPORT[1], dict(EXPORT[2], id=1)])
    assert response.status_code == 400
    assert response.json()["extra"]["errors"] == [
        {"line": 3, "column": None, "field": "id", "message": "duplicates id '1' from line 1"}
    ]
    assert nothing_stored()


def test_a_failure_while_publishing_leaves_nothing_behind(api, users, dataset):
    # a second Label Studio account with the same e-mail annotating task 1: both would be one Signoff reviewer
    users["reviewer"].email = ANNOTATOR_EMAIL
    users["reviewer"].save()
    tasks = copy.deepcopy(SNAPSHOT_FULL)
    twin = copy.deepcopy(tasks[0]["annotations"][0])
    twin["id"], twin["completed_by"] = 99, {"id": 7, "email": ANNOTATOR_EMAIL, "first_name": "", "last_name": ""}
    tasks[0]["annotations"].append(twin)
    response = import_export(api, tasks)
    assert response.status_code == 409 and response.json()["code"] == "annotators_merge"
    assert nothing_stored()


@pytest.mark.parametrize("role", ["reviewer", "approver"])
def test_only_data_scientists_may_import(api, dataset, role):
    assert import_export(api, EXPORT, role=role).status_code == 403
    assert nothing_stored()


def test_an_export_that_is_neither_json_array_nor_csv_is_refused_and_stores_nothing(api, dataset):
    response = import_export(api, b'{"tasks": []}')
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_upload" and "JSON array" in body["message"] and "CSV/TSV" in body["message"]
    assert nothing_stored()


def test_a_truncated_export_names_the_task_it_stopped_in_and_stores_nothing(api, dataset):
    body = json.dumps(EXPORT[:6]).encode()
    response = import_export(api, body[: len(body) - 40])
    assert response.status_code == 400
    error = response.json()["extra"]["errors"][-1]
    assert error["line"] == 6 and "task #6 is not valid JSON" in error["message"]
    assert nothing_stored()


def test_an_empty_array_holds_no_tasks(api, dataset):
    response = import_export(api, b"[]")
    assert response.status_code == 400 and "holds no tasks" in response.json()["message"]


# --- the majority, as a pure function; and mangled real tasks -----------------------------------------------------

LABELS = st.sampled_from(["positive", "negative", "neutral"])


@hypothesis.given(st.lists(st.lists(LABELS, min_size=1, max_size=2), min_size=1, max_size=7), st.randoms())
def test_the_majority_is_the_most_chosen_label_whatever_the_order_of_annotations(label_sets, random):
    found = majority(label_sets)
    assert found is not None
    chosen, tied = found
    counts = Counter(tuple(sorted(set(labels))) for labels in label_sets)
    as_key = (chosen,) if isinstance(chosen, str) else tuple(chosen)
    top = [key for key, count in counts.items() if count == max(counts.values())]
    assert as_key == min(top)  # of the most chosen, the first in sort order
    assert len(tied) == (len(top) if len(top) > 1 else 0)
    shuffled = list(label_sets)
    random.shuffle(shuffled)
    assert majority(shuffled) == (chosen, tied)  # the same annotations, in any order, give the same reference


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
MANGLED = [
    ("predictions",),
    ("predictions", 0),
    ("annotations",),
    ("annotations", 0, "completed_by"),
    ("annotations", 0, "prediction"),
    ("annotations", 0, "prediction", "result"),
    ("annotations", 0, "lead_time"),
    ("annotations", 0, "created_at"),
    ("annotations", 0, "result"),
    ("annotations", 0, "result", 0, "value"),
    ("data",),
    ("id",),
]


@hypothesis.settings(
    max_examples=20, deadline=None, suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture]
)
@hypothesis.given(path=st.sampled_from(MANGLED), value=JSON_VALUES)
def test_a_mangled_real_task_is_imported_or_refused_in_words(api, dataset, path, value):
    tasks = copy.deepcopy(EXPORT[:3])
    target = tasks[1]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    response = import_export(api, tasks)
    assert response.status_code in (200, 201, 400), response.content
    if response.status_code == 400:
        assert response.json()["message"]


@hypothesis.settings(
    max_examples=20, deadline=None, suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture]
)
@hypothesis.given(key=st.sampled_from(["id", "sentiment", "text", "annotator", "lead_time"]), value=JSON_VALUES)
def test_a_mangled_json_min_record_is_imported_or_refused_in_words(api, dataset, key, value):
    records = copy.deepcopy(EXPORT_MIN[:3])
    records[1][key] = value
    response = import_export(api, records, control="sentiment")
    assert response.status_code in (200, 201, 400), response.content
    if response.status_code == 400:
        assert response.json()["message"]
