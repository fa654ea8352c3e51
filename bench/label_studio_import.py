"""Benchmark importing Label Studio exports of the shape Label Studio 1.23.2 really writes.

    .venv/bin/python bench/label_studio_import.py [--tasks 10000] [--repeat 3] [--postgres]

Builds, from the real exports in tests/fixtures/label_studio/, a JSON export of --tasks annotated tasks (each a copy
of one of export.json's 20, with its own task, annotation and prediction ids: predictions listed by id, the
annotation embedding its prediction, as the Export button writes them) and a JSON_MIN export of the same
annotations (export_min.json's records, renumbered). Imports each --repeat times through the service (a fresh
dataset each time) into a fresh database: a temp SQLite file, or with --postgres the database signoff_bench_ls on
127.0.0.1:5432 (dropped and recreated; user postgres). Prints the median time, tasks per second and the process's
peak RSS. Only 127.0.0.1 is contacted. Results: docs/bench-ingest.md ("Figures the code's comments point to").
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "label_studio"


def exports(tasks: int) -> dict[str, bytes]:
    base = json.loads((FIXTURES / "export.json").read_text())
    flat = json.loads((FIXTURES / "export_min.json").read_text())
    full, records = [], []
    for number in range(1, tasks + 1):
        task = copy.deepcopy(base[number % len(base)])
        task["id"], task["predictions"] = number, [number]
        task["annotations"][0]["id"] = task["annotations"][0]["prediction"]["id"] = number
        full.append(task)
        records.append(dict(flat[number % len(flat)], id=number, annotation_id=number))
    return {"json": json.dumps(full).encode(), "json_min": json.dumps(records).encode()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="signoff-bench-ls-")
    if args.postgres:
        for sql in ("DROP DATABASE IF EXISTS signoff_bench_ls", "CREATE DATABASE signoff_bench_ls"):
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True)
        os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/signoff_bench_ls"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["SIGNOFF_VAR_DIR"] = tmp
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command

    from core.models import User
    from datasets.models import Dataset
    from reviews.services.label_studio_import import label_studio_import

    call_command("migrate", verbosity=0)
    user = User.objects.create_user(username="bench", role=User.Role.DATA_SCIENTIST)
    database = "PostgreSQL" if args.postgres else "SQLite"
    for kind, body in exports(args.tasks).items():
        times = []
        for attempt in range(args.repeat):
            dataset = Dataset.objects.create(name=f"bench-{kind}-{attempt}", created_by=user)
            start = time.perf_counter()
            label_studio_import(
                dataset=dataset,
                file=SimpleUploadedFile(f"{kind}.json", body),
                source_name=f"{kind}.json",
                created_by=user,
                control="sentiment" if kind == "json_min" else "",
            )
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        print(
            f"{database} {kind}: {args.tasks} tasks, {len(body) / 1e6:.1f} MB, median {median:.2f} s "
            f"({args.tasks / median:,.0f} tasks/s; runs {', '.join(f'{t:.2f}' for t in times)})"
        )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    if args.postgres:
        from django.db import connections

        connections.close_all()
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", "DROP DATABASE signoff_bench_ls"], check=True
        )


if __name__ == "__main__":
    main()
