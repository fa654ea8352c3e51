"""Benchmark how soon a signed verdict's webhook arrives: from the sign-off's answer at the client to receipt.

    .venv/bin/python bench/webhook_latency.py [--stack embedded|postgres|both] [--n 50]

For each stack: migrates a fresh database (embedded: SQLite and the filesystem broker in a temp dir; postgres:
the database `bench_webhook` on 127.0.0.1:5432, recreated, with production settings and redis db 12), starts
bin/serve-embedded (gunicorn, a Celery worker and beat, as deployed) with SIGNOFF_WEBHOOK_ALLOW_HOSTS=127.0.0.1
(the bench's receiver is on loopback; only this bench's processes get it), starts an HTTP receiver on loopback,
registers an endpoint for `verdict.signed`, creates N campaigns (one model version each) through the API, then
signs each off (reject: a sign-off needs no decided gate to publish) one at a time, waiting for its webhook.
Prints p50/p95/max of the latency and the load generator's own CPU per sign-off.
"""

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
PG = "postgres://postgres@127.0.0.1:5432"
ITEMS = [{"id": f"item-{i}", "input": f"What is {i} + {i}?", "reference": str(2 * i)} for i in range(4)]


class Receiver:
    """Records the arrival time of each verdict.signed webhook, keyed by the verdict's hash."""

    def __init__(self):
        self.arrivals: dict[str, float] = {}
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                now = time.perf_counter()
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()
                data = json.loads(body).get("data", {})
                with receiver.cond:
                    receiver.arrivals[data.get("hash", "")] = now
                    receiver.cond.notify_all()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    def wait(self, key: str, timeout: float) -> float | None:
        with self.cond:
            self.cond.wait_for(lambda: key in self.arrivals, timeout)
            return self.arrivals.get(key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack_env(stack: str, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "DATABASE_URL")}
    env.update(
        {
            "SIGNOFF_VAR_DIR": str(work),
            "SIGNOFF_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
            "SIGNOFF_CELERY_QUEUE": "bench-webhook-" + uuid.uuid4().hex[:8],
            "MEDIA_ROOT": str(work / "media"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if stack == "embedded":
        env.update({"DJANGO_SETTINGS_MODULE": "config.settings.local", "SIGNOFF_BROKER_DIR": str(work / "broker")})
    else:
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings.production",
                "SECRET_KEY": "bench-webhook-" + uuid.uuid4().hex,
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "SECURE_SSL_REDIRECT": "false",
                "DATABASE_URL": f"{PG}/bench_webhook",
                "CELERY_BROKER_URL": "redis://127.0.0.1:6379/12",
                "CONN_MAX_AGE": "600",
            }
        )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [str(PYTHON), "manage.py", *args], check=False, cwd=ROOT, env=env, capture_output=True, text=True
    )
    if out.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)}: {out.stderr[-2000:]}")
    return out.stdout


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def setup_campaigns(base: str, ds: requests.Session, n: int, hook_url: str) -> list[int]:
    def ok(r: requests.Response) -> dict:
        assert r.status_code in (200, 201), (r.request.method, r.url, r.status_code, r.text[:500])
        return r.json()

    ok(ds.post(f"{base}/api/v1/webhooks/", json={"url": hook_url, "events": ["verdict.signed"]}))
    ok(ds.post(f"{base}/api/v1/datasets/", json={"name": "arith"}))
    ok(ds.post(f"{base}/api/v1/datasets/arith/versions/", files={"file": ("d.jsonl", jsonl(ITEMS))}))
    ok(ds.post(f"{base}/api/v1/models/", json={"name": "calc"}))
    campaigns = []
    for version in range(n + 1):
        ok(ds.post(f"{base}/api/v1/models/calc/versions/", json={"version": str(version)}))
        rows = [{"id": item["id"], "output": str(2 * i + version % 2)} for i, item in enumerate(ITEMS)]
        ok(
            ds.post(
                f"{base}/api/v1/models/calc/versions/{version}/predictions/",
                data={"dataset": "arith", "dataset_version": "1"},
                files={"file": ("p.jsonl", jsonl(rows))},
            )
        )
        if version == 0:
            continue
        body: dict[str, Any] = {
            "name": f"calc {version} vs 0",
            "kind": "pairwise",
            "dataset": "arith",
            "dataset_version": 1,
            "candidate": f"calc:{version}",
            "baseline": "calc:0",
            "reviewers": ["bench-rev"],
            "overlap": 1,
            "gate": {"min_judgments": 4, "min_win_rate": 0.5, "alternative": 0.95},
        }
        campaigns.append(ok(ds.post(f"{base}/api/v1/campaigns/", json=body))["id"])
    return campaigns


def session(token: str) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Token {token}"
    return s


def run_stack(stack: str, n: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"bench-webhook-{stack}-"))
    env = stack_env(stack, work)
    if stack == "postgres":
        subprocess.run(
            ["psql", PG + "/postgres", "-qc", "DROP DATABASE IF EXISTS bench_webhook WITH (FORCE)"], check=True
        )
        subprocess.run(["psql", PG + "/postgres", "-qc", "CREATE DATABASE bench_webhook"], check=True)
    manage(env, "migrate", "--noinput")
    if stack == "postgres":  # production settings serve hashed static files (the sign-off's answer names one)
        manage(env, "collectstatic", "--noinput")
    tokens = {}
    for user, role in (("bench-ds", "data_scientist"), ("bench-approver", "approver"), ("bench-rev", "reviewer")):
        tokens[user] = manage(env, "createtoken", user, "--role", role, "--create-user").strip().splitlines()[-1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(work / "serve.log", "w")  # noqa: SIM115 (held by the stack for its whole run, closed below)
    serve = subprocess.Popen(
        [str(PYTHON), "bin/serve-embedded"], cwd=ROOT, env={**env, "PORT": str(port)}, stdout=log, stderr=log
    )
    receiver = Receiver()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base}/api/v1/", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        campaigns = setup_campaigns(base, session(tokens["bench-ds"]), n, receiver.url)
        approver = session(tokens["bench-approver"])
        time.sleep(20)  # the worker and beat start after the web server answers (bin/serve-embedded): let them
        latencies, missing = [], 0
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        for cid in campaigns:
            r = approver.post(f"{base}/api/v1/campaigns/{cid}/signoff/", json={"decision": "reject", "rationale": "b"})
            answered = time.perf_counter()
            assert r.status_code == 201, (r.status_code, r.text[:500])
            arrived = receiver.wait(r.json()["hash"], timeout=10)
            if arrived is None:
                missing += 1
            else:
                latencies.append(arrived - answered)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(30)
        receiver.server.shutdown()
        log.close()
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    shutil.rmtree(work, ignore_errors=True)
    q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else latencies * 19
    return {
        "stack": stack,
        "n": len(latencies),
        "missing": missing,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": q[18] * 1000,
        "max_ms": max(latencies) * 1000,
        "client_cpu_ms_per_signoff": cpu / max(len(campaigns), 1) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", choices=["embedded", "postgres", "both"], default="both")
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    for stack in ("embedded", "postgres") if args.stack == "both" else (args.stack,):
        res = run_stack(stack, args.n)
        print(
            f"{res['stack']:9} n={res['n']} missing={res['missing']} p50={res['p50_ms']:.0f} ms "
            f"p95={res['p95_ms']:.0f} ms max={res['max_ms']:.0f} ms "
            f"load generator CPU={res['client_cpu_ms_per_signoff']:.1f} ms/sign-off",
            flush=True,
        )


if __name__ == "__main__":
    main()
