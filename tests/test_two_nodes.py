"""Two nodes on one PostgreSQL, one Redis and one S3 endpoint: two gunicorn web servers (production settings) on
different ports and two Celery workers with different hostnames. A resumable upload begun on node 1 finishes on
node 2; reviewers spread over both nodes never get one task twice; a worker killed with SIGKILL while it ingests
loses nothing, the other worker lands the upload once. PostgreSQL and Redis only (CI's second run)."""

import base64
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack

import pytest
import urllib3
from django.conf import settings
from knox.models import AuthToken

from core.models import User
from datasets.models import DatasetVersion, Upload, UploadPart
from reviews.models import Judgment
from tests.factories import UserFactory, jsonl
from tests.support.s3 import media_files
from tests.support.web import wait_until_serving, web_nodes
from tests.support.worker import celery_workers

pytestmark = [
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
        or not settings.CELERY_BROKER_URL.startswith("redis://"),
        reason="two nodes share PostgreSQL and Redis; the embedded default (SQLite, a broker folder) is one machine",
    ),
    pytest.mark.django_db(transaction=True),
]

BIG_ROWS = 150_000  # ~6 MB: long enough for the kill to land while the worker reads it
CHUNK = 1024 * 1024
ITEMS = 12
OVERLAP = 2
REVIEWERS = 8

http = urllib3.PoolManager(maxsize=REVIEWERS)


def call(node, token: str, method: str, path: str, **kwargs) -> urllib3.BaseHTTPResponse:
    headers = {"Authorization": f"Token {token}", **kwargs.pop("headers", {})}
    return http.request(method, f"{node.url}{path}", headers=headers, retries=False, timeout=60, **kwargs)


def wait_for(condition, timeout: float = 60, message: str | Callable[[], str] = "timed out"):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, message() if callable(message) else message
        time.sleep(0.02)
    return value


def received(line: str) -> bool:
    """Celery's log line for a message a worker took: `Task datasets.tasks.ingest_dataset_upload[<id>] received`."""
    return "ingest_dataset_upload[" in line and line.rstrip().endswith("received")


def tus_create(node, token: str, length: int, dataset: str) -> str:
    meta = {"kind": "dataset_version", "dataset": dataset, "filename": "big.jsonl"}
    header = ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in meta.items())
    headers = {"Tus-Resumable": "1.0.0", "Upload-Length": str(length), "Upload-Metadata": header}
    response = call(node, token, "POST", "/api/v1/uploads/", headers=headers)
    assert response.status == 201, response.data
    return response.headers["Location"]


def tus_send(node, token: str, url: str, content: bytes, start: int, end: int) -> int:
    path = url.split("://", 1)[-1].split("/", 1)[-1]  # Location is absolute: the same path on the other node
    offset = start
    while offset < end:
        headers = {
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        }
        chunk = content[offset : min(offset + CHUNK, end)]
        response = call(node, token, "PATCH", f"/{path}", body=chunk, headers=headers)
        assert response.status == 204, response.data
        offset = int(response.headers["Upload-Offset"])
    return offset


@pytest.fixture
def cluster(s3_bucket):
    """Two web nodes and two workers, started side by side (each import of Django costs seconds)."""
    shared = {"SIGNOFF_STORAGE_URL": s3_bucket.storage_url, "MEDIA_ROOT": settings.MEDIA_ROOT}
    with ExitStack() as stack:
        nodes = stack.enter_context(web_nodes(2, **shared))
        workers = stack.enter_context(celery_workers("worker1@node1", "worker2@node2", **shared))
        for node in nodes:
            wait_until_serving(node)
        yield nodes, workers


def test_two_nodes_share_uploads_tasks_and_background_work(cluster, s3_bucket, settings):
    (node1, node2), workers = cluster
    ds = UserFactory.create(username="dana", role=User.Role.DATA_SCIENTIST)
    token = AuthToken.objects.create(user=ds, expiry=None)[1]
    for name in ("big", "qa"):
        assert call(node1, token, "POST", "/api/v1/datasets/", json={"name": name}).status == 201

    # (a) A resumable upload: created and half sent on node 1, the rest sent to node 2.
    content = jsonl([{"id": f"item-{n:07d}", "input": f"question number {n}"} for n in range(BIG_ROWS)])
    url = tus_create(node1, token, len(content), "big")
    half = len(content) // 2
    assert tus_send(node1, token, url, content, 0, half) == half
    assert tus_send(node2, token, url, content, half, len(content)) == len(content)
    upload = Upload.objects.get()
    assert UploadPart.objects.filter(upload=upload).count() >= 2
    assert s3_bucket.object_keys(f"uploads/resumable/{upload.pk}/")  # the parts are in the bucket, nowhere else

    # (c) The worker that took the ingest is killed mid-read; beat's sweep gives it to the other one.
    wait_for(lambda: Upload.objects.filter(pk=upload.pk, status=Upload.Status.PROCESSING).exists())
    holder = wait_for(
        lambda: next((w for w in workers if any(received(line) for line in w.log)), None),
        message="no worker logged the ingest",
    )
    holder.kill()
    holder.wait(timeout=20)
    assert Upload.objects.get(pk=upload.pk).status == Upload.Status.PROCESSING, "killed too late: it had finished"
    assert not DatasetVersion.objects.filter(dataset__name="big").exists()
    settings.SIGNOFF_UPLOAD_STALE_SECONDS = 1
    from datasets import tasks

    wait_for(tasks.requeue_stale_uploads, timeout=30)  # what beat runs every minute: the heartbeat went silent
    survivor = next(w for w in workers if w is not holder)
    wait_for(
        lambda: Upload.objects.filter(pk=upload.pk, status__in=[Upload.Status.READY, Upload.Status.FAILED]).exists(),
        message=lambda: "survivor's log:\n" + "".join(survivor.log),
    )
    landed = Upload.objects.get(pk=upload.pk)
    assert landed.status == Upload.Status.READY and landed.attempts == 2, landed.error
    assert DatasetVersion.objects.get(dataset__name="big").item_count == BIG_ROWS  # once, whole
    wait_for(  # and it was the other worker that did it
        lambda: any("ingest_dataset_upload[" in line and "succeeded" in line for line in survivor.log),
        timeout=10,
        message=lambda: "survivor's log:\n" + "".join(survivor.log),
    )
    assert s3_bucket.object_keys("uploads/") == []  # the parts went once read

    # (b) Eight reviewers, four on each node, judge a campaign with overlap 2 until nothing is left.
    items = jsonl([{"id": f"q{n}", "input": f"question {n}"} for n in range(ITEMS)])
    response = call(node2, token, "POST", "/api/v1/datasets/qa/versions/", fields={"file": ("qa.jsonl", items)})
    assert response.status == 201, response.data
    for node, version in ((node1, "1"), (node2, "2")):
        if version == "1":
            assert call(node, token, "POST", "/api/v1/models/", json={"name": "m"}).status == 201
        assert call(node, token, "POST", "/api/v1/models/m/versions/", json={"version": version}).status == 201
        predictions = jsonl([{"id": f"q{n}", "output": f"answer {n} by {version}"} for n in range(ITEMS)])
        response = call(
            node,
            token,
            "POST",
            f"/api/v1/models/m/versions/{version}/predictions/",
            fields={"dataset": "qa", "dataset_version": "1", "file": ("p.jsonl", predictions)},
        )
        assert response.status == 201, response.data
    reviewers = [UserFactory.create(username=f"rev{n}", role=User.Role.REVIEWER) for n in range(REVIEWERS)]
    campaign = call(
        node1,
        token,
        "POST",
        "/api/v1/campaigns/",
        json={
            "name": "two nodes",
            "kind": "pairwise",
            "dataset": "qa",
            "dataset_version": 1,
            "candidate": "m:2",
            "baseline": "m:1",
            "reviewers": [r.username for r in reviewers],
            "overlap": OVERLAP,
            "gate": {"min_judgments": ITEMS * OVERLAP, "min_win_rate": 0.5, "stop_when_decided": False},
        },
    )
    assert campaign.status == 201, campaign.data
    campaign_id = campaign.json()["id"]
    handed: list[tuple[int, str]] = []
    nodes_used: set[str] = set()
    failures: list[str] = []

    def review(node, reviewer: User, reviewer_token: str) -> None:  # no ORM here: a thread would open a connection
        while True:
            task = call(node, reviewer_token, "GET", f"/api/v1/campaigns/{campaign_id}/next/")
            if task.status == 204:
                return
            if task.status != 200:
                failures.append(f"next: {task.status} {task.data[:200]!r}")
                return
            task_id = task.json()["task"]
            handed.append((task_id, reviewer.username))
            nodes_used.add(node.url)
            judged = call(node, reviewer_token, "POST", f"/api/v1/tasks/{task_id}/judgments/", json={"choice": "A"})
            if judged.status != 201:
                failures.append(f"judge: {judged.status} {judged.data[:200]!r}")
                return

    threads = [
        threading.Thread(
            target=review, args=(node1 if n % 2 else node2, reviewer, AuthToken.objects.create(user=reviewer)[1])
        )
        for n, reviewer in enumerate(reviewers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert len(handed) == len(set(handed)) == ITEMS * OVERLAP  # no reviewer got one task twice
    assert set(Counter(task for task, _ in handed).values()) == {OVERLAP}  # no task beyond the overlap
    judgments = Judgment.objects.filter(task__campaign_id=campaign_id)
    assert judgments.count() == ITEMS * OVERLAP
    assert set(Counter(judgments.values_list("task_id", flat=True)).values()) == {OVERLAP}
    assert nodes_used == {node1.url, node2.url}
    http.clear()  # no keep-alive connection holds a node's shutdown
    assert media_files(settings.MEDIA_ROOT) == []  # no node wrote to its disk
