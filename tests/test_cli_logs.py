"""`signoff push logs`, run as a real subprocess against a live server and a real worker, as a CI job would run it:
a small file in one request, a big one in resumable chunks read by the worker, the same bytes again, a bad line."""

import json
import os
import subprocess
import sys

import pytest
from knox.models import AuthToken

from inspections.models import LogBatch, ProductionLog
from models_app.models import ModelVersion
from tests.factories import jsonl
from tests.support.worker import celery_worker
from tests.test_cli import REPO_ROOT
from tests.test_inspections import logs

# The CLI talks to the live server in another thread: test data must be committed for it to see any.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def push_logs(live_server, users, api, tmp_path):
    ds = api["ds"]
    assert ds.post("/api/v1/models/", {"name": "tagger"}, format="json").status_code == 201
    assert ds.post("/api/v1/models/tagger/versions/", {"version": "1"}, format="json").status_code == 201
    env = {
        **os.environ,
        "SIGNOFF_URL": live_server.url,
        "SIGNOFF_TOKEN": AuthToken.objects.create(user=users["ds"], expiry=None)[1],
        "SIGNOFF_RESUMABLE_ABOVE_BYTES": "4096",  # the big file below goes in tus chunks
        "SIGNOFF_CHUNK_BYTES": str(64 * 1024),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }

    def run(name, rows, *flags):
        path = tmp_path / name
        path.write_bytes(jsonl(rows))
        command = [sys.executable, "-m", "signoff_cli.main", "push", "logs", "tagger", "1", str(path), *flags]
        # the exit code is what the test asserts: no check
        return subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)

    return run


def test_push_logs_small_and_big_once_per_content_and_a_bad_line_named(push_logs, settings):
    settings.SIGNOFF_SYNC_UPLOAD_MAX_BYTES = 4096  # what the live server answers 202 above
    small = push_logs("small.jsonl", logs(3))
    assert small.returncode == 0, small.stderr
    assert small.stdout.startswith("model tagger version 1: 3 production logs (batch ")

    big_rows = logs(3000, start=100)
    bad_rows = logs(3000, start=10_000)
    bad_rows[2499]["output"] = ""
    with celery_worker():
        big = push_logs("big.jsonl", big_rows, "--json")
        again = push_logs("big.jsonl", big_rows, "--json")
        bad = push_logs("bad.jsonl", bad_rows)
    assert big.returncode == 0, big.stderr
    assert "sending: " in big.stderr and f"ingested: {len(big_rows):,} rows" in big.stderr
    assert json.loads(big.stdout)["logs"] == len(big_rows)
    assert again.returncode == 0 and json.loads(again.stdout) == json.loads(big.stdout)  # one batch per content
    assert bad.returncode == 3
    assert "bad.jsonl line 2500, field output: is required" in bad.stderr
    version = ModelVersion.objects.get(version="1")
    assert sorted(LogBatch.objects.filter(model_version=version).values_list("log_count", flat=True)) == [3, 3000]
    assert ProductionLog.objects.count() == 3003
