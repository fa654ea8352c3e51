"""Start a real gunicorn web server on a loopback port, with the production settings, on this test run's database,
broker and queue: one "node" of a multi-node deployment."""

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import IO

from django.conf import settings

from tests.support.s3 import free_port
from tests.support.worker import BASE_DIR, database_url


class WebNode:
    def __init__(self, process: subprocess.Popen, url: str, log: IO[bytes]) -> None:
        self.process, self.url, self._log = process, url, log

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")


@contextmanager
def web_nodes(count: int, **extra_env: str) -> Iterator[list[WebNode]]:
    """`count` servers side by side, each on its own port; stopped together."""
    with ExitStack() as logs:
        nodes = [
            _start(logs.enter_context(tempfile.NamedTemporaryFile(prefix="gunicorn-")), extra_env) for _ in range(count)
        ]
        try:
            yield nodes
        finally:
            for node in nodes:
                node.process.send_signal(signal.SIGQUIT)  # gunicorn's quick shutdown: no request is in flight
            for node in nodes:
                try:
                    node.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    node.process.kill()


def _start(log: IO[bytes], extra_env: dict[str, str]) -> WebNode:
    port = free_port()
    env = {
        **os.environ,  # the S3 credentials among them
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "two-node-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "SIGNOFF_CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "SECURE_SSL_REDIRECT": "false",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        **extra_env,
    }
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"]
    process = subprocess.Popen(
        [*command, "--workers", "1", "--threads", "4", "--graceful-timeout", "5", "--log-level", "warning"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return WebNode(process, f"http://127.0.0.1:{port}", log)


def wait_until_serving(node: WebNode, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{node.url}/livez", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if node.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn at {node.url} did not start:\n{node.log()}")
        time.sleep(0.1)
