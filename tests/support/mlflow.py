"""A real `mlflow server` on a loopback port for a test module, and a TCP relay in front of it that a test can cut
and restore, so "MLflow is down" costs no restart of a server that takes tens of seconds to start.

MLflow runs from its own venv, .venv-mlflow (`make test` builds it from requirements/mlflow.txt): every mlflow release
caps cryptography and gunicorn below what the app ships, so it stays out of the app's venv and locks. Nothing in the
test process imports mlflow; what needs MLflow's own code runs in that venv's interpreter (mlflow_hmac_signatures)."""

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.support.s3 import free_port

START_TIMEOUT = 240  # seconds: a cold start migrates a new SQLite store (~10 s) after importing MLflow (~10-60 s)
MLFLOW_VENV = Path(__file__).resolve().parents[2] / ".venv-mlflow"


def mlflow_bin(name: str) -> Path:
    """A program of the MLflow venv; a clear failure, not a skip, where it is missing: CI must run these tests."""
    program = MLFLOW_VENV / "bin" / name
    if not (MLFLOW_VENV / ".ready").exists() or not program.exists():
        raise RuntimeError(
            f"the MLflow test server's venv is missing or incomplete ({program} not found): run `make test`, or "
            f"`make .venv-mlflow/.ready` to build only it (from requirements/mlflow.txt)"
        )
    return program


def mlflow_signature(secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    """The signature as MLflow documents it for its webhooks: `v1,` and the base64 HMAC-SHA256 of
    `<delivery id>.<timestamp>.<body>`. Written here, apart from the app's integrations/mlflow/signature.py, and both
    checked against MLflow's own function (mlflow_hmac_signatures)."""
    digest = hmac.new(secret.encode(), f"{delivery_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


_HMAC_SCRIPT = """
import json, sys
from mlflow.webhooks.delivery import _generate_hmac_signature
print(json.dumps([_generate_hmac_signature(*case) for case in json.load(sys.stdin)]))
"""


def mlflow_hmac_signatures(cases: list[tuple[str, str, str, str]]) -> list[str]:
    """MLflow's own `_generate_hmac_signature` (what its server signs deliveries with) for each (secret, delivery
    id, timestamp, body), run in the MLflow venv's interpreter: one process for all cases (importing mlflow ~4 s)."""
    done = subprocess.run(
        [str(mlflow_bin("python")), "-c", _HMAC_SCRIPT],
        input=json.dumps(cases),
        check=False,  # a failure is raised below with its stderr
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode:
        raise RuntimeError(f"MLflow's signing function failed in {MLFLOW_VENV}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


class MlflowServer:
    def __init__(self, process: subprocess.Popen, url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log

    def wait_healthy(self) -> "MlflowServer":
        _wait_healthy(self)
        return self

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@contextmanager
def mlflow_server(folder: Path) -> Iterator[MlflowServer]:
    """Start the server and yield at once: the caller waits (wait_healthy) when it needs it, so the start overlaps
    whatever the session does meanwhile (creating the test database)."""
    port = free_port()
    log = folder / "mlflow-server.log"
    env = {
        **os.environ,
        # MLflow refuses webhook URLs that are not https or that resolve to a private address: the test's Signoff is
        # http on loopback. Both switches exist for this (and are named "not for production" by MLflow).
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_CACHE_TTL": "1",  # a webhook registered by a test is seen by the next version at once
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no job-runner process: nothing here runs MLflow jobs
    }
    command = [
        str(mlflow_bin("mlflow")),
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--default-artifact-root",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = MlflowServer(process, f"http://127.0.0.1:{port}", log)
    try:
        yield server
    finally:
        # the server runs uvicorn as a child: end the whole session it leads
        with suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def _wait_healthy(server: MlflowServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError("mlflow server exited:\n" + server.log_tail())
        with suppress(OSError), urllib.request.urlopen(f"{server.url}/health", timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.25)
    raise RuntimeError(f"mlflow server not healthy after {START_TIMEOUT} s:\n" + server.log_tail())


class Relay:
    """127.0.0.1:<port> forwarded to a target while up; while down nothing listens there (connection refused)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
