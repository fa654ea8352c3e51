"""Start a real Celery worker process on this test run's database, broker and queue."""

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)


def database_url() -> str:
    """The URL of the database the tests are using right now (the test database, not the configured one)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_environment(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.worker_for_tests",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "SIGNOFF_CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        **extra,
    }
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        env["SIGNOFF_BROKER_DIR"] = str(Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]).parent)
    return env


class WorkerProcess(subprocess.Popen[str]):
    log: list[str]  # every line the worker printed so far, for assertions and failure messages
    ready: threading.Event  # set when the worker says it is ready


@contextmanager
def celery_worker(**extra_env: str) -> Iterator[WorkerProcess]:
    """Yield a running worker; its log is kept for assertions and failure messages."""
    with celery_workers("", **extra_env) as (worker,):
        yield worker


@contextmanager
def celery_workers(*hostnames: str, **extra_env: str) -> Iterator[list[WorkerProcess]]:
    """Start one worker per hostname side by side (as on different machines), yield them once all are ready."""
    workers = [_start(hostname, extra_env) for hostname in hostnames]
    try:
        for worker in workers:
            _wait_ready(worker)
        yield workers
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()


def _start(hostname: str, extra_env: dict[str, str]) -> WorkerProcess:
    command = [
        sys.executable,
        "-m",
        "config.background",  # as deployed
        "worker",
        "--pool=solo",
        "--loglevel=INFO",
        "-Q",
        settings.CELERY_TASK_DEFAULT_QUEUE,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        *(["--hostname", hostname] if hostname else []),
    ]
    process = WorkerProcess(
        command,
        cwd=BASE_DIR,
        env=worker_environment(**extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    process.log = log = []
    process.ready = ready = threading.Event()
    output = process.stdout
    assert output is not None  # stdout=PIPE

    def pump() -> None:
        for line in output:
            log.append(line)
            if " ready." in line:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    return process


def _wait_ready(process: WorkerProcess) -> None:
    deadline = time.monotonic() + 60
    while not process.ready.is_set():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("Celery worker did not start:\n" + "".join(process.log))
        time.sleep(0.1)
