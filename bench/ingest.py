"""Benchmark the ingest of large uploads end to end: dataset versions and prediction sets, through the API.

    .venv/bin/python bench/ingest.py [--rows 1000000 | --sizes 100000,1000000] [--sqlite] [--profile]

What it does, for each size N, against a real stack:

1. generates (once per size and seed, in a temp dir) a JSONL dataset of N items
   `{"id": "item-0000001", "input": {"text": "~100 chars"}, "tags": ["a"]}` and a JSONL file of N predictions
   `{"id": "item-0000001", "output": {"label": "...", "text": "~60 chars"}, "score": 0.73}`, reproducibly from --seed;
2. PostgreSQL (default): drops and recreates the database `signoff_bench_ingest` on 127.0.0.1:5432 and migrates
   it; starts gunicorn (config.settings.production, sync workers, long timeout) and a real Celery worker
   (`celery -A config worker --concurrency 1 -Q <unique queue>` on redis://127.0.0.1:6379/<db>).
   --sqlite: the embedded default instead (config.settings.local, a fresh SQLite file in the temp dir, kombu's
   filesystem broker in the temp dir, the worker started as bin/serve-embedded starts it: --pool=solo --beat);
3. through the HTTP API with a data_scientist token (`manage.py createtoken`): creates the dataset, uploads the
   dataset file (multipart POST streamed from disk with http.client, as `signoff push` would send it), polls
   the status_url until ready; registers a model and a version, uploads the predictions, polls until ready.
   The end-to-end time runs from the first byte of the POST to the poll that sees "ready". On PostgreSQL a
   CHECKPOINT precedes each upload and the raw COPY below, so that none pays for the previous one's;
4. meanwhile samples, every 50 ms, VmRSS and VmHWM from /proc/<pid>/status of every process of the web tree
   (gunicorn master + workers) and of the worker tree (celery main + pool children), and the CPU time of each
   group and of PostgreSQL's processes;
5. (PostgreSQL) measures the physical limit: a raw psycopg 3 COPY of the same prediction rows, parsed from the
   same file with orjson and written with copy.write_row, into a bare table
   `(id bigserial primary key, item_id text, output jsonb, score double precision)`;
6. checks that the database holds exactly N items and N predictions, stops the stack and drops the database.

--profile (PostgreSQL) then runs the predictions ingest of the largest size again in this process, on the same
database (a fresh model version), once plainly, then times its stages alone (hashing the file, loading the
ItemIndex, parsing and checking the rows, item keys and COPY text), and runs it once more under cProfile.

Only 127.0.0.1 is contacted. Every wait is bounded. Results: docs/bench-ingest.md.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import http.client
import io
import json
import os
import platform
import pstats
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import psycopg
import urllib3

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
BACKGROUND = [str(ROOT / ".venv" / "bin" / "python"), "-m", "config.background"]  # as deployed
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
DB_NAME = "signoff_bench_ingest"
BROKER_DB = 12  # redis://127.0.0.1:6379/12; the queue name is unique per run as well
SAMPLE_SECONDS = 0.05
POLL_SECONDS = 0.1  # the ready poll; half of it is lost on average in the end-to-end time
HEALTH_WAIT_SECONDS = 90
UPLOAD_DEADLINE_SECONDS = 45 * 60
CLK_TCK = os.sysconf("SC_CLK_TCK")

WORDS = (
    "export",
    "timeout",
    "customer",
    "invoice",
    "latency",
    "report",
    "dashboard",
    "error",
    "retry",
    "login",
    "password",
    "refund",
    "shipping",
    "delayed",
    "order",
    "server",
    "crash",
    "upload",
    "csv",
    "large",
    "project",
    "engineer",
    "summary",
    "ticket",
    "billing",
    "account",
    "mobile",
    "browser",
    "slow",
    "page",
    "search",
    "result",
    "missing",
    "data",
    "sync",
    "calendar",
    "email",
    "notification",
    "the",
    "a",
    "after",
    "when",
    "on",
    "with",
)
LABELS = ("bug", "billing", "feature-request", "question", "outage", "other")
TAGS = ("a", "b", "c", "d")


# ------------------------------------------------------------------------------------------------ data


def _text(rng: random.Random, length: int) -> str:
    words, n = [], 0
    while n < length:
        w = rng.choice(WORDS)
        words.append(w)
        n += len(w) + 1
    return " ".join(words)[:length]


def generate(folder: Path, n: int, seed: int) -> tuple[Path, Path]:
    """items-N.jsonl and predictions-N.jsonl, the same bytes for the same (n, seed)."""
    items, predictions = folder / f"items-{n}-{seed}.jsonl", folder / f"predictions-{n}-{seed}.jsonl"
    if items.exists() and predictions.exists():
        return items, predictions
    started = time.perf_counter()
    rng = random.Random(seed)
    with open(items, "wb") as fi, open(predictions, "wb") as fp:
        bi, bp = [], []
        for i in range(1, n + 1):
            item_id = f"item-{i:07d}"
            bi.append(orjson.dumps({"id": item_id, "input": {"text": _text(rng, 100)}, "tags": [rng.choice(TAGS)]}))
            bp.append(
                orjson.dumps(
                    {
                        "id": item_id,
                        "output": {"label": rng.choice(LABELS), "text": _text(rng, 60)},
                        "score": round(rng.random(), 2),
                    }
                )
            )
            if len(bi) == 10_000:
                fi.write(b"\n".join(bi) + b"\n")
                fp.write(b"\n".join(bp) + b"\n")
                bi, bp = [], []
        if bi:
            fi.write(b"\n".join(bi) + b"\n")
            fp.write(b"\n".join(bp) + b"\n")
    print(
        f"  generated {n:,} items ({items.stat().st_size / 1e6:.0f} MB) and predictions "
        f"({predictions.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return items, predictions


# ------------------------------------------------------------------------------------------------ stack


def admin_connect() -> psycopg.Connection:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True)


def pg_connect(db: str) -> psycopg.Connection:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=db)


def one_row(cursor: psycopg.Cursor) -> tuple:
    """The row of a statement that always answers exactly one (an aggregate, SHOW)."""
    row = cursor.fetchone()
    assert row is not None
    return row


def recreate_database(db: str) -> None:
    with admin_connect() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {db}")


def drop_database(db: str) -> None:
    with admin_connect() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def checkpoint() -> None:
    """Before each timed load (uploads and the raw COPY alike): the checkpoint of what the previous load wrote
    otherwise falls at a random point in the next one, and every page it touches first after that checkpoint
    goes to the WAL whole. Without it, the same code varied 229,000-294,000 rows/s."""
    with admin_connect() as conn:
        conn.execute("CHECKPOINT")


@dataclass
class Stack:
    sqlite: bool
    work: Path  # this stack's folder: media, broker, logs, SQLite file
    env: dict[str, str]
    db: str = ""
    sqlite_path: Path | None = None
    web: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    port: int = 0
    token: str = ""
    logs: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pid(self, name: str) -> int:
        """The pid of the started web server ("web") or worker ("worker")."""
        proc = getattr(self, name)
        if proc is None:
            raise RuntimeError(f"the {name} is not running")
        return proc.pid


def stack_env(args, work: Path, queue: str) -> tuple[dict[str, str], str, Path | None]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        {
            "SECRET_KEY": "bench-ingest-" + uuid.uuid4().hex,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "SIGNOFF_CELERY_QUEUE": queue,
            "MEDIA_ROOT": str(work / "media"),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if args.sqlite:
        path = work / "signoff.sqlite3"
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings.local",
                "DATABASE_URL": f"sqlite:///{path}",
                "SIGNOFF_BROKER_DIR": str(work / "broker"),
            }
        )
        return env, "", path
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DATABASE_URL": f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{args.db_name}",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{args.broker_db}",
            "CONN_MAX_AGE": "600",
        }
    )
    return env, args.db_name, None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: str, lines: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_stack(args, work: Path) -> Stack:
    queue = f"signoff-bench-ingest-{uuid.uuid4().hex[:8]}"
    env, db, sqlite_path = stack_env(args, work, queue)
    stack = Stack(sqlite=args.sqlite, work=work, env=env, db=db, sqlite_path=sqlite_path)
    (work / "media").mkdir(parents=True, exist_ok=True)
    if db:
        recreate_database(db)
    started = time.perf_counter()
    subprocess.run([str(PYTHON), "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run(
        [str(PYTHON), "manage.py", "createtoken", "bench-ingest", "--role", "data_scientist", "--create-user"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    stack.token = out.stdout.strip().splitlines()[-1]
    print(f"  migrated and token created in {time.perf_counter() - started:.1f} s", flush=True)

    stack.port = free_port()
    if args.sqlite:  # as bin/serve-embedded starts them
        web_cmd = [
            str(GUNICORN),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{stack.port}",
            "--workers",
            str(args.web_workers),
            "--threads",
            "4",
            "--timeout",
            "900",
            "--no-control-socket",
        ]
        worker_cmd = [
            *BACKGROUND,
            "worker",
            "--beat",
            "--pool=solo",
            "--schedule",
            str(work / "celerybeat-schedule"),
            "-Q",
            queue,
            "--loglevel=INFO",
        ]
    else:
        web_cmd = [
            str(GUNICORN),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{stack.port}",
            "--workers",
            str(args.web_workers),
            "--worker-class",
            "sync",
            "--timeout",
            "900",
            "--graceful-timeout",
            "10",
            "--no-control-socket",
        ]
        worker_cmd = [
            *BACKGROUND,
            "worker",
            "--concurrency",
            "1",
            "-Q",
            queue,
            "--loglevel=INFO",
            "--hostname",
            f"{queue}@%h",
        ]
    for name, cmd in (("web", web_cmd), ("worker", worker_cmd)):
        log = work / f"{name}.log"
        stack.logs[name] = str(log)
        # The child keeps its own copy of the descriptor; ours is closed as soon as it has started.
        with open(log, "wb") as log_file:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        setattr(stack, name, proc)
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=1.0, read=5.0))
    deadline = time.monotonic() + HEALTH_WAIT_SECONDS
    while time.monotonic() < deadline:
        for name in ("web", "worker"):
            proc = getattr(stack, name)
            if proc.poll() is not None:
                stop_stack(stack)
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail(stack.logs[name])}")
        try:
            if http.request("GET", f"{stack.base}/livez").status == 200 and worker_ready(stack):
                return stack
        except urllib3.exceptions.HTTPError:
            pass
        time.sleep(0.3)
    stop_stack(stack)
    raise RuntimeError(
        f"the stack did not come up within {HEALTH_WAIT_SECONDS} s:\n{tail(stack.logs['web'])}\n"
        f"{tail(stack.logs['worker'])}"
    )


def worker_ready(stack: Stack) -> bool:
    """The worker has connected to its broker and logged "ready" (so no upload waits for its start)."""
    try:
        return b" ready." in Path(stack.logs["worker"]).read_bytes()
    except OSError:
        return False


def stop_stack(stack: Stack) -> None:
    for proc in (stack.web, stack.worker):
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in (stack.web, stack.worker):
        if proc is None:
            continue
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the process group this script started
            proc.wait(timeout=5)


# -------------------------------------------------------------------------------------------- sampling


def process_tree(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                todo.extend(int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split())
        except (OSError, ValueError):
            pass
    return pids


def proc_status_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in kB; (0, 0) if the process is gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def proc_pss_kb(pid: int) -> int:
    """Proportional set size: shared pages (the forked interpreter, libraries) counted once across the group."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def machine_busy() -> float:
    stat = Path("/proc/stat").read_text().split("\n")[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) / CLK_TCK for x in stat[:8])
    return user + nice + system + irq + softirq + steal


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


class Sampler(threading.Thread):
    """Peak RSS per group (sum over the group's processes at one sample, and the largest single process),
    the largest VmHWM seen, and the CPU seconds per group (processes that exit take theirs with them)."""

    def __init__(self, groups: dict[str, int], postgres: bool = False):
        super().__init__(daemon=True)
        self.groups = groups
        self.postgres = postgres
        self.stop_event = threading.Event()
        self.peak_sum = dict.fromkeys(groups, 0)
        self.peak_pss = dict.fromkeys(groups, 0)
        self.peak_one = dict.fromkeys(groups, 0)
        self.hwm = dict.fromkeys(groups, 0)
        self.start_sum = dict.fromkeys(groups, 0)
        self.nprocs = dict.fromkeys(groups, 0)
        self.cpu_seen: dict[str, dict[int, tuple[float, float]]] = {g: {} for g in groups}  # pid -> (first, last)
        self.samples = 0

    def sample(self) -> None:
        for group, root in self.groups.items():
            pids = process_tree(root)
            total = 0
            for pid in pids:
                rss, hwm = proc_status_kb(pid)
                total += rss
                self.peak_one[group] = max(self.peak_one[group], rss)
                self.hwm[group] = max(self.hwm[group], hwm)
            if self.samples % 4 == 0:  # smaps_rollup walks the page tables: every 200 ms is enough
                self.peak_pss[group] = max(self.peak_pss[group], sum(proc_pss_kb(pid) for pid in pids))
            if not self.samples:
                self.start_sum[group] = total
            self.peak_sum[group] = max(self.peak_sum[group], total)
            self.nprocs[group] = max(self.nprocs[group], len(pids))
        self.samples += 1

    def cpu_mark(self) -> None:
        for group, root in self.groups.items():
            seen = self.cpu_seen[group]
            for pid in process_tree(root):
                t = proc_cpu(pid)
                seen[pid] = (seen[pid][0], t) if pid in seen else (t, t)
        if self.postgres:
            # every postgres process of the (shared) server; a backend born during the upload counts from zero,
            # one that exits keeps what it had used at its last mark (Celery may close its connection at task end)
            seen = self.cpu_seen.setdefault("postgres", {})
            first_mark = not seen
            for pid in postgres_pids():
                t = proc_cpu(pid)
                seen[pid] = (seen[pid][0], t) if pid in seen else ((t if first_mark else 0.0), t)

    def cpu(self, group: str) -> float:
        return sum(last - first for first, last in self.cpu_seen[group].values())

    def run(self) -> None:
        n = 0
        while not self.stop_event.is_set():
            self.sample()
            if n % 10 == 0:
                self.cpu_mark()  # new processes are caught within half a second
            n += 1
            self.stop_event.wait(SAMPLE_SECONDS)

    def __enter__(self) -> Sampler:
        self.sample()
        self.cpu_mark()
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.join(timeout=5)
        self.sample()
        self.cpu_mark()


# ------------------------------------------------------------------------------------------------- http


def api(stack: Stack, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5.0, read=60.0))
    headers = {"Authorization": f"Token {stack.token}", "Accept": "application/json"}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    r = http.request(method, stack.base + path, headers=headers, body=data)
    try:
        payload = r.json()
    except ValueError:
        payload = {"raw": r.data[:500].decode(errors="replace")}
    return r.status, payload


def post_file_streamed(stack: Stack, path: str, fields: dict[str, str], file_path: Path) -> tuple[int, dict]:
    """multipart/form-data POST of `fields` and `file`, the file's bytes sent from disk in 1 MiB pieces, with a
    Content-Length (as urllib3 sends `signoff push`'s body, without holding it in memory)."""
    boundary = "----signoff-bench-" + uuid.uuid4().hex
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_path.name}"\r\n'
        f"Content-Type: application/jsonl\r\n\r\n"
    ).encode()
    tail_bytes = f"\r\n--{boundary}--\r\n".encode()
    size = file_path.stat().st_size
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=900)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Authorization", f"Token {stack.token}")
        conn.putheader("Accept", "application/json")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(len(head) + size + len(tail_bytes)))
        conn.endheaders()
        conn.send(head)
        with open(file_path, "rb") as f:
            while chunk := f.read(1 << 20):
                conn.send(chunk)
        conn.send(tail_bytes)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, {"raw": raw[:500].decode(errors="replace")}


@dataclass
class UploadResult:
    what: str
    rows: int
    seconds: float
    request_seconds: float  # the POST itself, until the 202
    queued_seconds: float  # 202 -> first poll that sees processing
    reading_seconds: float  # -> first poll that sees phase "saving"
    saving_seconds: float  # -> ready
    result: dict
    web_peak_mb: float
    web_pss_mb: float
    web_one_mb: float
    web_hwm_mb: float
    web_start_mb: float
    worker_peak_mb: float
    worker_pss_mb: float
    worker_one_mb: float
    worker_hwm_mb: float
    worker_start_mb: float
    cpu: dict[str, float]
    load: tuple[float, float]
    spied: bool = False

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def upload_and_wait(
    stack: Stack, what: str, path: str, fields: dict[str, str], file_path: Path, rows: int, py_spy: str = ""
) -> UploadResult:
    groups = {"web": stack.pid("web"), "worker": stack.pid("worker")}
    if not stack.sqlite:
        checkpoint()
    spy = start_py_spy(py_spy, stack) if py_spy else None
    busy_before, load_before, client_before = machine_busy(), load1(), sum(os.times()[:2])
    with Sampler(groups, postgres=not stack.sqlite) as sampler:
        t0 = time.perf_counter()
        status, body = post_file_streamed(stack, path, fields, file_path)
        t_accepted = time.perf_counter()
        t_processing = t_saving = None
        if status in (200, 201):  # at or under SIGNOFF_SYNC_UPLOAD_MAX_BYTES: ingested within the request
            state = {"result": body}
            t_processing = t_saving = t_ready = t_accepted
        elif status != 202:
            raise RuntimeError(f"{what}: POST answered {status}: {str(body)[:500]}")
        status_url = body.get("status_url")
        deadline = time.monotonic() + UPLOAD_DEADLINE_SECONDS
        while status_url:
            code, state = api(stack, "GET", status_url)
            now = time.perf_counter()
            if code != 200:
                raise RuntimeError(f"{what}: GET {status_url} answered {code}: {state}")
            if state["status"] != "queued" and t_processing is None:
                t_processing = now
            if state["progress"].get("phase") in ("saving",) and t_saving is None:
                t_saving = now
            if state["status"] == "ready":
                t_ready = now
                break
            if state["status"] == "failed":
                raise RuntimeError(
                    f"{what}: ingest failed: {json.dumps(state.get('error'))[:2000]}\n{tail(stack.logs['worker'])}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: not ready after {UPLOAD_DEADLINE_SECONDS} s: {state}")
            time.sleep(POLL_SECONDS)
    t_processing = t_processing or t_ready
    t_saving = t_saving or t_ready
    if spy:
        stop_py_spy(spy, rows)
    cpu = {"web": sampler.cpu("web"), "worker": sampler.cpu("worker")}
    if not stack.sqlite:
        cpu["postgres (whole server)"] = sampler.cpu("postgres")
    cpu["bench client"] = sum(os.times()[:2]) - client_before
    cpu["machine"] = machine_busy() - busy_before
    mb = lambda kb: kb / 1024.0  # noqa: E731
    return UploadResult(
        what=what,
        rows=rows,
        seconds=t_ready - t0,
        request_seconds=t_accepted - t0,
        queued_seconds=t_processing - t_accepted,
        reading_seconds=t_saving - t_processing,
        saving_seconds=t_ready - t_saving,
        result=state.get("result") or {},
        web_peak_mb=mb(sampler.peak_sum["web"]),
        web_pss_mb=mb(sampler.peak_pss["web"]),
        web_one_mb=mb(sampler.peak_one["web"]),
        web_hwm_mb=mb(sampler.hwm["web"]),
        web_start_mb=mb(sampler.start_sum["web"]),
        worker_peak_mb=mb(sampler.peak_sum["worker"]),
        worker_pss_mb=mb(sampler.peak_pss["worker"]),
        worker_one_mb=mb(sampler.peak_one["worker"]),
        worker_hwm_mb=mb(sampler.hwm["worker"]),
        worker_start_mb=mb(sampler.start_sum["worker"]),
        cpu=cpu,
        load=(load_before, load1()),
        spied=bool(spy),
    )


# ------------------------------------------------------------------------------------------- py-spy
# Where the real worker's wall time goes during one upload: py-spy samples the worker (and its pool child) 100
# times a second, idle (waiting on the database) included; each sample is put in the phase of the deepest
# ingest function on its stack.

SPY_PHASES = [  # (phase, function, file): the first match from the leaf of the stack upwards wins
    ("COMMIT (deferred FK checks)", "_commit", "django/db/backends/base/base.py"),
    ("INSERT ... SELECT publish", "execute", "datasets/bulkload.py"),
    ("COPY to stage", "flush", "datasets/bulkload.py"),
    ("ANALYZE stage", "finish", "datasets/bulkload.py"),
    ("sha256 of the file", "file_sha256", "datasets/services/files.py"),
    ("progress writes", "__call__", "datasets/services/ingest.py"),
    ("validate_prediction (+ orjson.dumps)", "validate_prediction", "datasets/parsers.py"),
    ("validate_item (+ orjson.dumps)", "validate_item", "datasets/parsers.py"),
    ("read lines + orjson.loads", "iter_jsonl", "datasets/readers.py"),
    ("stage.add (buffer)", "add", "datasets/bulkload.py"),
    ("PredictionSet row, savepoints", "_publish", "models_app/services/predictions.py"),
    ("DatasetVersion row, savepoints", "_publish", "datasets/services/datasets.py"),
    ("ingest loop (other)", "prediction_set_ingest", "models_app/services/predictions.py"),
    ("ingest loop (other)", "_stage_items", "datasets/services/datasets.py"),
    ("ingest (other)", "dataset_version_ingest", "datasets/services/datasets.py"),
    ("claim, lookups, finish (upload row, file delete)", "upload_process", "datasets/services/uploads.py"),
]


@dataclass
class Spy:
    proc: subprocess.Popen
    out: Path


def find_py_spy(option: str) -> str:
    if option and option != "auto":
        return option
    for candidate in (shutil.which("py-spy"), "/tmp/pyspy-inst/bin/py-spy"):
        if candidate and Path(candidate).exists():
            return candidate
    return ""


def start_py_spy(binary: str, stack: Stack) -> Spy:
    out = stack.work / f"py-spy-{uuid.uuid4().hex[:6]}.txt"
    env = dict(os.environ)
    if binary.startswith("/tmp/pyspy-inst/"):
        env["PYTHONPATH"] = "/tmp/pyspy-inst"
    with open(stack.work / "py-spy.log", "wb") as log:  # the child holds its own descriptor
        proc = subprocess.Popen(
            [
                binary,
                "record",
                "--pid",
                str(stack.pid("worker")),
                "--subprocesses",
                "--idle",
                "--rate",
                "100",
                "--format",
                "raw",
                "--output",
                str(out),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    time.sleep(1.0)  # attach before the upload starts
    return Spy(proc, out)


def stop_py_spy(spy: Spy, rows: int) -> None:
    spy.proc.send_signal(signal.SIGINT)
    try:
        spy.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        spy.proc.kill()
        spy.proc.wait(timeout=5)
    if not spy.out.exists():
        print("  py-spy: no output (see py-spy.log)")
        return
    totals: dict[str, int] = {}
    for line in spy.out.read_text(errors="replace").splitlines():
        stack_text, _, count = line.rpartition(" ")
        if "upload_process" not in stack_text:
            continue  # the worker waiting for a task, the main process, heartbeats
        frames = stack_text.split(";")
        phase = "other (in the task)"
        for frame in reversed(frames):
            function = frame.split(" (", 1)[0]  # py-spy names methods Class.method
            hit = next(
                (
                    name
                    for name, fn, path in SPY_PHASES
                    if (function == fn or function.endswith("." + fn)) and path in frame
                ),
                None,
            )
            if hit:
                phase = hit
                break
        totals[phase] = totals.get(phase, 0) + int(count)
    all_samples = sum(totals.values()) or 1
    print(
        f"  py-spy on the worker during this upload (100 Hz, waiting on the database included): "
        f"{all_samples / 100:.1f} s in the task"
    )
    for phase, n in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"    {phase:<50} {n / 100:7.1f} s {100 * n / all_samples:5.1f}%")


# ------------------------------------------------------------------------------------------ the run


@dataclass
class SizeResult:
    rows: int
    dataset: UploadResult
    predictions: UploadResult
    copy_seconds: float | None
    counts: tuple[int, int]
    nprocs: str


def db_counts(stack: Stack, dataset_version: int, prediction_set: int) -> tuple[int, int, int, int]:
    """(items of the version, predictions of the set, all items, all predictions)."""
    sql = (
        "SELECT (SELECT count(*) FROM datasets_item i JOIN datasets_datasetversion v ON v.id = i.version_id "
        "        JOIN datasets_dataset d ON d.id = v.dataset_id WHERE d.name = 'bench-items' AND v.number = {v}),"
        " (SELECT count(*) FROM models_app_prediction WHERE prediction_set_id = {p}),"
        " (SELECT count(*) FROM datasets_item), (SELECT count(*) FROM models_app_prediction)"
    )
    sql = sql.format(v=int(dataset_version), p=int(prediction_set))
    if stack.sqlite:
        assert stack.sqlite_path is not None  # every SQLite stack has its file
        with sqlite3.connect(stack.sqlite_path) as conn:
            return tuple(conn.execute(sql).fetchone())
    with pg_connect(stack.db) as conn:
        return tuple(one_row(conn.execute(sql)))


def copy_baseline(db: str, predictions: Path) -> float:
    """Seconds for a raw COPY of the prediction rows (parsed with orjson) into a bare table, commit included."""
    with pg_connect(db) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy_baseline")
        conn.execute(
            "CREATE TABLE bench_copy_baseline (id bigserial primary key, item_id text, output jsonb, "
            "score double precision)"
        )
        conn.commit()
        checkpoint()
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("COPY bench_copy_baseline (item_id, output, score) FROM STDIN") as copy,
            open(predictions, "rb") as f,
        ):
            for line in f:
                obj = orjson.loads(line)
                copy.write_row((obj["id"], orjson.dumps(obj["output"]).decode(), obj["score"]))
        conn.commit()
        elapsed = time.perf_counter() - started
        n = one_row(conn.execute("SELECT count(*) FROM bench_copy_baseline"))[0]
        conn.execute("DROP TABLE bench_copy_baseline")
        conn.commit()
    print(f"  raw COPY baseline: {n:,} rows in {elapsed:.1f} s", flush=True)
    return elapsed


def run_size(args, n: int, items: Path, predictions: Path) -> SizeResult:
    work = Path(tempfile.mkdtemp(prefix=f"stack-{n}-", dir=args.tmp))
    stack = start_stack(args, work)
    try:
        nprocs = f"web {len(process_tree(stack.pid('web')))} processes, worker {len(process_tree(stack.pid('worker')))}"
        print(f"  stack up on :{stack.port} ({nprocs}); load1 {load1():.2f}", flush=True)
        code, body = api(stack, "POST", "/api/v1/datasets/", {"name": "bench-items", "description": "ingest benchmark"})
        assert code == 201, (code, body)
        ds = upload_and_wait(
            stack,
            "dataset",
            "/api/v1/datasets/bench-items/versions/",
            {},
            items,
            n,
            py_spy=args.py_spy if n == max(args.sizes) else "",
        )
        print_upload(ds)
        code, body = api(stack, "POST", "/api/v1/models/", {"name": "bench-model"})
        assert code == 201, (code, body)
        code, body = api(stack, "POST", "/api/v1/models/bench-model/versions/", {"version": "1.0.0"})
        assert code == 201, (code, body)
        spy = args.py_spy if n == max(args.sizes) else ""
        pr = upload_and_wait(
            stack,
            "predictions",
            "/api/v1/models/bench-model/versions/1.0.0/predictions/",
            {"dataset": "bench-items", "dataset_version": str(ds.result["version"])},
            predictions,
            n,
            py_spy=spy,
        )
        print_upload(pr)
        counts = db_counts(stack, ds.result["version"], pr.result["prediction_set"])
        print(
            f"  counts in the database: {counts[0]:,} items in the version, {counts[1]:,} predictions in the set "
            f"({counts[2]:,} / {counts[3]:,} in all) -> {'OK' if counts == (n, n, n, n) else 'MISMATCH'}",
            flush=True,
        )
    finally:
        stop_stack(stack)
    copy_seconds = None
    if not args.sqlite and not args.no_baseline:
        copy_seconds = copy_baseline(stack.db, predictions)
    if not args.sqlite and not (args.profile and n == max(args.sizes)):
        drop_database(stack.db)
    if not args.keep_files:
        shutil.rmtree(work, ignore_errors=True)
    return SizeResult(rows=n, dataset=ds, predictions=pr, copy_seconds=copy_seconds, counts=counts[:2], nprocs=nprocs)


def print_upload(u: UploadResult) -> None:
    cpu = ", ".join(f"{k} {v:.1f}" for k, v in u.cpu.items())
    print(
        f"  {u.what:<12} {u.rows:>9,} rows in {u.seconds:7.1f} s = {u.rate:>9,.0f} rows/s{' (py-spy attached)' if u.spied else ''} "
        f"[POST {u.request_seconds:.1f} s, queued {u.queued_seconds:.1f}, reading {u.reading_seconds:.1f}, "
        f"saving {u.saving_seconds:.1f}]\n"
        f"  {'':<12} peak RSS web {u.web_peak_mb:.0f} MB (PSS {u.web_pss_mb:.0f}; largest process {u.web_one_mb:.0f}, "
        f"VmHWM {u.web_hwm_mb:.0f}; {u.web_start_mb:.0f} before), worker {u.worker_peak_mb:.0f} MB "
        f"(PSS {u.worker_pss_mb:.0f}; largest {u.worker_one_mb:.0f}, VmHWM {u.worker_hwm_mb:.0f}; "
        f"{u.worker_start_mb:.0f} before)\n"
        f"  {'':<12} cpu s: {cpu}; load1 {u.load[0]:.2f} -> {u.load[1]:.2f}",
        flush=True,
    )


def print_summary(args, results: list[SizeResult]) -> None:
    engine = "SQLite (embedded default)" if args.sqlite else "PostgreSQL (production settings)"
    print(
        f"\n== ingest benchmark summary: {engine}, gunicorn {args.web_workers} workers, "
        f"celery {'solo' if args.sqlite else 'prefork, concurrency 1'}; load average now "
        f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])} =="
    )
    print(
        f"{'rows':>10} | {'dataset rows/s':>14} | {'predictions rows/s':>18} | {'raw COPY rows/s':>15} | {'% of COPY':>9} | "
        f"{'web MB: RSS sum / PSS / largest':>31} | {'worker MB: RSS sum / PSS / largest':>34} | counts"
    )
    for r in results:
        copy_rate = r.rows / r.copy_seconds if r.copy_seconds else None
        pct = f"{100 * r.predictions.rate / copy_rate:.0f}%" if copy_rate else "-"
        mem = {}
        for g in ("web", "worker"):
            mem[g] = " / ".join(
                f"{max(getattr(r.dataset, f'{g}_{k}_mb'), getattr(r.predictions, f'{g}_{k}_mb')):.0f}"
                for k in ("peak", "pss", "one")
            )
        ok = "OK" if r.counts == (r.rows, r.rows) else f"MISMATCH {r.counts}"
        print(
            f"{r.rows:>10,} | {r.dataset.rate:>14,.0f} | {r.predictions.rate:>18,.0f} | "
            f"{(f'{copy_rate:,.0f}' if copy_rate else '-'):>15} | {pct:>9} | {mem['web']:>31} | {mem['worker']:>34} | {ok}"
        )
    print(
        "memory: peaks over both uploads of 50 ms samples (PSS every 200 ms); RSS sum counts pages shared between "
        "forked processes once per process, PSS shares them out"
    )

    def peak(r: SizeResult, g: str, k: str = "peak") -> float:
        return max(getattr(r.dataset, f"{g}_{k}_mb"), getattr(r.predictions, f"{g}_{k}_mb"))

    last = results[-1]
    checks: list[tuple[str, bool, str]] = []
    if not args.sqlite:
        copy_rate = last.rows / last.copy_seconds if last.copy_seconds else None
        checks += [
            (
                "predictions >= 100,000 rows/s end to end",
                last.predictions.rate >= 100_000,
                f"{last.predictions.rate:,.0f}",
            ),
            (
                "predictions >= 50% of raw COPY",
                bool(copy_rate and last.predictions.rate >= 0.5 * copy_rate),
                f"{100 * last.predictions.rate / copy_rate:.0f}%" if copy_rate else "-",
            ),
        ]
    for k, label in (("peak", "RSS sum"), ("pss", "PSS sum"), ("one", "largest process RSS")):
        values = [(r.rows, g, peak(r, g, k)) for r in results for g in ("web", "worker")]
        checks.append(
            (
                f"peak {label} <= 300 MB per group",
                all(v <= 300 for *_, v in values),
                ", ".join(f"{g} {v:.0f}" + (f" @{n:,}" if len(results) > 1 else "") for n, g, v in values),
            )
        )
    if len(results) > 1:
        first = results[0]
        growth = {g: peak(last, g, "one") - peak(first, g, "one") for g in ("web", "worker")}
        checks.append(
            (
                f"flat from {first.rows:,} to {last.rows:,} rows (largest process grows <= 20 MB)",
                all(v <= 20 for v in growth.values()),
                ", ".join(f"{g} {v:+.0f} MB" for g, v in growth.items()),
            )
        )
    print(f"targets (at {last.rows:,} rows):")
    for name, met, value in checks:
        print(f"  {'MET   ' if met else 'MISSED'} {name}: {value}")


# --------------------------------------------------------------------------------------------- profile


def profile_predictions(args, n: int, predictions: Path) -> None:
    """The worker's predictions ingest, in this process, on the database the run kept: its stages one by one,
    the whole, then the whole under cProfile."""
    work = Path(tempfile.mkdtemp(prefix="profile-", dir=args.tmp))
    env, _, _ = stack_env(args, work, "unused")
    os.environ.update(env)
    import django

    django.setup()
    from django.core.files import File
    from django.db import connection

    import datasets.copyload as copyload
    import models_app.services.prediction_copy as copy_path
    import models_app.services.predictions as preds
    from core.models import User
    from datasets.item_index import ItemIndex
    from datasets.models import DatasetVersion
    from datasets.readers import ByteCounter
    from datasets.services.files import file_sha256
    from models_app.models import ModelVersion, RegisteredModel

    user = User.objects.get(username="bench-ingest")
    model = RegisteredModel.objects.get(name="bench-model")
    dataset_version = DatasetVersion.objects.get(dataset__name="bench-items")

    def one(version: str, profiler: cProfile.Profile | None) -> float:
        mv = ModelVersion.objects.create(model=model, version=version, created_by=user)
        with open(predictions, "rb") as raw:
            t = time.perf_counter()
            if profiler:
                profiler.enable()
            ps, created = preds.prediction_set_ingest(
                model_version=mv,
                dataset_version=dataset_version,
                file=File(raw, name=predictions.name),
                source_name=predictions.name,
                created_by=user,
            )
            if profiler:
                profiler.disable()
            total = time.perf_counter() - t
        assert created and ps.prediction_count == n, (created, ps.prediction_count)
        return total

    def alone(name: str, fn) -> None:
        t0 = time.perf_counter()
        fn()
        print(f"  alone: {name:<64} {time.perf_counter() - t0:7.2f} s")

    def rows() -> list:  # with the cyclic GC paused, as in the app's loop (a million live tuples otherwise
        gc.disable()  # trigger collection after collection)
        try:
            with open(predictions, "rb") as f:
                return list(copy_path._jsonl_rows(f, ByteCounter()))
        finally:
            gc.enable()

    print(
        f"\n== profile: prediction_set_ingest of {n:,} rows in this process (PostgreSQL, no progress writes); "
        f"load1 {load1():.2f} ==",
        flush=True,
    )
    total = one("profile-1", None)
    print(f"  total {total:.2f} s = {n / total:,.0f} rows/s (the COPY runs beside the parsing, on PostgreSQL's core)")
    with open(predictions, "rb") as f:
        alone("sha256 of the file", lambda: file_sha256(File(f)))
    index = ItemIndex.load(dataset_version.pk, dataset_version.item_count)
    assert index is not None  # the version was ingested above
    alone("ItemIndex.load (the version's ids and keys)", lambda: ItemIndex.load(dataset_version.pk, n))
    alone("read + orjson.loads + check + orjson.dumps (_jsonl_rows)", rows)
    parsed = rows()
    size = copyload.BATCH_ROWS
    batches = [parsed[i : i + size] for i in range(0, len(parsed), size)]
    # Bound as a default: a closure over `batches` would read a name that the `del` below unbinds.
    alone(
        "item keys (ItemIndex.lookup per batch), in memory",
        lambda batches=batches: [index.lookup([item_id for item_id, _ in batch]) for batch in batches],
    )
    del parsed, batches

    profiler = cProfile.Profile()
    total_p = one("profile-2", profiler)
    print(f"\n  under cProfile: {total_p:.1f} s (cProfile adds overhead to every Python call); top 25 by own time:")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    print("\n".join("  " + line for line in out.getvalue().splitlines() if line.strip())[:8000])
    prof_path = Path(args.tmp) / "ingest-predictions.prof"
    stats.dump_stats(prof_path)
    print(f"  profile saved to {prof_path}")
    connection.close()
    shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sizes", type=str, default="", help="comma-separated sizes, e.g. 100000,1000000")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--sqlite", action="store_true", help="the embedded default (SQLite, filesystem broker)")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--db-name", default=DB_NAME)
    parser.add_argument("--broker-db", type=int, default=BROKER_DB)
    parser.add_argument("--no-baseline", action="store_true", help="skip the raw COPY baseline")
    parser.add_argument("--profile", action="store_true", help="then profile the predictions ingest in-process")
    parser.add_argument(
        "--py-spy",
        nargs="?",
        const="auto",
        default="",
        help="sample the worker with py-spy during the largest size's uploads (path, or found on PATH)",
    )
    parser.add_argument("--data-dir", default="", help="keep the generated files here (reused across runs)")
    parser.add_argument("--keep-files", action="store_true")
    args = parser.parse_args()
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()] or [args.rows]
    if args.sqlite and args.profile:
        parser.error("--profile measures the PostgreSQL path")
    if args.py_spy:
        args.py_spy = find_py_spy(args.py_spy)
        if not args.py_spy:
            parser.error("--py-spy: py-spy not found (pip install py-spy)")
    args.tmp = tempfile.mkdtemp(prefix="signoff-bench-ingest-")
    data_dir = Path(args.data_dir) if args.data_dir else Path(args.tmp)
    data_dir.mkdir(parents=True, exist_ok=True)

    print(
        f"signoff ingest benchmark {time.strftime('%Y-%m-%d %H:%M:%S %Z')} on {platform.node()}: "
        f"{os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
        f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}; python {platform.python_version()}"
    )
    if not args.sqlite:
        with admin_connect() as conn:
            settings = {
                k: one_row(conn.execute(f"SHOW {k}"))[0]
                for k in ("server_version", "shared_buffers", "synchronous_commit", "autovacuum", "max_wal_size")
            }
        print("  postgres " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    results = []
    try:
        for n in args.sizes:
            print(f"\n== {n:,} rows on {'SQLite' if args.sqlite else 'PostgreSQL'} ==", flush=True)
            items, predictions = generate(data_dir, n, args.seed)
            results.append(run_size(args, n, items, predictions))
        print_summary(args, results)
        if args.profile:
            n = max(args.sizes)
            _, predictions = generate(data_dir, n, args.seed)
            try:
                profile_predictions(args, n, predictions)
            finally:
                drop_database(args.db_name)
    finally:
        if not args.keep_files:
            shutil.rmtree(args.tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
