"""Ingest at scale: CSV, hostile input refused fast and precisely, progress, all-or-nothing, recovery."""

import os
import time
import tracemalloc
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from datasets.models import DatasetVersion, Item, Upload
from datasets.readers import MAX_LINE_BYTES
from models_app.models import Prediction
from tests.factories import jsonl


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def dataset(api):
    assert api["ds"].post("/api/v1/datasets/", {"name": "qa"}, format="json").status_code == 201
    return "qa"


@pytest.fixture
def tiny_sync_limit(settings):
    settings.SIGNOFF_SYNC_UPLOAD_MAX_BYTES = 10


def post_version(client, content: bytes, name: str = "data.jsonl"):
    file = SimpleUploadedFile(name, content, content_type="application/octet-stream")
    return client.post("/api/v1/datasets/qa/versions/", {"file": file}, format="multipart")


def post_predictions(client, content: bytes, name: str = "preds.jsonl"):
    file = SimpleUploadedFile(name, content, content_type="application/octet-stream")
    return client.post(
        "/api/v1/models/m/versions/1/predictions/",
        {"dataset": "qa", "dataset_version": 1, "file": file},
        format="multipart",
    )


@pytest.fixture
def model_on_dataset(api, dataset):
    ds = api["ds"]
    assert post_version(ds, jsonl([{"id": f"q{i}", "input": f"question {i}"} for i in range(3)])).status_code == 201
    assert ds.post("/api/v1/models/", {"name": "m"}, format="json").status_code == 201
    assert ds.post("/api/v1/models/m/versions/", {"version": "1"}, format="json").status_code == 201


def first_error(response) -> dict:
    body = response.json()
    assert set(body) == {"message", "code", "extra"} and body["code"] == "invalid_upload", body
    return body["extra"]["errors"][0]


# --- CSV ---------------------------------------------------------------------------------------------------


def test_csv_dataset_maps_header_names_to_fields(api, dataset):
    content = (
        b"id,input.question,input.context,tags,reference:json\n"
        b'a,"What is 2+2?","maths, easy",arith|easy,\n'
        b'b,"Line one\nline two",,,"{""x"": [1, 2]}"\n'
    )
    response = post_version(api["ds"], content, "items.csv")
    assert response.status_code == 201, response.json()
    items = {item.external_id: item for item in Item.objects.all()}
    assert items["a"].input == {"question": "What is 2+2?", "context": "maths, easy"}
    assert items["a"].tags == ["arith", "easy"] and items["a"].reference is None
    assert items["b"].input == {"question": "Line one\nline two"}  # a quoted cell may span lines
    assert items["b"].reference == {"x": [1, 2]}


def test_csv_errors_name_the_line_and_column(api, dataset):
    content = b"id,input,reference:json\na,x,1\nb,y,{not json\nc,z\n"
    response = post_version(api["ds"], content, "items.csv")
    assert response.status_code == 400
    errors = response.json()["extra"]["errors"]
    assert (errors[0]["line"], errors[0]["column"], errors[0]["field"]) == (3, 3, "reference")
    assert errors[1]["line"] == 4 and "has 2 cells; the header has 3" in errors[1]["message"]
    assert DatasetVersion.objects.count() == 0


def test_csv_with_an_unknown_column_is_refused_at_the_header(api, dataset):
    response = post_version(api["ds"], b"id,inptu\na,x\n", "items.csv")
    assert response.status_code == 400
    error = first_error(response)
    assert (error["line"], error["column"]) == (1, 2) and "'inptu' is not a known field" in error["message"]


def test_csv_predictions_with_score(api, model_on_dataset):
    response = post_predictions(api["ds"], b"id,output,score\nq0,yes,0.9\nq1,no,\nq2,maybe,0.1\n", "preds.csv")
    assert response.status_code == 201, response.json()
    scores = dict(Prediction.objects.values_list("item__external_id", "score"))
    assert scores == {"q0": 0.9, "q1": None, "q2": 0.1}
    assert Prediction.objects.get(item__external_id="q1").output == "no"


# --- errors found by the database, with their lines -------------------------------------------------------


def test_prediction_errors_from_parsing_and_from_the_database_come_together_by_line(api, model_on_dataset):
    content = jsonl(
        [
            {"id": "q0", "output": "ok"},
            {"id": "nope", "output": "x"},
            {"id": "q1", "output": ""},
            {"id": "q0", "output": "again"},
            {"id": "q2", "output": "fine"},
        ]
    )
    response = post_predictions(api["ds"], content)
    assert response.status_code == 400
    errors = [(e["line"], e["field"], e["message"]) for e in response.json()["extra"]["errors"]]
    assert errors == [
        (2, "id", "no item 'nope' in qa v1"),
        (3, "output", "is required: a non-empty string or object"),
        (4, "id", "duplicates id 'q0' from line 1"),
    ]
    assert response.json()["extra"]["total"] == 3 and Prediction.objects.count() == 0


def test_more_than_a_hundred_errors_report_the_first_hundred_and_the_total(api, dataset):
    rows = [{"id": "same", "input": "x"} for _ in range(150)] + [{"id": f"u{i}"} for i in range(30)]
    response = post_version(api["ds"], jsonl(rows))
    body = response.json()
    assert response.status_code == 400
    assert body["extra"]["total"] == 149 + 30 and len(body["extra"]["errors"]) == 100
    assert [e["line"] for e in body["extra"]["errors"]] == list(range(2, 102))


# --- hostile input ------------------------------------------------------------------------------------------


def test_random_bytes_are_refused_at_once_even_when_large(api, dataset, tiny_sync_limit):
    content = os.urandom(8 * 1024 * 1024)
    started = time.monotonic()
    response = post_version(api["ds"], content, "data.jsonl")
    assert response.status_code == 400 and time.monotonic() - started < 10
    assert "binary data" in response.json()["message"] or "not UTF-8" in response.json()["message"]
    assert Upload.objects.count() == 0  # nothing queued


def test_utf16_file_is_refused_with_its_encoding_named(api, dataset):
    response = post_version(api["ds"], '{"id": "a", "input": "x"}\n'.encode("utf-16"))
    assert response.status_code == 400 and "UTF-16 encoded; save it as UTF-8" in response.json()["message"]


def test_latin1_bytes_name_line_and_column(api, dataset):
    content = (
        jsonl([{"id": f"i{n}", "input": "x"} for n in range(5000)]) + b'{"id": "b", "input": "caf\xe9"}\n'
    )  # past the sniffed head
    response = post_version(api["ds"], content)
    error = first_error(response)
    assert (error["line"], error["column"]) == (5001, 26) and "0xe9" in error["message"]


def test_deeply_nested_json_is_a_line_error(api, dataset):
    content = b'{"id": "a", "input": "x"}\n{"id": "b", "input": ' + b"[" * 5000 + b"]" * 5000 + b"}\n"
    error = first_error(post_version(api["ds"], content))
    assert error["line"] == 2 and "nested more than 1024 levels deep" in error["message"]


def test_a_line_past_the_limit_is_refused_without_reading_it_into_memory(tmp_path):
    from core.errors import ApplicationError
    from datasets.services.ingest import ITEM_FIELDS, upload_precheck

    path = tmp_path / "huge.jsonl"
    with open(path, "wb") as out:  # a 100 MB single line
        out.write(b'{"id": "a", "input": "')
        for _ in range(100):
            out.write(b"x" * 1024 * 1024)
        out.write(b'"}\n')
    tracemalloc.start()
    started = time.monotonic()
    try:
        with open(path, "rb") as file, pytest.raises(ApplicationError) as raised:
            upload_precheck(file=file, fields=ITEM_FIELDS, filename="huge.jsonl")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 10
    assert raised.value.extra["errors"][0]["line"] == 1 and "longer than the limit of 16 MB" in raised.value.message
    # bounded by the line limit (readline joins its pieces: twice that at worst), not by the file's 100 MB
    assert peak < 2 * MAX_LINE_BYTES + 4 * 1024 * 1024


def test_a_line_past_the_limit_is_a_400_through_the_api(api, dataset, tiny_sync_limit):
    huge = b'{"id": "a", "input": "x"}\n{"id": "b", "input": "' + b"x" * (MAX_LINE_BYTES + 1024) + b'"}\n'
    response = post_version(api["ds"], huge)
    assert response.status_code == 202  # the first line is fine: the worker reads the rest
    from datasets import tasks

    tasks.ingest_dataset_upload(Upload.objects.get().pk)
    upload_error = Upload.objects.get().error
    assert upload_error is not None
    error = upload_error["extra"]["errors"][0]
    assert error["line"] == 2 and "longer than the limit" in error["message"] and Item.objects.count() == 0


def test_nul_characters_cannot_reach_the_database(api, dataset):
    error = first_error(post_version(api["ds"], b'{"id": "a", "input": "bad\\u0000byte"}\n'))
    assert (error["line"], error["field"]) == (1, "input") and "NUL" in error["message"]


def test_text_that_is_not_jsonl_at_all_stops_after_a_thousand_lines(api, dataset):
    content = b"this is, plainly, not json\n" * 50_000
    body = post_version(api["ds"], content).json()
    assert body["extra"]["total"] == 1001
    assert "is this JSONL?" in body["extra"]["errors"][-1]["message"] or body["extra"]["total"] == 1001


# --- background: progress, all-or-nothing, recovery -----------------------------------------------------


def test_status_reports_progress_with_rows_pace_and_time_left(api, dataset, tiny_sync_limit):
    from datasets.selectors import upload_progress

    response = post_version(api["ds"], jsonl([{"id": f"i{n}", "input": "x"} for n in range(10)]))
    assert response.status_code == 202
    upload = Upload.objects.get()
    now = timezone.now()
    Upload.objects.filter(pk=upload.pk).update(
        status=Upload.Status.PROCESSING,
        phase="reading",
        rows_done=400,
        bytes_done=upload.bytes_total // 4,
        started_at=now - timedelta(seconds=2),
    )
    progress = upload_progress(Upload.objects.get(), now=now)
    assert progress["phase"] == "reading" and progress["rows"] == 400 and progress["rows_per_second"] == 200.0
    assert progress["fraction"] == pytest.approx(0.25, abs=0.01)
    assert progress["seconds_left"] == pytest.approx(6.0, abs=0.3)  # a quarter in two seconds: six to go
    body = api["ds"].get(response.json()["status_url"]).json()
    assert body["progress"]["rows"] == 400 and body["progress"]["bytes_total"] == upload.bytes_total


def test_progress_is_written_while_the_worker_reads(api, dataset, tiny_sync_limit):
    from datasets import tasks
    from datasets.services import ingest

    seen = []
    real_call = ingest.Progress.__call__

    def spy(self, phase, rows, bytes_done, force=False):
        real_call(self, phase, rows, bytes_done, force=True)
        seen.append(Upload.objects.values_list("phase", "rows_done").get())

    assert post_version(api["ds"], jsonl([{"id": f"i{n}", "input": "x"} for n in range(2500)])).status_code == 202
    # the staging path's progress; PostgreSQL's COPY path reports from outside its transaction (test_ingest_copy)
    with (
        mock.patch.object(ingest.Progress, "__call__", spy),
        mock.patch("datasets.services.datasets.dataset_version_copy", return_value=None),
    ):
        tasks.ingest_dataset_upload(Upload.objects.get().pk)
    assert ("reading", 1000) in seen and ("reading", 2000) in seen and ("saving", 2500) in seen
    assert Upload.objects.get().status == Upload.Status.READY and Item.objects.count() == 2500


def test_a_failure_while_publishing_leaves_no_version_no_rows_and_no_images(api, dataset, tiny_sync_limit, settings):
    from datasets import tasks
    from datasets.services import datasets as service
    from tests.factories import png_base64

    rows = [{"id": f"i{n}", "input": {"text": "t", "image": png_base64()}} for n in range(3)]
    assert post_version(api["ds"], jsonl(rows)).status_code == 202
    with (
        mock.patch.object(service.DatasetVersion.objects, "create", side_effect=RuntimeError("disk gone")),
        pytest.raises(RuntimeError),
    ):
        tasks.ingest_dataset_upload(Upload.objects.get().pk)
    assert DatasetVersion.objects.count() == 0 and Item.objects.count() == 0
    images_dir = os.path.join(settings.MEDIA_ROOT, "items")
    assert not os.path.exists(images_dir) or not any(files for _, _, files in os.walk(images_dir))
    assert Upload.objects.get().status == Upload.Status.FAILED


def test_an_upload_whose_worker_died_is_queued_again_then_given_up(api, dataset, tiny_sync_limit):
    from datasets import tasks
    from datasets.services.uploads import MAX_ATTEMPTS

    assert post_version(api["ds"], jsonl([{"id": "a", "input": "x"}])).status_code == 202
    upload = Upload.objects.get()
    long_ago = timezone.now() - timedelta(minutes=10)
    Upload.objects.filter(pk=upload.pk).update(status=Upload.Status.PROCESSING, heartbeat_at=long_ago, attempts=1)
    with mock.patch("datasets.upload_kinds.UploadKind.enqueue") as enqueue:
        assert tasks.requeue_stale_uploads() == 1
    enqueue.assert_called_once_with(upload.pk)
    assert Upload.objects.get().status == Upload.Status.QUEUED
    tasks.ingest_dataset_upload(upload.pk)  # the requeued message runs
    assert Upload.objects.get().status == Upload.Status.READY and Item.objects.count() == 1

    Upload.objects.filter(pk=upload.pk).update(
        status=Upload.Status.PROCESSING, heartbeat_at=long_ago, attempts=MAX_ATTEMPTS
    )
    assert tasks.requeue_stale_uploads() == 0
    error = Upload.objects.get().error
    assert error is not None and error["code"] == "worker_lost"


def test_a_live_upload_is_not_taken_from_its_worker(api, dataset, tiny_sync_limit):
    from datasets import tasks

    assert post_version(api["ds"], jsonl([{"id": "a", "input": "x"}])).status_code == 202
    Upload.objects.update(status=Upload.Status.PROCESSING, heartbeat_at=timezone.now())
    assert tasks.requeue_stale_uploads() == 0 and Upload.objects.get().status == Upload.Status.PROCESSING


def test_same_bytes_as_csv_and_again_return_the_same_version(api, dataset):
    content = b"id,input\na,x\nb,y\n"
    first, again = post_version(api["ds"], content, "i.csv"), post_version(api["ds"], content, "i.csv")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["version"] == first.json()["version"] == 1 and Item.objects.count() == 2


def test_gold_and_demo_still_ingest_from_memory(db, users):
    from datasets.services.datasets import dataset_create, dataset_version_ingest

    dataset = dataset_create(name="mem", created_by=users["ds"])
    version, created = dataset_version_ingest(
        dataset=dataset,
        file=ContentFile(b'{"id": "a", "input": "x"}\n', name="m.jsonl"),
        source_name="m.jsonl",
        created_by=users["ds"],
    )
    assert created and version.items.get().input == "x"
