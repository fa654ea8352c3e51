"""A worker killed with SIGKILL in the middle of an ingest leaves nothing behind; the upload is retried whole."""

import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from datasets.models import DatasetVersion, Item, Upload
from tests.factories import jsonl
from tests.support.worker import celery_worker

pytestmark = pytest.mark.django_db(transaction=True)
ROWS = 300_000


def wait_for(condition, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_sigkill_mid_ingest_leaves_no_rows_and_the_retry_lands_everything(api, settings):
    from django.db import connection

    settings.SIGNOFF_SYNC_UPLOAD_MAX_BYTES = 1024
    rows = 2 * ROWS if connection.vendor == "postgresql" else ROWS  # PostgreSQL's COPY path reads ~3x faster
    ds = api["ds"]
    assert ds.post("/api/v1/datasets/", {"name": "big"}, format="json").status_code == 201
    content = jsonl([{"id": f"item-{n:07d}", "input": f"question number {n}"} for n in range(rows)])
    response = ds.post(
        "/api/v1/datasets/big/versions/", {"file": SimpleUploadedFile("big.jsonl", content)}, format="multipart"
    )
    assert response.status_code == 202
    upload_id = Upload.objects.get().pk

    with celery_worker() as worker:
        # the first progress report: on PostgreSQL the items are being COPYed, on SQLite staged
        wait_for(lambda: Upload.objects.filter(pk=upload_id, status=Upload.Status.PROCESSING, rows_done__gt=0).exists())
        worker.kill()  # SIGKILL: no cleanup, no rollback from the worker's side
        worker.wait(timeout=20)
    upload = Upload.objects.get(pk=upload_id)
    assert upload.status == Upload.Status.PROCESSING and 0 < upload.rows_done < rows
    assert DatasetVersion.objects.count() == 0 and Item.objects.count() == 0  # nothing half-written

    from datasets import tasks

    Upload.objects.filter(pk=upload_id).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    with celery_worker():
        assert tasks.requeue_stale_uploads() == 1  # beat's sweep hands it to the new worker
        wait_for(lambda: Upload.objects.filter(pk=upload_id, status=Upload.Status.READY).exists())
    upload = Upload.objects.get(pk=upload_id)
    assert upload.attempts == 2 and upload.result is not None and upload.result["items"] == rows
    assert DatasetVersion.objects.get().item_count == rows == Item.objects.count()


PREDICTION_ROWS = 600_000


def test_sigkill_mid_copy_of_predictions_leaves_no_set_and_the_retry_lands_everything(api, settings):
    """PostgreSQL COPYs predictions straight into their table inside one transaction: the killed worker's
    connection ends, and the database rolls all of it back."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the COPY path is PostgreSQL's; SQLite stages in a TEMP table, as the test above proves")
    from models_app.models import Prediction, PredictionSet

    settings.SIGNOFF_SYNC_UPLOAD_MAX_BYTES = 1024
    ds = api["ds"]
    assert ds.post("/api/v1/datasets/", {"name": "big"}, format="json").status_code == 201
    small = SimpleUploadedFile("seed.jsonl", jsonl([{"id": "seed", "input": "x"}]))
    assert ds.post("/api/v1/datasets/big/versions/", {"file": small}, format="multipart").status_code == 201
    version = DatasetVersion.objects.get()
    with connection.cursor() as cursor:  # a large version, written directly: this test is about the predictions
        cursor.execute(
            "INSERT INTO datasets_item (version_id, external_id, input, reference, tags, image, thumbnail) "
            "SELECT %s, 'item-' || n, '\"q\"', NULL, '[]', '', '' FROM generate_series(1, %s) n",
            [version.pk, PREDICTION_ROWS - 1],
        )
        cursor.execute("ANALYZE datasets_item")
    DatasetVersion.objects.filter(pk=version.pk).update(item_count=PREDICTION_ROWS)
    assert ds.post("/api/v1/models/", {"name": "m"}, format="json").status_code == 201
    assert ds.post("/api/v1/models/m/versions/", {"version": "1"}, format="json").status_code == 201
    rows = [{"id": "seed", "output": "s"}] + [
        {"id": f"item-{n}", "output": {"a": n}} for n in range(1, PREDICTION_ROWS)
    ]
    response = ds.post(
        "/api/v1/models/m/versions/1/predictions/",
        {"dataset": "big", "dataset_version": 1, "file": SimpleUploadedFile("p.jsonl", jsonl(rows))},
        format="multipart",
    )
    assert response.status_code == 202
    upload_id = Upload.objects.get(kind="prediction_set").pk

    with celery_worker() as worker:
        # rows_done moves only through Progress's own connection: the COPY's transaction is still open
        wait_for(lambda: Upload.objects.filter(pk=upload_id, rows_done__gt=0).exists(), timeout=120)
        worker.kill()
        worker.wait(timeout=20)
    upload = Upload.objects.get(pk=upload_id)
    assert upload.status == Upload.Status.PROCESSING and 0 < upload.rows_done < PREDICTION_ROWS
    assert PredictionSet.objects.count() == 0 and Prediction.objects.count() == 0

    Upload.objects.filter(pk=upload_id).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    from datasets import tasks as dataset_tasks

    with celery_worker():
        assert dataset_tasks.requeue_stale_uploads() == 1
        wait_for(lambda: Upload.objects.filter(pk=upload_id, status=Upload.Status.READY).exists())
    assert Upload.objects.get(pk=upload_id).attempts == 2
    assert PredictionSet.objects.get().prediction_count == PREDICTION_ROWS == Prediction.objects.count()
