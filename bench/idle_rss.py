"""Memory of an idle deployment: RSS of each web and worker process after start and one request.

    .venv/bin/python bench/idle_rss.py [--db-name signoff_bench_rss] [--broker-db 15]

Starts the stack as a deployment runs it, on production settings: gunicorn with the command line of the Dockerfile
(and docker-compose), a Celery worker (prefork, one child, as docker-compose runs it with --concurrency) and beat,
on PostgreSQL and Redis at 127.0.0.1. Sends authenticated API requests and page requests (a few per web worker),
lets the worker run the task beat sends at start (the heartbeat), then prints per process: RSS (what the target is
about), PSS (shared pages split between the processes sharing them) and USS (the process's own pages). The database
is dropped at the end. Target: RSS <= 100 MB per web and worker process. Results: docs/bench-next-task.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import urllib3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import next_task as bench  # noqa: E402 -- the path above makes the project importable

TARGET_MB = 100.0
# The deployment's web command (Dockerfile CMD, docker-compose and bin/serve-embedded), less the bind address.
WEB_ARGS = ["--preload"]


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS, and Pss / Private_* from smaps_rollup, in MB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            values["rss"] = int(line.split()[1]) / 1024
    rollup = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        rollup[name.rstrip(":")] = int(value) / 1024
    values["pss"] = rollup.get("Pss", 0.0)
    values["uss"] = rollup.get("Private_Clean", 0.0) + rollup.get("Private_Dirty", 0.0)
    return values


def describe(pid: int) -> str:
    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return " ".join(Path(part).name if part.startswith("/") else part for part in cmd.split()[:6])


def make_token() -> str:
    from knox.models import AuthToken

    from core.models import User

    user = User.objects.create(username=f"rss-{uuid.uuid4().hex[:8]}", role=User.Role.DATA_SCIENTIST)
    return AuthToken.objects.create(user=user, expiry=None)[1]


def wait_for_line(path: str, text: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in Path(path).read_text(errors="replace"):
            return True
        time.sleep(0.2)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-name", default="signoff_bench_rss")
    parser.add_argument("--broker-db", type=int, default=bench.BROKER_DB)
    parser.add_argument("--settle-seconds", type=float, default=3.0, help="wait after the requests before measuring")
    args = parser.parse_args(argv)
    bench.DB_NAME, bench.BROKER_DB = args.db_name, args.broker_db
    env = bench.app_env(secret="rss-" + uuid.uuid4().hex)
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL")})
    os.environ.update({k: env[k] for k in ("CELERY_BROKER_URL", "SECURE_SSL_REDIRECT", "CONN_MAX_AGE")})
    bench.recreate_database()
    bench.migrate(env)
    # production settings serve pages through the static files' manifest, which collectstatic writes
    subprocess.run(
        [str(bench.PYTHON), "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    import django

    django.setup()
    from django.db import connection

    token = make_token()
    connection.close()
    server = background = None
    ok = True
    try:
        server = bench.start_gunicorn(
            env,
            workers=bench.DEFAULT_WORKERS,
            worker_class=bench.DEFAULT_WORKER_CLASS,
            threads=bench.DEFAULT_THREADS,
            config=None,
            extra=WEB_ARGS,
        )
        background = bench.start_background(env, concurrency=1)
        http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5.0, read=30.0))
        workers = bench._proc_children(server.proc.pid)
        # One request per web worker would need the kernel's help to spread them; each gets a few, so each has
        # served requests of both kinds, as any worker of a running site has.
        for _ in range(3 * len(workers)):
            api = http.request("GET", f"{server.base}/api/v1/campaigns/", headers={"Authorization": f"Token {token}"})
            page = http.request("GET", f"{server.base}/login/")
            if api.status != 200 or page.status != 200:
                print(f"  a request failed: API {api.status}, page {page.status}: {api.data[:200]!r}")
                ok = False
        wait_for_line(background.worker_log, "heartbeat_worker_task", 30)  # beat's first message, run at start
        time.sleep(args.settle_seconds)
        rows = [("gunicorn master", server.proc.pid)] + [("gunicorn worker", pid) for pid in workers]
        for name, proc in background.procs.items():
            rows.append((f"celery {name}", proc.pid))
            rows += [(f"celery {name} child", pid) for pid in bench._proc_children(proc.pid)]
        print(f"idle memory after start and one request each (production settings, {bench.code_summary()})")
        print(f"  {'process':<22}{'pid':>8}{'RSS MB':>9}{'PSS MB':>9}{'USS MB':>9}  command")
        for name, pid in rows:
            m = memory_mb(pid)
            judged = name in ("gunicorn worker", "celery worker child", "celery worker")
            flag = ("ok" if m["rss"] <= TARGET_MB else "OVER") if judged else ""
            ok = ok and flag != "OVER"
            print(f"  {name:<22}{pid:>8}{m['rss']:>9.1f}{m['pss']:>9.1f}{m['uss']:>9.1f}  {describe(pid)[:60]} {flag}")
        print(f"  target: RSS <= {TARGET_MB:.0f} MB per web worker and worker process: {'met' if ok else 'MISSED'}")
    finally:
        if server is not None:
            bench.stop_gunicorn(server)
        if background is not None:
            bench.stop_background(background)
        connection.close()
        bench.drop_database()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
