"""Upload contracts: datasets and versions, predictions, precise line/field errors, and the background path."""

import base64
import hashlib
import io
import struct
from unittest import mock

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from datasets.models import DatasetVersion, Item, Upload
from models_app.models import Prediction, PredictionSet
from tests.factories import jsonl, jsonl_file, png_base64

ITEMS = [{"id": f"q{i}", "input": f"question {i}", "reference": str(i), "tags": ["t"]} for i in range(3)]


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    """Uploaded files land in a per-test folder, not in var/."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


def raw_file(content: bytes, name: str = "data.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/jsonl")


def assert_error_shape(body: dict) -> None:
    assert set(body) == {"message", "code", "extra"}, body


@pytest.fixture
def dataset(api):
    response = api["ds"].post("/api/v1/datasets/", {"name": "qa"}, format="json")
    assert response.status_code == 201, response.json()
    return "qa"


def upload_version(client, content: bytes, dataset: str = "qa", name: str = "data.jsonl"):
    return client.post(f"/api/v1/datasets/{dataset}/versions/", {"file": raw_file(content, name)}, format="multipart")


@pytest.fixture
def model_on_dataset(api, dataset):
    """A dataset version of three items and a registered model version 'm:1' with no predictions yet."""
    ds = api["ds"]
    assert upload_version(ds, jsonl(ITEMS)).status_code == 201
    assert ds.post("/api/v1/models/", {"name": "m"}, format="json").status_code == 201
    assert ds.post("/api/v1/models/m/versions/", {"version": "1"}, format="json").status_code == 201


def upload_predictions(client, content: bytes, model: str = "m", version: str = "1"):
    return client.post(
        f"/api/v1/models/{model}/versions/{version}/predictions/",
        {"dataset": "qa", "dataset_version": 1, "file": raw_file(content, "preds.jsonl")},
        format="multipart",
    )


# --- datasets ---------------------------------------------------------------------------------------------


def test_dataset_create_answers_201_with_the_dataset(api):
    response = api["ds"].post("/api/v1/datasets/", {"name": "qa", "description": "questions"}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == "qa" and response.json()["description"] == "questions"
    assert response.json()["versions"] == []


def test_second_dataset_with_the_same_name_is_a_conflict(api, dataset):
    response = api["ds"].post("/api/v1/datasets/", {"name": "qa"}, format="json")
    assert response.status_code == 409
    assert_error_shape(response.json())
    assert response.json()["code"] == "dataset_exists"


def test_dataset_name_must_be_a_slug(api):
    response = api["ds"].post("/api/v1/datasets/", {"name": "not a slug!"}, format="json")
    assert response.status_code == 400
    assert_error_shape(response.json())
    assert "name" in response.json()["extra"]["fields"]


def test_version_upload_answers_version_hash_and_item_count(api, dataset):
    content = jsonl(ITEMS)
    response = upload_version(api["ds"], content)
    assert response.status_code == 201
    assert response.json() == {"version": 1, "sha256": hashlib.sha256(content).hexdigest(), "items": 3}
    version = DatasetVersion.objects.get(dataset__name="qa", number=1)
    assert list(version.items.values_list("external_id", flat=True)) == ["q0", "q1", "q2"]
    assert version.items.get(external_id="q1").reference == "1"


def test_same_bytes_uploaded_again_return_the_existing_version(api, dataset):
    first = upload_version(api["ds"], jsonl(ITEMS))
    again = upload_version(api["ds"], jsonl(ITEMS), name="renamed.jsonl")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert DatasetVersion.objects.count() == 1 and Item.objects.count() == 3


def test_different_content_makes_the_next_version_number(api, dataset):
    upload_version(api["ds"], jsonl(ITEMS))
    response = upload_version(api["ds"], jsonl(ITEMS[:2]))
    assert response.status_code == 201
    assert response.json()["version"] == 2 and response.json()["items"] == 2


def _png_with_broken_checksum() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buffer, format="PNG")
    data = buffer.getvalue()
    idat = data.index(b"IDAT")
    (length,) = struct.unpack(">I", data[idat - 4 : idat])
    crc = idat + 4 + length
    return base64.b64encode(data[:crc] + b"\0\0\0\0" + data[crc + 4 :]).decode()


GOOD = b'{"id": "a", "input": "x"}\n{"id": "b", "input": "y"}\n'
BAD_UPLOADS = {
    "invalid_json_on_line_3": (GOOD + b'{"id": "c", "input": \n', 3, None, "not valid JSON"),
    "missing_id": (b'{"id": "a", "input": "x"}\n{"input": "no id here"}\n', 2, "id", "is required"),
    "duplicate_id": (GOOD + b'{"id": "a", "input": "again"}\n', 3, "id", "duplicates id 'a'"),
    "tags_not_a_list": (GOOD + b'{"id": "c", "input": "z", "tags": "red"}\n', 3, "tags", "list of non-empty strings"),
    "empty_tag": (b'{"id": "a", "input": "x", "tags": ["ok", ""]}\n', 1, "tags", "list of non-empty strings"),
    "missing_input": (GOOD + b'{"id": "c"}\n', 3, "input", "is required"),
    "not_an_object": (GOOD + b'["a", "list"]\n', 3, None, "must be a JSON object"),
    "base64_that_is_not_an_image": (
        GOOD
        + jsonl([{"id": "c", "input": {"text": "t", "image": base64.b64encode(b"plain text, no pixels").decode()}}]),
        3,
        "input.image",
        "not a readable PNG or JPEG",
    ),
    "image_that_is_not_base64": (
        GOOD + jsonl([{"id": "c", "input": {"image": "***not base64***"}}]),
        3,
        "input.image",
        "not valid base64",
    ),
    # A PNG whose pixel-data checksum is broken: Pillow's verify() raises SyntaxError, which must not become a 500.
    "png_with_broken_checksum": (
        GOOD + jsonl([{"id": "c", "input": {"image": _png_with_broken_checksum()}}]),
        3,
        "input.image",
        "not a readable",
    ),
}


@pytest.mark.parametrize("content, line, field, words", BAD_UPLOADS.values(), ids=BAD_UPLOADS.keys())
def test_bad_upload_names_line_and_field_and_stores_nothing(api, dataset, content, line, field, words):
    response = upload_version(api["ds"], content)
    assert response.status_code == 400
    body = response.json()
    assert_error_shape(body)
    assert body["code"] == "invalid_upload"
    assert f"data.jsonl line {line}" in body["message"]
    if field:
        assert f"field '{field}'" in body["message"]
    assert body["extra"]["file"] == "data.jsonl"
    first = body["extra"]["errors"][0]
    assert (first["line"], first["field"]) == (line, field)
    assert words in first["message"]
    assert DatasetVersion.objects.count() == 0 and Item.objects.count() == 0


def test_every_bad_line_is_reported_not_only_the_first(api, dataset):
    content = b'{"id": "a", "input": "x"}\nnot json\n{"input": "y"}\n{"id": "a", "input": "z"}\n'
    body = upload_version(api["ds"], content).json()
    assert [(e["line"], e["field"]) for e in body["extra"]["errors"]] == [(2, None), (3, "id"), (4, "id")]
    assert body["extra"]["total"] == 3
    assert "(and 2 more errors)" in body["message"]


def test_empty_upload_is_refused(api, dataset):
    response = upload_version(api["ds"], b"\n\n")
    assert response.status_code == 400
    assert "holds no rows" in response.json()["message"]
    assert DatasetVersion.objects.count() == 0


def test_valid_png_image_is_stored_with_its_item(api, dataset):
    content = jsonl(
        [
            {"id": "img", "input": {"text": "what colour?", "image": png_base64()}},
            {"id": "data-url", "input": {"image": "data:image/png;base64," + png_base64((0, 0, 255))}},
        ]
    )
    response = upload_version(api["ds"], content)
    assert response.status_code == 201, response.json()
    item = Item.objects.get(external_id="img")
    image_name = item.image.name
    assert image_name and image_name.endswith(".png")
    assert item.input == {"text": "what colour?"}  # the image bytes are not kept inside the JSON
    assert default_storage.exists(image_name)
    with default_storage.open(image_name) as stored, Image.open(stored) as image:
        assert image.format == "PNG" and image.size == (8, 8)
    assert Item.objects.get(external_id="data-url").image


def test_refused_upload_leaves_no_image_file_behind(api, dataset, tmp_path):
    content = jsonl([{"id": "img", "input": {"image": png_base64()}}, {"id": "img", "input": "duplicate"}])
    assert upload_version(api["ds"], content).status_code == 400
    items_dir = tmp_path / "media" / "items"
    assert not items_dir.exists() or not any(items_dir.rglob("*.png"))


def test_version_upload_to_an_unknown_dataset_is_404(api):
    response = upload_version(api["ds"], jsonl(ITEMS), dataset="nope")
    assert response.status_code == 404
    assert response.json()["code"] == "dataset_not_found"


# --- predictions ------------------------------------------------------------------------------------------


def test_predictions_upload_creates_a_prediction_set(api, model_on_dataset):
    content = jsonl([{"id": f"q{i}", "output": f"answer {i}", "score": 0.5} for i in range(3)])
    response = upload_predictions(api["ds"], content)
    assert response.status_code == 201, response.json()
    assert response.json()["predictions"] == 3 and response.json()["sha256"] == hashlib.sha256(content).hexdigest()
    assert Prediction.objects.get(item__external_id="q2").output == "answer 2"


def test_predictions_report_unknown_and_duplicate_item_ids_with_their_lines(api, model_on_dataset):
    content = jsonl(
        [
            {"id": "q0", "output": "a"},
            {"id": "nope", "output": "b"},
            {"id": "q0", "output": "c"},
            {"id": "q1", "output": "d", "score": "high"},
        ]
    )
    response = upload_predictions(api["ds"], content)
    assert response.status_code == 400
    body = response.json()
    assert_error_shape(body)
    errors = [(e["line"], e["field"]) for e in body["extra"]["errors"]]
    assert errors == [(2, "id"), (3, "id"), (4, "score")]
    assert "'nope'" in body["extra"]["errors"][0]["message"]
    assert "duplicates" in body["extra"]["errors"][1]["message"]
    assert "preds.jsonl line 2, field 'id'" in body["message"]
    assert PredictionSet.objects.count() == 0 and Prediction.objects.count() == 0


def test_identical_predictions_again_are_idempotent_and_different_ones_conflict(api, model_on_dataset):
    content = jsonl([{"id": f"q{i}", "output": f"answer {i}"} for i in range(3)])
    first = upload_predictions(api["ds"], content)
    again = upload_predictions(api["ds"], content)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    different = upload_predictions(api["ds"], jsonl([{"id": f"q{i}", "output": "other"} for i in range(3)]))
    assert different.status_code == 409
    assert_error_shape(different.json())
    assert different.json()["code"] == "prediction_set_exists"
    assert PredictionSet.objects.count() == 1 and Prediction.objects.count() == 3


def test_predictions_for_an_unknown_dataset_version_are_404(api, model_on_dataset):
    response = api["ds"].post(
        "/api/v1/models/m/versions/1/predictions/",
        {"dataset": "qa", "dataset_version": 9, "file": jsonl_file([{"id": "q0", "output": "a"}])},
        format="multipart",
    )
    assert response.status_code == 404
    assert response.json()["code"] == "dataset_version_not_found"


# --- large uploads go to the worker ----------------------------------------------------------------------


@pytest.fixture
def tiny_sync_limit(settings):
    settings.SIGNOFF_SYNC_UPLOAD_MAX_BYTES = 10


def test_large_dataset_upload_is_accepted_then_ingested_by_the_worker(
    api, dataset, tiny_sync_limit, django_capture_on_commit_callbacks
):
    from datasets import tasks

    content = jsonl(ITEMS)
    with (
        mock.patch.object(tasks.ingest_dataset_upload, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = upload_version(api["ds"], content)
    assert response.status_code == 202
    status_url = response.json()["status_url"]
    assert response.json() == {"status_url": status_url} and response["Location"] == status_url
    upload = Upload.objects.get()
    delay.assert_called_once_with(upload.pk)  # enqueued once the upload row was committed
    assert DatasetVersion.objects.count() == 0
    assert api["ds"].get(status_url).json()["status"] == "queued"

    tasks.ingest_dataset_upload(upload.pk)

    status = api["ds"].get(status_url).json()
    assert status["status"] == "ready" and status["error"] is None
    assert status["result"] == {"version": 1, "sha256": hashlib.sha256(content).hexdigest(), "items": 3}
    assert DatasetVersion.objects.get().item_count == 3 and Item.objects.count() == 3


def test_ingest_task_run_twice_ingests_once(api, dataset, tiny_sync_limit):
    from datasets import tasks

    upload_version(api["ds"], jsonl(ITEMS))
    upload = Upload.objects.get()
    tasks.ingest_dataset_upload(upload.pk)
    tasks.ingest_dataset_upload(upload.pk)  # a redelivered message finds the upload no longer queued
    assert DatasetVersion.objects.count() == 1
    assert Upload.objects.get().status == Upload.Status.READY


def test_bad_large_upload_ends_failed_with_its_errors_and_no_version(api, dataset, tiny_sync_limit):
    from datasets import tasks

    response = upload_version(api["ds"], GOOD + b'{"id": "a", "input": "dup"}\n')
    assert response.status_code == 202
    tasks.ingest_dataset_upload(Upload.objects.get().pk)
    status = api["ds"].get(response.json()["status_url"]).json()
    assert status["status"] == "failed" and status["result"] is None
    assert status["error"]["code"] == "invalid_upload"
    assert status["error"]["extra"]["errors"] == [
        {"line": 3, "column": None, "field": "id", "message": "duplicates id 'a' from line 1"}
    ]
    assert DatasetVersion.objects.count() == 0 and Item.objects.count() == 0


def test_large_predictions_upload_is_ingested_by_the_worker(api, model_on_dataset, tiny_sync_limit):
    from models_app import tasks

    response = upload_predictions(api["ds"], jsonl([{"id": f"q{i}", "output": "x"} for i in range(3)]))
    assert response.status_code == 202
    assert PredictionSet.objects.count() == 0
    tasks.ingest_prediction_upload(Upload.objects.get(kind=Upload.Kind.PREDICTION_SET).pk)
    status = api["ds"].get(response.json()["status_url"]).json()
    assert status["status"] == "ready" and status["result"]["predictions"] == 3
    assert PredictionSet.objects.get().prediction_count == 3


def test_upload_status_is_hidden_from_other_users_but_not_from_admins(api, dataset, tiny_sync_limit):
    status_url = upload_version(api["ds"], jsonl(ITEMS)).json()["status_url"]
    for role in ("approver", "reviewer"):
        response = api[role].get(status_url)
        assert response.status_code == 404 and response.json()["code"] == "upload_not_found"
    assert api["admin"].get(status_url).status_code == 200


def test_large_uploads_are_parsed_in_one_mebibyte_pieces(api, dataset, settings):
    """Django's 64 KiB pieces made the multipart parsing of a 134 MB upload take 0.4 s (bench/ingest.py)."""
    from django.core.files.uploadhandler import TemporaryFileUploadHandler

    settings.SIGNOFF_SYNC_UPLOAD_MAX_BYTES = 1024
    sizes, real = [], TemporaryFileUploadHandler.receive_data_chunk

    def spy(self, raw_data, start):
        sizes.append(len(raw_data))
        return real(self, raw_data, start)

    content = jsonl([{"id": f"i{n}", "input": "x" * 60} for n in range(60_000)])  # ~5 MB, written to disk
    with mock.patch.object(TemporaryFileUploadHandler, "receive_data_chunk", spy):
        response = api["ds"].post("/api/v1/datasets/qa/versions/", {"file": raw_file(content)}, format="multipart")
    assert response.status_code == 202
    assert sum(sizes) == len(content) and max(sizes) == 1024 * 1024 and len(sizes) <= len(content) // (1024 * 1024) + 2
