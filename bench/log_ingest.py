"""Benchmark production-log uploads (inspections/): N lines through log_batch_ingest, then the streamed export.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/python bench/log_ingest.py [--lines 100000]
    DATABASE_URL=sqlite:////tmp/bench-logs.sqlite3 .venv/bin/python bench/log_ingest.py

Migrates the database DATABASE_URL names (config.settings.local), registers a fresh model version, writes a JSONL
file of N logs (`{"id", "input": {"text": ~60 chars}, "output", "tags": ["lang:.."], "at"}`) to a temp dir, and
times the ingest (the service the API view calls, in this process) and reading the export to its end; reports
lines per second and the growth of the process's peak RSS.

    .venv/bin/python bench/log_ingest.py --api [--sqlite] [--lines 1000000]

--api: end to end through the HTTP API instead, on the real stack bench/ingest.py starts (gunicorn and a Celery
worker; PostgreSQL database `signoff_bench_logs` recreated on 127.0.0.1 with redis db 10, or --sqlite the embedded
default): registers a model version, POSTs the file (multipart, streamed from disk), polls the 202's status_url
until ready, and reports the end-to-end time, its phases and each process group's peak RSS. Results:
docs/bench-logs.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")


def write_logs(path: Path, lines: int) -> None:
    with path.open("w") as out:
        for i in range(lines):
            row = {
                "id": f"r{i}",
                "input": {"text": f"request {i} " * 5},
                "output": "pos" if i % 3 else "neg",
                "tags": [f"lang:{'en' if i % 4 else 'fr'}"],
                "at": "2026-11-02T09:00:00Z",
            }
            out.write(json.dumps(row) + "\n")


def through_api(args: argparse.Namespace) -> None:
    """The whole path a client takes: POST, 202, the worker's ingest, polls until ready."""
    from bench.ingest import api, drop_database, start_stack, stop_stack, upload_and_wait

    args.db_name, args.broker_db, args.web_workers = "signoff_bench_logs", 10, 2
    with tempfile.TemporaryDirectory(prefix="signoff-bench-logs-") as folder:
        work = Path(folder)
        path = work / "logs.jsonl"
        write_logs(path, args.lines)
        size = path.stat().st_size
        stack = start_stack(args, work)
        try:
            assert api(stack, "POST", "/api/v1/models/", {"name": "bench-logs"})[0] == 201
            assert api(stack, "POST", "/api/v1/models/bench-logs/versions/", {"version": "1"})[0] == 201
            r = upload_and_wait(stack, "logs", "/api/v1/models/bench-logs/versions/1/logs/", {}, path, args.lines)
        finally:
            stop_stack(stack)
            if not args.sqlite:
                drop_database(args.db_name)
    assert r.result["logs"] == args.lines, r.result
    print(
        f"{'sqlite' if args.sqlite else 'postgres'} via the API: {args.lines} lines: end to end {r.seconds:.1f} s "
        f"({r.rate:,.0f} lines/s): POST until 202 {r.request_seconds:.1f} s, queued {r.queued_seconds:.1f} s, "
        f"reading {r.reading_seconds:.1f} s, saving {r.saving_seconds:.1f} s; peak RSS web {r.web_peak_mb:.0f} MB "
        f"(at start {r.web_start_mb:.0f}), worker {r.worker_peak_mb:.0f} MB (at start {r.worker_start_mb:.0f}); "
        f"load average {r.load[0]:.1f} -> {r.load[1]:.1f}; file {size / 1e6:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--api", action="store_true", help="end to end through the HTTP API and a real worker")
    parser.add_argument("--sqlite", action="store_true", help="--api on the embedded default")
    args = parser.parse_args()
    lines = args.lines
    if args.api:
        through_api(args)
        return

    import django

    django.setup()
    from django.core.files import File
    from django.core.management import call_command

    from core.models import User
    from inspections.selectors import logs_jsonl
    from inspections.services.logs import log_batch_ingest
    from models_app.services.registry import model_version_create, registered_model_create

    call_command("migrate", verbosity=0)
    user, _ = User.objects.get_or_create(username="bench-logs", defaults={"role": User.Role.DATA_SCIENTIST})
    model = registered_model_create(name=f"bench-logs-{int(time.time())}", created_by=user)
    version = model_version_create(model=model, version="1", created_by=user)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "logs.jsonl"
        write_logs(path, lines)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        with path.open("rb") as file:
            log_batch_ingest(
                model_version=version, file=File(file, name="logs.jsonl"), source_name="logs.jsonl", created_by=user
            )
        ingest = time.perf_counter() - started
        rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
        started = time.perf_counter()
        exported = sum(1 for _ in logs_jsonl(model_version=version))
        export = time.perf_counter() - started
        size = path.stat().st_size
    database = os.environ.get("DATABASE_URL", "sqlite").split(":", 1)[0]
    print(
        f"{database}: {lines} lines ({size / 1e6:.1f} MB): ingest {ingest:.1f} s ({lines / ingest:,.0f} lines/s, "
        f"peak RSS +{rss_growth:.0f} MB); export {export:.1f} s ({exported / export:,.0f} lines/s)"
    )


if __name__ == "__main__":
    main()
