"""Production logs through the shared upload machinery: small files answered within the request as before (201), larger
ones 202 with an upload to poll and read by the worker, resumable (tus) ones too; whole or nothing, with the line and
field of a bad line on the upload's status, and the same bytes one batch whichever way they came."""

import hashlib

import pytest

from datasets.models import Upload
from inspections import tasks
from inspections.models import LogBatch, ProductionLog
from tests.factories import jsonl
from tests.support.worker import celery_worker
from tests.test_inspections import logs, upload
from tests.test_inspections import tagger as tagger
from tests.test_operations import wait_for
from tests.test_resumable import create, patch

# ~240 KB: "big" once the sync limit is lowered below it. The media folder is the test settings' own (no tmp_path):
# a worker process reads it too, and every stored upload is deleted once read.
ROWS = logs(3000)
DEEP_BAD_LINE = 2712


@pytest.fixture
def small_sync_limit(settings):
    """Files over 1 KB go to the worker, as files over 5 MB do by default."""
    settings.SIGNOFF_SYNC_UPLOAD_MAX_BYTES = 1024


def bad_deep_down():
    rows = [dict(row) for row in ROWS]
    rows[DEEP_BAD_LINE - 1]["at"] = "last tuesday"
    return rows


def queued_upload_id() -> int:
    return Upload.objects.get(kind=Upload.Kind.LOG_BATCH, status=Upload.Status.QUEUED).pk


def test_a_small_file_is_still_read_within_the_request(api, tagger, small_sync_limit):
    response = upload(api["ds"], logs(3))  # ~250 bytes, under the limit
    assert response.status_code == 201 and response.json()["logs"] == 3
    assert set(response.json()) == {"batch", "sha256", "logs", "created_at"}
    assert not Upload.objects.exists()


def test_a_big_file_is_answered_202_and_the_worker_stores_it_whole(api, tagger, small_sync_limit):
    response = upload(api["ds"], ROWS)
    assert response.status_code == 202, response.json()
    status_url = response.json()["status_url"]
    assert response["Location"] == status_url and not ProductionLog.objects.exists()
    assert api["ds"].get(status_url).json()["status"] == "queued"

    tasks.ingest_log_upload(queued_upload_id())

    status = api["ds"].get(status_url).json()
    assert status["status"] == "ready" and status["error"] is None and status["kind"] == "log_batch"
    assert status["target"] == {"model": "tagger", "version": "1"}
    batch = LogBatch.objects.get()
    assert status["result"]["batch"] == batch.pk and status["result"]["logs"] == len(ROWS) == batch.log_count
    assert status["result"]["sha256"] == hashlib.sha256(jsonl(ROWS)).hexdigest()
    assert status["progress"]["rows"] == len(ROWS) and status["progress"]["fraction"] == 1
    assert ProductionLog.objects.filter(model_version=tagger).count() == len(ROWS)
    # lines without `at` are logged when the client sent them, not when the worker got to them
    sent = Upload.objects.get().created_at
    assert set(ProductionLog.objects.values_list("at", flat=True)) == {sent}


def test_a_bad_line_deep_in_a_big_file_stores_nothing_and_the_status_names_line_and_field(
    api, tagger, small_sync_limit
):
    response = upload(api["ds"], bad_deep_down())
    assert response.status_code == 202
    tasks.ingest_log_upload(queued_upload_id())
    status = api["ds"].get(response.json()["status_url"]).json()
    assert status["status"] == "failed" and status["result"] is None
    assert status["error"]["code"] == "invalid_upload"
    assert [(e["line"], e["field"]) for e in status["error"]["extra"]["errors"]] == [(DEEP_BAD_LINE, "at")]
    assert status["error"]["message"].startswith(f"logs.jsonl line {DEEP_BAD_LINE}, field 'at'")
    assert not LogBatch.objects.exists() and not ProductionLog.objects.exists()


def test_the_same_bytes_are_one_batch_whichever_path_they_take(api, tagger, settings):
    first = upload(api["ds"], ROWS)  # under the default 5 MB: within the request
    assert first.status_code == 201
    settings.SIGNOFF_SYNC_UPLOAD_MAX_BYTES = 1024
    again = upload(api["ds"], ROWS)  # now over the limit: the worker finds the batch these bytes made
    assert again.status_code == 202
    tasks.ingest_log_upload(queued_upload_id())
    assert api["ds"].get(again.json()["status_url"]).json()["result"] == first.json()
    settings.SIGNOFF_SYNC_UPLOAD_MAX_BYTES = 5 * 1024 * 1024
    assert upload(api["ds"], ROWS).json() == first.json()
    assert LogBatch.objects.count() == 1 and ProductionLog.objects.count() == len(ROWS)


def test_a_log_file_can_be_sent_resumably(api, tagger, django_capture_on_commit_callbacks):
    content = jsonl(ROWS)
    response = create(api["ds"], length=len(content), kind="log_batch", model="tagger", version="1", filename="p.jsonl")
    assert response.status_code == 201, response.json()
    url, half = response["Location"], len(content) // 2
    assert patch(api["ds"], url, 0, content[:half]).status_code == 204
    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        assert patch(api["ds"], url, half, content[half:]).status_code == 204
    assert len(enqueued) == 1  # the ingest is queued once the last byte is in
    tasks.ingest_log_upload(Upload.objects.get(kind=Upload.Kind.LOG_BATCH).pk)
    assert LogBatch.objects.get().log_count == len(ROWS) and LogBatch.objects.get().source_name == "p.jsonl"


def test_a_resumable_log_upload_names_a_version_that_exists(api, tagger):
    response = create(api["ds"], kind="log_batch", model="tagger", version="9", filename="p.jsonl")
    assert response.status_code == 404 and response.json()["code"] == "model_version_not_found"


def test_reviewers_cannot_send_logs_the_big_way_either(api, tagger, small_sync_limit):
    assert upload(api["reviewer"], ROWS).status_code == 403
    assert create(api["reviewer"], kind="log_batch", model="tagger", version="1").status_code == 403
    assert not Upload.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_reads_big_uploads_whole_or_not_at_all(api, tagger, small_sync_limit):
    good, bad = upload(api["ds"], ROWS), upload(api["ds"], bad_deep_down())
    assert good.status_code == bad.status_code == 202
    with celery_worker() as worker:

        def finished(response):
            status = api["ds"].get(response.json()["status_url"]).json()
            return status if status["status"] in ("ready", "failed") else None

        for response in (good, bad):
            wait_for(lambda r=response: finished(r), timeout=60, message=lambda: "".join(worker.log[-40:]))
    good_status, bad_status = finished(good), finished(bad)
    assert good_status["status"] == "ready" and good_status["result"]["logs"] == len(ROWS)
    assert bad_status["status"] == "failed"
    assert bad_status["error"]["extra"]["errors"][0]["line"] == DEEP_BAD_LINE
    assert LogBatch.objects.get().pk == good_status["result"]["batch"]
    assert ProductionLog.objects.count() == len(ROWS)
