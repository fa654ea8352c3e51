"""Benchmark the server side of a resumable (tus) upload: N MB in 8 MB PATCHes (`signoff push`'s chunk) through
the API view and the default storage, on local disk or in an S3 bucket (moto's server on loopback).

    .venv/bin/python bench/resumable_upload.py [--storage local|s3|both] [--mb 100] [--runs 3]

Each run is a process of its own: a fresh SQLite database and MEDIA_ROOT in a temp dir, one data scientist, then
POST /api/v1/uploads/ and the PATCHes through Django's test client (in process: no network between client and
server, so the figure is what the server spends per byte). The last PATCH includes the file's check; the ingest
itself is the worker's and is not timed. Prints seconds and MB/s per run and the median. Figures: docs/deploy.md.
"""

import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 8 * 1024 * 1024


def one_run(megabytes: int) -> float:
    """In a fresh process whose environment names the storage: returns the seconds the upload took."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from knox.models import AuthToken

    from core.models import User

    call_command("migrate", verbosity=0)
    user = User.objects.create(username="bench", role=User.Role.DATA_SCIENTIST)
    token = AuthToken.objects.create(user=user, expiry=None)[1]
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.post("/api/v1/datasets/", {"name": "bench"}, content_type="application/json").status_code == 201
    line = b'{"id": "item-%09d", "input": "a question of some length, as a real dataset has"}\n'
    rows = megabytes * 1024 * 1024 // len(line % 0)
    content = b"".join(line % n for n in range(rows))
    meta = ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}"
        for key, value in {"kind": "dataset_version", "dataset": "bench", "filename": "b.jsonl"}.items()
    )
    started = time.perf_counter()
    created = client.post(
        "/api/v1/uploads/", HTTP_TUS_RESUMABLE="1.0.0", HTTP_UPLOAD_LENGTH=str(len(content)), HTTP_UPLOAD_METADATA=meta
    )
    url = created["Location"]
    for offset in range(0, len(content), CHUNK):
        response = client.generic(
            "PATCH",
            url,
            content[offset : offset + CHUNK],
            content_type="application/offset+octet-stream",
            HTTP_TUS_RESUMABLE="1.0.0",
            HTTP_UPLOAD_OFFSET=str(offset),
        )
        assert response.status_code == 204, response.content
    return time.perf_counter() - started


def run(storage: str, megabytes: int, storage_url: str) -> float:
    with tempfile.TemporaryDirectory() as var:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "testserver",  # the test client's host
            "SIGNOFF_VAR_DIR": var,
            "MEDIA_ROOT": f"{var}/media",
            "SIGNOFF_STORAGE_URL": storage_url if storage == "s3" else "",
        }
        env.pop("DATABASE_URL", None)
        env.pop("CELERY_BROKER_URL", None)
        out = subprocess.run(
            [sys.executable, __file__, "--one", "--mb", str(megabytes)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--storage", choices=["local", "s3", "both"], default="both")
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(one_run(args.mb))
        return
    sys.path.insert(0, str(ROOT))
    from tests.support.s3 import CREDENTIALS, moto_s3_server

    os.environ.update(CREDENTIALS)
    with moto_s3_server() as server:
        for storage in ("local", "s3") if args.storage == "both" else (args.storage,):
            url = server.new_bucket().storage_url
            times = [run(storage, args.mb, url) for _ in range(args.runs)]
            rates = ", ".join(f"{t:.2f} s ({args.mb / t:.0f} MB/s)" for t in times)
            print(f"{storage}: {args.mb} MB in 8 MB PATCHes: {rates}; median {statistics.median(times):.2f} s")


if __name__ == "__main__":
    main()
