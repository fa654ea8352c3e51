"""Benchmark production-log uploads (inspections/): N lines through log_batch_ingest, then the streamed export.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/python bench/log_ingest.py [--lines 100000]
    DATABASE_URL=sqlite:////tmp/bench-logs.sqlite3 .venv/bin/python bench/log_ingest.py

Migrates the database DATABASE_URL names (config.settings.local), registers a fresh model version, writes a JSONL
file of N logs (`{"id", "input": {"text": ~60 chars}, "output", "tags": ["lang:.."], "at"}`) to a temp dir, and
times the ingest (the service the API view calls, in this process) and reading the export to its end; reports
lines per second and the growth of the process's peak RSS. Results: docs/bench-logs.md.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    lines = parser.parse_args().lines

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
