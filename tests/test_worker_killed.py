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
    settings.SIGNOFF_SYNC_UPLOAD_MAX_BYTES = 1024
    ds = api["ds"]
    assert ds.post("/api/v1/datasets/", {"name": "big"}, format="json").status_code == 201
    content = jsonl([{"id": f"item-{n:07d}", "input": f"question number {n}"} for n in range(ROWS)])
    response = ds.post("/api/v1/datasets/big/versions/", {"file": SimpleUploadedFile("big.jsonl", content)}, format="multipart")
    assert response.status_code == 202
    upload_id = Upload.objects.get().pk

    with celery_worker() as worker:
        wait_for(lambda: Upload.objects.filter(pk=upload_id, status=Upload.Status.PROCESSING, rows_done__gte=20_000).exists())
        worker.kill()  # SIGKILL: no cleanup, no rollback from the worker's side
        worker.wait(timeout=20)
    upload = Upload.objects.get(pk=upload_id)
    assert upload.status == Upload.Status.PROCESSING and 0 < upload.rows_done < ROWS
    assert DatasetVersion.objects.count() == 0 and Item.objects.count() == 0  # nothing half-written

    from datasets import tasks

    Upload.objects.filter(pk=upload_id).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    with celery_worker():
        assert tasks.requeue_stale_uploads() == 1  # beat's sweep hands it to the new worker
        wait_for(lambda: Upload.objects.filter(pk=upload_id, status=Upload.Status.READY).exists())
    upload = Upload.objects.get(pk=upload_id)
    assert upload.attempts == 2 and upload.result["items"] == ROWS
    assert DatasetVersion.objects.get().item_count == ROWS == Item.objects.count()
