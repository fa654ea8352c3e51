"""Benchmark "give me my next task" and "submit a judgment" with many concurrent reviewers.

    .venv/bin/python bench/next_task.py [--tasks 1000000] [--reviewers 32] [--seconds 60] [--workers N]

What it does, end to end, against the real stack (PostgreSQL, gunicorn, production settings):

1. drops and recreates the database `signoff_bench` on 127.0.0.1:5432 (user postgres) and migrates it;
2. builds one pairwise campaign of --tasks tasks (overlap 2): users, dataset, versions and the campaign row
   through the ORM, the bulk rows (items, predictions x2, tasks, task outputs x2) with INSERT ... SELECT
   ... generate_series; then checks that the campaign has the shape `campaign_create` gives, on a
   three-item reference built by `campaign_create` itself in a rolled-back transaction;
3. starts gunicorn on a free port of 127.0.0.1 and waits for /livez;
4. starts a Celery worker and beat (production settings, the web's Redis broker; --no-worker leaves them out,
   and the output says so), as a deployment runs them while people review: the gate checks each judgment
   schedules run beside the requests;
5. runs phases of --seconds each: "paced-before" (each reviewer thinks U(0.25, 0.75) s before each request),
   "paced-after" (one think per judgment, before submitting it; get-next follows each submit at once, as the
   review page does) and "saturated" (no think time; ~1% of submissions resent at once with the same client_id);
   --pacing picks the paced phases (before, after-judgment or both);
6. after each phase checks the invariants in the database (never over capacity, one counted judgment per
   reviewer and task, no acknowledged judgment lost, no duplicated client_id) and prints a table, with the CPU
   per request of gunicorn, the Celery worker (and beat) and PostgreSQL, and the gate checks the worker received;
7. stops gunicorn, the worker and beat, and drops the database (--keep keeps it).

Only 127.0.0.1 is contacted. Every loop is bounded in time.

The default run measures the app as it is. Also: --gunicorn-config bench/next_task_fixes.py measures a further
change to get-next, monkeypatched in the workers (see that file); --prejudged N starts from a campaign well
under way; --explain ends with EXPLAIN ANALYZE of every query the get-next view sends; --keep / --reuse keep
the database and run again on it. Results: docs/bench-next-task.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import urllib3

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
BACKGROUND = [str(PYTHON), "-m", "config.background"]  # worker and beat as deployed (config/background.py)
GATE_CHECK_TASK = "reviews.tasks.campaign_gate_check_task"
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
DB_NAME = "signoff_bench"  # --db-name changes it (two people benchmarking on one server need two databases)
# The gate must stay pending for the whole run, as in a long campaign's middle: decided, it would stop the hand-out
# (stop_when_decided) and the worker's checks would return at once. Every answer is a draw for the candidate (0.5), on
# the midpoint of a test of 0.45 against 0.55, so the evidence never leans either way; the worker checks the gate after
# each debounce window as it does while people review. (With the API's default policy and random answers the gate
# failed after ~90 items.)
CHOICES = ("tie", "both_bad")
GATE_GIVEN = {"min_win_rate": 0.45, "alternative": 0.55}
BROKER_DB = 15  # redis://127.0.0.1:6379/15; --broker-db changes it (one per person benchmarking on one Redis)
BROKER_QUEUE = "signoff"  # CELERY_TASK_DEFAULT_QUEUE
OVERLAP = 2
LEASE_SECONDS = 600
READ_TIMEOUT = 30.0
HTTP_TIMEOUT = urllib3.Timeout(connect=5.0, read=READ_TIMEOUT)
HEALTH_WAIT_SECONDS = 60
# The deployment's gunicorn shape (Dockerfile, docker-compose, bin/serve-embedded), chosen by this bench on a 2-core
# machine (docs/bench-next-task.md, 2026-12-06): gthread, 3 workers x 4 threads. Threads keep the client's connection
# alive, where a sync worker closes it after each request: ~25% less CPU per request.
DEFAULT_WORKER_CLASS = "gthread"
DEFAULT_WORKERS = 3
DEFAULT_THREADS = 4


# ---------------------------------------------------------------------------------------------- database


def admin_connect() -> psycopg.Connection:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True)


def recreate_database() -> None:
    with admin_connect() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def drop_database() -> None:
    with admin_connect() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def app_env(*, secret: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "SECRET_KEY": secret,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{DB_NAME}",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{BROKER_DB}",
            "SECURE_SSL_REDIRECT": "false",
            "CONN_MAX_AGE": "600",  # each worker keeps its connection for the whole run
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run([str(PYTHON), "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


# ------------------------------------------------------------------------------------------------ build


@dataclass
class Fixture:
    campaign_id: int
    tasks: int
    reviewers: list[tuple[int, str, str]]  # (user id, username, token)
    build_seconds: float
    matches_campaign_create: str
    gate_policy: dict | None = None
    indexes: str = ""


ITEMS_SQL = """
INSERT INTO datasets_item (external_id, input, image, thumbnail, reference, tags, version_id)
SELECT 'item-' || lpad(g::text, 7, '0'),
       jsonb_build_object('ticket', 'Ticket #' || g || ': the export to CSV times out after 30 s on large projects. '
                                     'Summarise the problem for the on-call engineer in one sentence.'),
       '', '', NULL, '[]'::jsonb, %(version)s
FROM generate_series(1, %(n)s) AS g
"""
PREDICTIONS_SQL = """
INSERT INTO models_app_prediction (output, score, item_id, prediction_set_id)
SELECT to_jsonb(%(text)s || ' (item ' || i.id || ')'), NULL, i.id, %(prediction_set)s
FROM datasets_item AS i WHERE i.version_id = %(version)s ORDER BY i.id
"""
# campaign_create: one task per item, sort_key uniform on [0, 1) for random sampling, written in hand-out order
TASKS_SQL = """
INSERT INTO reviews_task (capacity, assigned_count, priority, sort_key, campaign_id, item_id)
SELECT %(overlap)s, 0, 0, k.sort_key, %(campaign)s, k.id
FROM (SELECT i.id, random() AS sort_key FROM datasets_item AS i WHERE i.version_id = %(version)s) AS k
ORDER BY k.sort_key, k.id
"""
# campaign_create: per task, the candidate's output then the baseline's
TASK_OUTPUTS_SQL = """
INSERT INTO reviews_taskoutput (model_version_id, prediction_id, task_id)
SELECT v.model_version, p.id, t.id
FROM reviews_task AS t
CROSS JOIN (VALUES (0, %(candidate)s::bigint, %(candidate_set)s::bigint),
                   (1, %(baseline)s::bigint, %(baseline_set)s::bigint)) AS v(ord, model_version, prediction_set)
JOIN models_app_prediction AS p ON p.prediction_set_id = v.prediction_set AND p.item_id = t.item_id
WHERE t.campaign_id = %(campaign)s
ORDER BY t.id, v.ord
"""


BULK_TABLES = ("datasets_item", "models_app_prediction", "reviews_task", "reviews_taskoutput")


def secondary_indexes(cur) -> list[tuple[str, str, str, str | None]]:
    """(table, index name, CREATE INDEX statement, unique constraint definition or None) of the bulk tables'
    indexes other than the primary keys, exactly as the migrations made them."""
    cur.execute(
        """
        SELECT t.relname, x.relname, pg_get_indexdef(i.indexrelid), pg_get_constraintdef(c.oid)
        FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
        LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype = 'u'
        WHERE t.relname = ANY(%s) AND NOT i.indisprimary ORDER BY t.relname, x.relname""",
        [list(BULK_TABLES)],
    )
    return cur.fetchall()


def drop_indexes(cur, indexes) -> None:
    for table, name, _, constraint in indexes:
        cur.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"' if constraint else f'DROP INDEX "{name}"')


def create_indexes(cur, indexes) -> None:
    for table, name, create, constraint in indexes:
        cur.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {constraint}' if constraint else create)


def step(cur, name: str, sql: str, params: dict) -> None:
    started = time.perf_counter()
    cur.execute(sql, params)
    print(f"    {name:<16}{cur.rowcount:>10,} rows {time.perf_counter() - started:6.1f} s", flush=True)


def build_fixture(*, n_tasks: int, n_reviewers: int) -> Fixture:
    from django.db import connection, transaction
    from knox.models import AuthToken

    from core.models import User
    from datasets.models import Dataset, DatasetVersion
    from models_app.models import ModelVersion, PredictionSet, RegisteredModel
    from reviews.gate import GatePolicy
    from reviews.models import Campaign
    from reviews.services.campaigns import campaign_plan_update

    gate = GatePolicy.from_dict(GATE_GIVEN).as_dict()
    started = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET LOCAL synchronous_commit = off")
            cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
            cur.execute("SET LOCAL work_mem = '64MB'")
            # The rows below are generated consistent (each from the rows it refers to), so the deferred foreign
            # key triggers, ~13 million checks at COMMIT for 1M tasks, are skipped for this transaction.
            cur.execute("SET LOCAL session_replication_role = replica")
        lead = User(username="bench-lead", role=User.Role.DATA_SCIENTIST)
        lead.set_unusable_password()
        lead.save()
        reviewers = []
        for i in range(n_reviewers):
            user = User(username=f"bench-reviewer-{i + 1:03d}", role=User.Role.REVIEWER)
            user.set_unusable_password()
            reviewers.append(user)
        reviewers = User.objects.bulk_create(reviewers)
        dataset = Dataset.objects.create(name="bench-tickets", description="next-task benchmark", created_by=lead)
        version = DatasetVersion.objects.create(
            dataset=dataset,
            number=1,
            sha256=uuid.uuid4().hex * 2,
            item_count=n_tasks,
            source_name="generate_series",
            created_by=lead,
        )
        model = RegisteredModel.objects.create(name="bench-summariser", created_by=lead)
        baseline = ModelVersion.objects.create(model=model, version="1", created_by=lead)
        candidate = ModelVersion.objects.create(model=model, version="2", created_by=lead)
        sets = {
            mv.pk: PredictionSet.objects.create(
                model_version=mv,
                dataset_version=version,
                sha256=uuid.uuid4().hex * 2,
                prediction_count=n_tasks,
                source_name="generate_series",
                created_by=lead,
            )
            for mv in (candidate, baseline)
        }
        with connection.cursor() as cur:
            # Loading into bare tables and building each index once afterwards is ~3x faster than maintaining
            # 13 indexes row by row (one of them on a random key); they are recreated from their own definitions.
            indexes = secondary_indexes(cur)
            drop_indexes(cur, indexes)
            step(cur, "items", ITEMS_SQL, {"version": version.pk, "n": n_tasks})
            for mv, text in (
                (candidate, "Large CSV exports time out; needs streaming."),
                (baseline, "User reports a problem with exports."),
            ):
                step(
                    cur,
                    f"predictions {mv.version}",
                    PREDICTIONS_SQL,
                    {"text": text, "prediction_set": sets[mv.pk].pk, "version": version.pk},
                )
        # The campaign row as campaign_create writes it (kind pairwise, the API's defaults).
        campaign = Campaign.objects.create(
            name="bench next-task",
            kind=Campaign.Kind.PAIRWISE,
            dataset_version=version,
            candidate=candidate,
            baseline=baseline,
            labels=[],
            multi_label=False,
            show_suggestion=True,
            rubric=[],
            content_format=Campaign.ContentFormat.AUTO,
            overlap=OVERLAP,
            sampling=Campaign.Sampling.RANDOM,
            quota_per_reviewer=None,
            lease_seconds=LEASE_SECONDS,
            gate_policy=gate,
            guidelines="",
            created_by=lead,
        )
        campaign.reviewers.set(reviewers)
        campaign.others.set([])
        with connection.cursor() as cur:
            step(cur, "tasks", TASKS_SQL, {"overlap": OVERLAP, "campaign": campaign.pk, "version": version.pk})
            step(
                cur,
                "task outputs",
                TASK_OUTPUTS_SQL,
                {
                    "candidate": candidate.pk,
                    "candidate_set": sets[candidate.pk].pk,
                    "baseline": baseline.pk,
                    "baseline_set": sets[baseline.pk].pk,
                    "campaign": campaign.pk,
                },
            )
            started_ix = time.perf_counter()
            create_indexes(cur, indexes)
            rebuilt = secondary_indexes(cur)
            print(f"    {len(indexes)} indexes rebuilt in {time.perf_counter() - started_ix:.1f} s", flush=True)
        campaign_plan_update(campaign=campaign)  # as campaign_create ends
    # The definitions were read from the freshly migrated tables (the current migrations, e.g. task_open_order_idx
    # on (campaign, priority, sort_key, id)); the rebuilt set must be exactly that set.
    index_problems = [
        f"index {name} not rebuilt as migrated" for name in sorted({i[1] for i in set(indexes) ^ set(rebuilt)})
    ]
    claim_index = next((create for _, name, create, _ in rebuilt if name == "task_open_order_idx"), None)
    if claim_index is None:
        index_problems.append("task_open_order_idx missing")
    load_seconds = time.perf_counter() - started
    vacuum_analyze()
    build_seconds = time.perf_counter() - started
    print(f"  rows written in {load_seconds:.1f} s; VACUUM ANALYZE done at {build_seconds:.1f} s", flush=True)

    matches = compare_with_campaign_create(
        campaign, lead=lead, reviewers=reviewers, candidate=candidate, baseline=baseline, gate=GATE_GIVEN
    )
    if index_problems:
        matches = ("NO: " if matches == "yes" else matches + "; ") + "; ".join(index_problems)
    tokens = [(u.pk, u.username, AuthToken.objects.create(user=u, expiry=None)[1]) for u in reviewers]
    n = campaign.tasks.count()
    return Fixture(
        campaign_id=campaign.pk,
        tasks=n,
        reviewers=tokens,
        build_seconds=build_seconds,
        matches_campaign_create=matches,
        gate_policy=gate,
        indexes=f"{len(rebuilt)} secondary indexes rebuilt from the migrated definitions, "
        f"{'identical' if rebuilt == indexes else 'DIFFERENT'}; claim index: "
        f"{' '.join((claim_index or '-').split(' ON ', 1)[-1].split())}",
    )


def analyze_growing_tables() -> None:
    """Autovacuum is off on this server, so nothing would re-ANALYZE the tables the run fills; with the
    statistics of an empty table the planner picks nested loops over a materialised scan of all of a
    reviewer's assignments. Analyze them before each phase, as autovacuum's autoanalyze would."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("ANALYZE reviews_assignment, reviews_judgment, knox_authtoken")
    connection.close()


def load_fixture() -> Fixture:
    """The campaign of an earlier --keep run, with fresh tokens for its reviewers."""
    from knox.models import AuthToken

    from reviews.models import Campaign

    campaign = Campaign.objects.get(name="bench next-task")
    reviewers = list(campaign.reviewers.order_by("id"))
    tokens = [(u.pk, u.username, AuthToken.objects.create(user=u, expiry=None)[1]) for u in reviewers]
    return Fixture(
        campaign_id=campaign.pk,
        tasks=campaign.tasks.count(),
        reviewers=tokens,
        build_seconds=0.0,
        matches_campaign_create="not checked (--reuse)",
    )


def vacuum_analyze() -> None:
    """ANALYZE for the planner; VACUUM too, because this server runs with autovacuum off and a freshly
    loaded table without a visibility map would make every index scan visit the heap."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) datasets_item, models_app_prediction, reviews_task, reviews_taskoutput")
        cur.execute("ANALYZE")
        # The build leaves ~2 GB of WAL and dirty pages behind; without this, the checkpoint that writes them
        # out falls in the first phase and its fsyncs stall commits (p99 ~400 ms, measured), which is the
        # bench's own doing: a running service does not start each minute with a million fresh rows.
        cur.execute("CHECKPOINT")


def compare_with_campaign_create(campaign, *, lead, reviewers, candidate, baseline, gate) -> str:
    """Build a three-item campaign with the real campaign_create in a transaction that is rolled back, and
    compare it field by field with the bulk-built one. Returns "yes" or what differs."""
    from django.db import transaction
    from django.forms.models import model_to_dict

    from datasets.models import Dataset, DatasetVersion, Item
    from models_app.models import Prediction, PredictionSet
    from reviews.models import Task, TaskOutput
    from reviews.services.campaigns import campaign_create

    def campaign_fields(c) -> dict:
        # the plan depends on the size (3 items there): both are made by campaign_plan_update
        d = model_to_dict(c, exclude=["id", "dataset_version", "plan"])
        d["reviewers"] = sorted(u.pk for u in d["reviewers"])
        d["others"] = sorted(v.pk for v in d["others"])
        return d

    def task_shape(c, limit=None) -> list[tuple]:
        tasks = list(Task.objects.filter(campaign=c).order_by("id")[:limit])
        shapes, last = [], (-1, -1.0)
        for t in tasks:
            outputs = list(
                TaskOutput.objects.filter(task=t).select_related("prediction__prediction_set").order_by("id")
            )
            shapes.append(
                (
                    t.capacity,
                    t.assigned_count,
                    t.priority,
                    0.0 <= t.sort_key < 1.0,
                    (t.priority, t.sort_key) > last,
                    tuple(
                        (
                            o.model_version_id,
                            o.prediction.item_id == t.item_id,
                            o.prediction.prediction_set.model_version_id == o.model_version_id,
                        )
                        for o in outputs
                    ),
                )
            )
            last = (t.priority, t.sort_key)
        return shapes

    class Rollback(Exception):
        pass

    differences: list[str] = []
    try:
        with transaction.atomic():
            dataset = Dataset.objects.create(name="bench-reference", created_by=lead)
            version = DatasetVersion.objects.create(
                dataset=dataset, number=1, sha256="0" * 64, item_count=3, created_by=lead
            )
            items = Item.objects.bulk_create(
                Item(version=version, external_id=f"ref-{i}", input={"q": i}) for i in range(3)
            )
            for mv in (candidate, baseline):
                ps = PredictionSet.objects.create(
                    model_version=mv, dataset_version=version, sha256="1" * 64, prediction_count=3, created_by=lead
                )
                Prediction.objects.bulk_create(
                    Prediction(prediction_set=ps, item=it, output=f"o{it.pk}") for it in items
                )
            reference = campaign_create(
                name=campaign.name,
                kind="pairwise",
                dataset_version=version,
                candidate=candidate,
                baseline=baseline,
                reviewers=reviewers,
                overlap=OVERLAP,
                sampling="random",
                lease_seconds=LEASE_SECONDS,
                gate=gate,
                created_by=lead,
            )
            ours, theirs = campaign_fields(campaign), campaign_fields(reference)
            differences += [f"campaign.{k}: {ours[k]!r} != {theirs[k]!r}" for k in theirs if ours.get(k) != theirs[k]]
            ref_tasks, our_tasks = task_shape(reference), task_shape(campaign, limit=3)
            if set(ref_tasks) != set(our_tasks):
                differences.append(f"tasks: {our_tasks} != {ref_tasks}")
            raise Rollback
    except Rollback:
        pass
    return "yes" if not differences else "NO: " + "; ".join(differences)


# ----------------------------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    describe: str
    log_path: str

    @property
    def access_log(self) -> Path:
        return Path(self.log_path + ".access")

    def access_log_size(self) -> int:
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def server_side_ms(self, since: int) -> dict[str, list[float]]:
        """The server's own time of each get-next and submit logged after byte `since` of its access log."""
        times: dict[str, list[float]] = {"get-next": [], "submit": []}
        with self.access_log.open("rb") as log:
            log.seek(since)
            for line in log.read().decode(errors="replace").splitlines():
                parts = line.split()
                if len(parts) != 4 or not parts[3].isdigit():
                    continue
                method, path, _, micros = parts
                kind = "get-next" if path.endswith("/next/") else "submit" if path.endswith("/judgments/") else ""
                if kind and method in ("GET", "POST"):
                    times[kind].append(int(micros) / 1000.0)
        return times

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_gunicorn(
    env: dict[str, str], *, workers: int, worker_class: str, threads: int, config: str | None, extra: Sequence[str] = ()
) -> Server:
    port = free_port()
    cmd = [
        str(GUNICORN),
        "config.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--threads",
        str(threads),
        "--backlog",
        "2048",
        "--timeout",
        "60",
        "--graceful-timeout",
        "10",
        "--no-control-socket",  # gunicorn 27's default control socket is per user: leave other servers' alone
        "--preload",  # as the Dockerfile and docker-compose start it
        # each request's method, path, status and time in the server (microseconds): the server's side of the
        # latencies, beside the client's (which also holds the load generator's own delays)
        "--access-logformat",
        "%(m)s %(U)s %(s)s %(D)s",
    ]
    if config:
        cmd += ["--config", config]
    cmd += list(extra)
    # Kept after the run for the report; the server writes through its own descriptor once started.
    with tempfile.NamedTemporaryFile(prefix="signoff-bench-gunicorn-", suffix=".log", delete=False) as log:
        cmd += ["--access-logfile", log.name + ".access"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    describe = f"gunicorn {worker_class}, {workers} workers x {threads} thread{'s' if threads > 1 else ''}"
    if config:
        describe += f", --config {os.path.relpath(config, ROOT)}"
    server = Server(proc=proc, port=port, describe=describe, log_path=log.name)
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=1.0, read=5.0))
    deadline = time.monotonic() + HEALTH_WAIT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}; see {log.name}:\n{tail(log.name)}")
        try:
            if http.request("GET", f"{server.base}/livez").status == 200:
                return server
        except urllib3.exceptions.HTTPError:
            pass
        time.sleep(0.2)
    stop_gunicorn(server)
    raise RuntimeError(f"/livez did not answer 200 within {HEALTH_WAIT_SECONDS} s; see {log.name}:\n{tail(log.name)}")


def stop_gunicorn(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)  # the process group this script started
            server.proc.wait(timeout=5)


@dataclass
class Background:
    """The Celery worker and beat the bench runs beside gunicorn (None of each with --no-worker)."""

    procs: dict[str, subprocess.Popen]
    describe: str
    worker_log: str

    def pids(self) -> list[int]:
        return [pid for proc in self.procs.values() for pid in (proc.pid, *_proc_descendants(proc.pid))]

    def gate_checks_received(self) -> int:
        """Gate-check messages the worker has taken from the broker so far: one per publish the web made."""
        if not self.worker_log:
            return 0
        text = Path(self.worker_log).read_text(errors="replace")
        return sum(1 for line in text.splitlines() if GATE_CHECK_TASK in line and " received" in line)


def start_background(env: dict[str, str], *, concurrency: int) -> Background:
    """A worker (prefork, --concurrency processes, as docker-compose runs it) and beat, on the web's broker. The
    worker logs at INFO, so each message it receives is a line: the bench counts the gate checks from it."""
    procs, logs = {}, {}
    schedule = tempfile.mkdtemp(prefix="signoff-bench-beat-")
    commands = {
        "worker": [
            *BACKGROUND, "worker", "--loglevel=INFO", f"--concurrency={concurrency}",
            "--without-gossip", "--without-mingle", "--hostname", f"bench-{uuid.uuid4().hex[:8]}@%h",
        ],
        "beat": [*BACKGROUND, "beat", "--loglevel=WARNING", "--schedule", f"{schedule}/schedule"],
    }  # fmt: skip
    for name, cmd in commands.items():
        with tempfile.NamedTemporaryFile(prefix=f"signoff-bench-{name}-", suffix=".log", delete=False) as log:
            procs[name] = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        logs[name] = log.name
    deadline = time.monotonic() + HEALTH_WAIT_SECONDS
    while time.monotonic() < deadline:  # ready when the worker says so: its first gate check must not wait
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"celery {name} exited with {proc.returncode}:\n{tail(logs[name])}")
        if " ready." in Path(logs["worker"]).read_text(errors="replace"):
            break
        time.sleep(0.2)
    else:
        stop_background(Background(procs, "", ""))
        raise RuntimeError(f"the celery worker was not ready within {HEALTH_WAIT_SECONDS} s:\n{tail(logs['worker'])}")
    return Background(
        procs=procs,
        describe=f"celery worker (prefork x {concurrency}) and beat on redis db {BROKER_DB} "
        f"(logs {logs['worker']}, {logs['beat']})",
        worker_log=logs["worker"],
    )


def stop_background(background: Background) -> None:
    for proc in background.procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in background.procs.values():
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the process group this script started
            proc.wait(timeout=5)


def tail(path: str, lines: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ------------------------------------------------------------------------------------------------ load


@dataclass
class Ack:
    reviewer_id: int
    task_id: int
    client_id: str
    judgment_id: int
    status: int


@dataclass
class Tally:
    next_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    retry_ms: list[float] = field(default_factory=list)
    next_status: collections.Counter = field(default_factory=collections.Counter)
    submit_status: collections.Counter = field(default_factory=collections.Counter)
    retry_status: collections.Counter = field(default_factory=collections.Counter)
    acks: list[Ack] = field(default_factory=list)
    retries_same_judgment: int = 0  # a resend answered 200 with the judgment of the first send
    fresh_answered_200: int = 0  # a new client_id answered as if it were a repeat (must be 0)
    errors: list[str] = field(default_factory=list)

    def merge(self, other: Tally) -> None:
        for name in ("next_ms", "submit_ms", "retry_ms", "acks", "errors"):
            getattr(self, name).extend(getattr(other, name))
        for name in ("next_status", "submit_status", "retry_status"):
            getattr(self, name).update(getattr(other, name))
        self.retries_same_judgment += other.retries_same_judgment
        self.fresh_answered_200 += other.fresh_answered_200


def _request(http: urllib3.PoolManager, method: str, url: str, headers: dict, body: bytes | None = None):
    """(status or 'exc:Name', response or the exception, milliseconds)."""
    started = time.perf_counter()
    try:
        answer = http.request(method, url, headers=headers, body=body, retries=False, timeout=HTTP_TIMEOUT)
        response: urllib3.BaseHTTPResponse | urllib3.exceptions.HTTPError = answer
        status: int | str = answer.status
    except urllib3.exceptions.HTTPError as exc:
        response, status = exc, f"exc:{type(exc).__name__}"
    return status, response, (time.perf_counter() - started) * 1000.0


def _describe(response) -> str:
    if isinstance(response, Exception):
        return repr(response)[:300]
    return response.data[:300].decode(errors="replace") if response is not None else ""


PHASE_PACING = {"paced-before": "before", "paced-after": "after-judgment", "saturated": "none"}


def reviewer_loop(
    *,
    base: str,
    campaign_id: int,
    reviewer: tuple[int, str, str],
    pacing: str,
    retry_rate: float,
    start: threading.Barrier,
    deadline_box: list[float],
    tally: Tally,
    seed: int,
) -> None:
    reviewer_id, _, token = reviewer
    rng = random.Random(seed)
    http = urllib3.PoolManager(maxsize=1, retries=False, timeout=HTTP_TIMEOUT)
    auth = {"Authorization": f"Token {token}", "Accept": "application/json"}
    post_headers = {**auth, "Content-Type": "application/json"}
    next_url = f"{base}/api/v1/campaigns/{campaign_id}/next/"
    start.wait()
    deadline = deadline_box[0]

    def think(when: str) -> None:
        # "before": before every request; "after-judgment": only while the task is on screen, so get-next
        # follows each submit at once (the review page asks for the next task as it sends the judgment)
        if pacing == "before" or (pacing == "after-judgment" and when == "submit"):
            time.sleep(rng.uniform(0.25, 0.75))

    # A cycle that has begun is finished (the judgment on screen is submitted), so the phase ends at most
    # one cycle after the deadline and no assignment is left open by the benchmark itself.
    while time.monotonic() < deadline:
        think("next")
        status, response, ms = _request(http, "GET", next_url, auth)
        tally.next_ms.append(ms)
        tally.next_status[status] += 1
        if status == 204:
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))  # nothing left for this reviewer
            continue
        if status != 200:
            if len(tally.errors) < 5:
                tally.errors.append(f"GET next -> {status}: {_describe(response)}")
            time.sleep(0.05)
            continue
        task_id = response.json()["task"]
        think("submit")
        client_id = str(uuid.uuid4())
        body = json.dumps(
            {"choice": rng.choice(CHOICES), "client_id": client_id, "duration_ms": rng.randint(2000, 30000)}
        ).encode()
        url = f"{base}/api/v1/tasks/{task_id}/judgments/"
        status, response, ms = _request(http, "POST", url, post_headers, body)
        tally.submit_ms.append(ms)
        tally.submit_status[status] += 1
        if status in (200, 201):
            judgment_id = response.json()["id"]
            tally.acks.append(Ack(reviewer_id, task_id, client_id, judgment_id, status))
            if status == 200:
                tally.fresh_answered_200 += 1
        else:
            if len(tally.errors) < 5:
                tally.errors.append(f"POST judgment -> {status}: {_describe(response)}")
            continue
        if retry_rate and rng.random() < retry_rate:
            # the browser did not see the answer and sends the same submission again
            status, response, ms = _request(http, "POST", url, post_headers, body)
            tally.retry_ms.append(ms)
            tally.retry_status[status] += 1
            if status in (200, 201):
                again = response.json()["id"]
                tally.acks.append(Ack(reviewer_id, task_id, client_id, again, status))
                if status == 200 and again == judgment_id:
                    tally.retries_same_judgment += 1


def run_phase(
    server: Server, fixture: Fixture, *, seconds: float, pacing: str, retry_rate: float, seed: int
) -> tuple[Tally, float]:
    n = len(fixture.reviewers)
    start = threading.Barrier(n + 1)
    deadline_box = [0.0]
    tallies = [Tally() for _ in range(n)]
    threads = [
        threading.Thread(
            target=reviewer_loop,
            name=f"reviewer-{i}",
            daemon=True,
            kwargs={
                "base": server.base,
                "campaign_id": fixture.campaign_id,
                "reviewer": fixture.reviewers[i],
                "pacing": pacing,
                "retry_rate": retry_rate,
                "start": start,
                "deadline_box": deadline_box,
                "tally": tallies[i],
                "seed": seed * 1000 + i,
            },
        )
        for i in range(n)
    ]
    for t in threads:
        t.start()
    deadline_box[0] = time.monotonic() + seconds
    began = time.perf_counter()
    start.wait()
    hard_stop = time.monotonic() + seconds + 2 * READ_TIMEOUT + 10
    for t in threads:
        t.join(timeout=max(0.1, hard_stop - time.monotonic()))
    elapsed = time.perf_counter() - began
    stuck = [t.name for t in threads if t.is_alive()]
    total = Tally()
    for tally in tallies:
        total.merge(tally)
    if stuck:
        total.errors.append(f"threads still running at the hard stop: {stuck}")
    return total, elapsed


def warm_up(server: Server, fixture: Fixture) -> None:
    """Two get-next and two judgments per reviewer at once, unrecorded (the invariants count only judgments after
    it): each gunicorn worker loads what it loads on first use (the broker's client with the first gate check it
    schedules, ~20 MB of redis-py) and opens its database connection, as a server that has been up a while has."""

    def one(reviewer):
        http = urllib3.PoolManager(maxsize=1, retries=False, timeout=HTTP_TIMEOUT)
        headers = {"Authorization": f"Token {reviewer[2]}", "Content-Type": "application/json"}
        for _ in range(2):
            answer = http.request("GET", f"{server.base}/api/v1/campaigns/{fixture.campaign_id}/next/", headers=headers)
            if answer.status == 200:
                body = json.dumps({"choice": CHOICES[0], "client_id": str(uuid.uuid4())}).encode()
                task = answer.json()["task"]
                http.request("POST", f"{server.base}/api/v1/tasks/{task}/judgments/", headers=headers, body=body)

    threads = [threading.Thread(target=one, args=(r,), daemon=True) for r in fixture.reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)


# ------------------------------------------------------------------------------------------- cpu usage

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) used by one process so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def _proc_children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def _proc_descendants(pid: int) -> list[int]:
    children = _proc_children(pid)
    return children + [d for c in children for d in _proc_descendants(c)]


def _postgres_pids() -> list[int]:
    """The backends connected to our database: on a shared server, other databases' sessions are other
    processes' load (PostgreSQL's own background processes are left out too)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres" and f" {DB_NAME} " in (
                    entry / "cmdline"
                ).read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def cpu_snapshot(server: Server, background: Background | None) -> dict[str, Any]:
    """Busy CPU seconds of the whole machine and of each party, to tell our load from anyone else's
    ("postgres": {pid: seconds}, the rest seconds). PostgreSQL's share is that of the backends connected to the
    bench's database: the web's and the worker's."""
    stat = Path("/proc/stat").read_text().split("\n")[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) / CLK_TCK for x in stat[:8])
    gunicorn = [server.proc.pid, *_proc_children(server.proc.pid)]
    t = os.times()
    return {
        "busy": user + nice + system + irq + softirq + steal,
        "idle": idle + iowait,
        "gunicorn": sum(_proc_cpu(p) for p in gunicorn),
        "celery": sum(_proc_cpu(p) for p in background.pids()) if background else 0.0,
        "postgres": {p: _proc_cpu(p) for p in _postgres_pids()},
        "bench client": t.user + t.system,
        "load1": float(Path("/proc/loadavg").read_text().split()[0]),
    }


def cpu_report(before: dict[str, Any], after: dict[str, Any], elapsed: float, requests: int) -> str:
    d = {k: after[k] - before[k] for k in before if k != "postgres"}
    # per backend: one that exited during the phase took its CPU time with it, one that started counts in full
    d["postgres"] = sum(cpu - before["postgres"].get(pid, 0.0) for pid, cpu in after["postgres"].items())
    other = max(0.0, d["busy"] - d["gunicorn"] - d["celery"] - d["postgres"] - d["bench client"])
    capacity = (os.cpu_count() or 1) * elapsed
    return (
        f"{d['busy']:.1f} of {capacity:.0f} core-s busy: gunicorn {d['gunicorn']:.1f}, celery {d['celery']:.1f}, "
        f"postgres {d['postgres']:.1f}, bench client {d['bench client']:.1f}, other processes {other:.1f}; "
        f"load1 {before['load1']:.1f} -> {after['load1']:.1f}"
        + (
            f"\n  cpu per request           {1000 * d['gunicorn'] / requests:.2f} ms gunicorn + "
            f"{1000 * d['celery'] / requests:.2f} ms celery worker and beat + "
            f"{1000 * d['postgres'] / requests:.2f} ms postgres (web's and worker's backends)"
            if requests
            else ""
        )
    )


# ------------------------------------------------------------------------------------------ invariants


def last_judgment_id() -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM reviews_judgment")
        return cur.fetchone()[0]


def check_invariants(campaign_id: int, acks: list[Ack], *, since_judgment: int) -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cur:

        def scalar(sql: str) -> int:
            cur.execute(sql, {"c": campaign_id})
            return cur.fetchone()[0]

        found = {
            "tasks with more assignments than capacity": scalar("""
                SELECT count(*) FROM (SELECT t.id FROM reviews_task t JOIN reviews_assignment a ON a.task_id = t.id
                WHERE t.campaign_id = %(c)s GROUP BY t.id, t.capacity HAVING count(*) > t.capacity) x"""),
            "tasks with assigned_count > capacity": scalar(
                "SELECT count(*) FROM reviews_task WHERE campaign_id = %(c)s AND assigned_count > capacity"
            ),
            "tasks whose assigned_count != open+done assignments": scalar("""
                SELECT count(*) FROM (SELECT t.id, t.assigned_count, count(a.id) FILTER (WHERE a.status IN ('open', 'done')) n
                FROM reviews_task t JOIN reviews_assignment a ON a.task_id = t.id WHERE t.campaign_id = %(c)s
                GROUP BY t.id, t.assigned_count) x WHERE x.n <> x.assigned_count"""),
            "(task, reviewer) pairs with >1 counted judgment": scalar("""
                SELECT count(*) FROM (SELECT j.task_id, j.reviewer_id FROM reviews_judgment j JOIN reviews_task t
                ON t.id = j.task_id WHERE t.campaign_id = %(c)s AND j.retracted_at IS NULL AND j.discarded_at IS NULL
                GROUP BY 1, 2 HAVING count(*) > 1) x"""),
            "assignments whose campaign_id is not their task's": scalar("""
                SELECT count(*) FROM reviews_assignment a JOIN reviews_task t ON t.id = a.task_id
                WHERE (t.campaign_id = %(c)s OR a.campaign_id = %(c)s) AND a.campaign_id <> t.campaign_id"""),
            "judgments whose assignment is not done": scalar("""
                SELECT count(*) FROM reviews_judgment j JOIN reviews_assignment a ON a.id = j.assignment_id
                JOIN reviews_task t ON t.id = j.task_id WHERE t.campaign_id = %(c)s AND a.status <> 'done'"""),
            "duplicated client_ids": scalar("""
                SELECT count(*) FROM (SELECT j.client_id FROM reviews_judgment j JOIN reviews_task t ON t.id = j.task_id
                WHERE t.campaign_id = %(c)s AND j.client_id <> '' GROUP BY 1 HAVING count(*) > 1) x"""),
        }
        # the judgments of this run (not --prejudged ones, nor those of an earlier run on a --reuse'd database)
        cur.execute(
            """SELECT j.id, j.reviewer_id, j.task_id, j.client_id FROM reviews_judgment j
                       JOIN reviews_task t ON t.id = j.task_id WHERE t.campaign_id = %(c)s AND j.id > %(since)s""",
            {"c": campaign_id, "since": since_judgment},
        )
        in_db = {(r, t, c): i for i, r, t, c in cur.fetchall()}
    acked = {(a.reviewer_id, a.task_id, a.client_id): a.judgment_id for a in acks}
    found["acknowledged but missing in DB (lost)"] = sum(1 for key in acked if key not in in_db)
    found["acknowledged with another judgment id"] = sum(
        1 for key, jid in acked.items() if key in in_db and in_db[key] != jid
    )
    found["in DB but never acknowledged (report)"] = sum(1 for key in in_db if key not in acked)
    found["judgments in DB from this run"] = len(in_db)
    return found


MUST_BE_ZERO = {
    "tasks with more assignments than capacity",
    "tasks with assigned_count > capacity",
    "tasks whose assigned_count != open+done assignments",
    "(task, reviewer) pairs with >1 counted judgment",
    "assignments whose campaign_id is not their task's",
    "judgments whose assignment is not done",
    "duplicated client_ids",
    "acknowledged but missing in DB (lost)",
    "acknowledged with another judgment id",
}


# ------------------------------------------------------------------------------------------- prejudged


def prejudge(campaign_id: int, n: int) -> float:
    """Age the campaign: the first n tasks in hand-out order judged by two distinct reviewers each (assignments
    done, judgments recorded with no client_id, counts full), as after a long run. Returns seconds taken."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL synchronous_commit = off")
        cur.execute(
            "SELECT array_agg(u.id ORDER BY u.id) FROM reviews_campaign_reviewers r JOIN core_user u ON u.id = r.user_id "
            "WHERE r.campaign_id = %s",
            [campaign_id],
        )
        reviewers = cur.fetchone()[0]
        k = len(reviewers)
        cur.execute(
            """CREATE TEMP TABLE bench_head ON COMMIT DROP AS
            SELECT id, row_number() OVER (ORDER BY priority, sort_key, id) - 1 AS rn FROM reviews_task
            WHERE campaign_id = %s AND assigned_count = 0 ORDER BY priority, sort_key, id LIMIT %s""",
            [campaign_id, n],
        )
        # reviewers i and i + 1 + (rn / k) mod (k - 1): two distinct reviewers, every pair in turn
        cur.execute(
            """CREATE TEMP TABLE bench_pairs ON COMMIT DROP AS
            SELECT h.id AS task_id, (%(r)s::bigint[])[1 + x.slot] AS reviewer_id
            FROM bench_head h CROSS JOIN LATERAL (VALUES (h.rn %% %(k)s),
                 ((h.rn + 1 + (h.rn / %(k)s) %% (%(k)s - 1)) %% %(k)s)) AS x(slot)""",
            {"r": reviewers, "k": k},
        )
        # campaign_id: the task's campaign, as _claim_one sets it (Assignment.campaign, migration 0003)
        cur.execute("""INSERT INTO reviews_assignment (status, slot_order, candidate_slot, lease_expires_at, skip_reason,
                flagged, created_at, completed_at, reviewer_id, task_id, campaign_id)
            SELECT 'done', o.slot_order, o.candidate_slot, now() - interval '1 day', '', false, now() - interval '1 day',
                   now() - interval '1 day', p.reviewer_id, p.task_id, o.campaign_id
            FROM bench_pairs p CROSS JOIN LATERAL (
                SELECT jsonb_agg(t.model_version_id ORDER BY t.id) AS slot_order,
                       CASE WHEN min(t.id) = min(t.id) FILTER (WHERE t.model_version_id = c.candidate_id) THEN 'A' ELSE 'B' END
                       AS candidate_slot, min(k.campaign_id) AS campaign_id
                FROM reviews_taskoutput t JOIN reviews_task k ON k.id = t.task_id JOIN reviews_campaign c ON c.id = k.campaign_id
                WHERE t.task_id = p.task_id) o""")
        cur.execute("""INSERT INTO reviews_judgment (choice, labels, ranking, ratings, rationale, duration_ms, client_id,
                created_at, retracted_at, discarded_at, discard_reason, assignment_id, discarded_by_id, reviewer_id, task_id)
            SELECT (ARRAY['A', 'B', 'tie', 'both_bad'])[1 + (a.id % 4)], '[]', '[]', '{}', '', 10000, '',
                   a.completed_at, NULL, NULL, '', a.id, NULL, a.reviewer_id, a.task_id
            FROM reviews_assignment a JOIN bench_head h ON h.id = a.task_id""")
        cur.execute("UPDATE reviews_task t SET assigned_count = capacity FROM bench_head h WHERE h.id = t.id")
    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) reviews_task, reviews_assignment, reviews_judgment")
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------- explain


def explain_get_next(campaign_id: int) -> None:
    """Run the get-next view in-process (CampaignNextTaskView itself, token authentication aside) for the
    reviewer with the most assignments, inside a transaction that is rolled back, and EXPLAIN ANALYZE every
    query it sends, query by query."""
    from django.db import connection, transaction
    from django.db.models import Count
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIRequestFactory, force_authenticate

    from core.models import User
    from reviews.api.views import CampaignNextTaskView
    from reviews.models import Campaign

    campaign = Campaign.objects.get(pk=campaign_id)
    reviewer = (
        User.objects.filter(review_campaigns=campaign).annotate(n=Count("assignments")).order_by("-n", "id").first()
    )
    n_assignments = reviewer.assignments.count()
    view = CampaignNextTaskView.as_view()

    class Rollback(Exception):
        pass

    try:
        with transaction.atomic(), CaptureQueriesContext(connection) as captured:
            request = APIRequestFactory().get(f"/api/v1/campaigns/{campaign_id}/next/", HTTP_HOST="127.0.0.1")
            force_authenticate(request, user=reviewer)
            response = view(request, pk=campaign_id)
            response.render()
            raise Rollback
    except Rollback:
        pass
    print(
        f"\n=== EXPLAIN ANALYZE of the get-next view for {reviewer.username} ({n_assignments:,} assignments; "
        f"answered {response.status_code}, {len(captured.captured_queries)} queries)"
    )
    print(f"  {'exec ms':>9}{'plan ms':>9}  {'plan top':<44} query")
    plans = []
    for q in captured.captured_queries:
        sql = q["sql"]
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        try:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plan = [row[0] for row in cur.fetchall()]
                raise Rollback  # FOR UPDATE in an EXPLAIN ANALYZE takes the locks: give them back
        except Rollback:
            pass

        def timing(plan: list[str], label: str) -> float:
            return next((float(line.split(":")[1].split()[0]) for line in plan if line.startswith(label)), float("nan"))

        ms, planning = timing(plan, "Execution Time"), timing(plan, "Planning Time")
        plans.append((ms + planning, sql, plan))
        print(f"  {ms:9.2f}{planning:9.2f}  {plan[0].split('  (')[0].strip()[:44]:<44} {' '.join(sql.split())[:150]}")
    for ms, sql, plan in sorted(plans, key=lambda p: -p[0])[:2]:
        print(f"\n  slowest ({ms:.1f} ms planning and execution): {' '.join(sql.split())[:400]}")
        for line in plan:
            print("    " + line)


# ------------------------------------------------------------------------------------------------ report


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return float("nan")
    return values[max(0, math.ceil(p / 100.0 * len(values)) - 1)]


def latency_row(name: str, values: list[float]) -> str:
    v = sorted(values)
    if not v:
        return f"  {name:<26}{0:>8}" + "       -" * 4
    return f"  {name:<26}{len(v):>8}{pct(v, 50):>9.1f}{pct(v, 95):>9.1f}{pct(v, 99):>9.1f}{v[-1]:>9.1f}"


def statuses(counter: collections.Counter) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counter.items(), key=lambda kv: str(kv[0]))) or "-"


def print_phase(
    name: str,
    description: str,
    tally: Tally,
    elapsed: float,
    invariants: dict[str, int],
    target_ms: float | None,
    cpu: str,
    background: str,
    server_side: dict[str, list[float]] | None = None,
) -> bool:
    created = tally.submit_status.get(201, 0)
    requests = sum(tally.next_status.values()) + sum(tally.submit_status.values()) + sum(tally.retry_status.values())
    ok_next = {200, 204}
    errors: collections.Counter[str] = collections.Counter()
    for label, counter, ok_codes in (
        ("get-next", tally.next_status, ok_next),
        ("submit", tally.submit_status, {201}),
        ("retry", tally.retry_status, {200}),
    ):
        for status, count in counter.items():
            if status not in ok_codes:
                errors[f"{label} {status}"] += count
    p99 = {"get-next": pct(sorted(tally.next_ms), 99), "submit": pct(sorted(tally.submit_ms), 99)}
    print(f"\n=== phase {name}: {description}")
    print(f"  wall time                 {elapsed:8.1f} s")
    print(f"  background                {background}")
    print(f"  cpu                       {cpu}")
    print(
        f"  requests                  {requests:8d}   (get-next {sum(tally.next_status.values())}, submit "
        f"{sum(tally.submit_status.values())}, resent {sum(tally.retry_status.values())})"
    )
    print(f"  judgments recorded (201)  {created:8d}")
    print(f"  throughput                {created / elapsed:8.1f} judgments/s   {requests / elapsed:8.1f} requests/s")
    print(f"  {'latency (ms)':<26}{'n':>8}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}")
    print(latency_row("get-next", tally.next_ms))
    print(latency_row("submit", tally.submit_ms))
    if tally.retry_ms:
        print(latency_row("resent submit", tally.retry_ms))
    for kind, times in (server_side or {}).items():  # resent submits among them, in the saturated phase
        print(latency_row(f"{kind} (in the server)", times))
    print(f"  get-next statuses         {statuses(tally.next_status)}")
    print(f"  submit statuses           {statuses(tally.submit_status)}")
    if tally.retry_status:
        print(
            f"  resent statuses           {statuses(tally.retry_status)}   "
            f"(answered 200 with the first judgment: {tally.retries_same_judgment} of {sum(tally.retry_status.values())})"
        )
    print(f"  errors                    {statuses(errors) if errors else 0}")
    if tally.fresh_answered_200:
        print(f"  fresh client_id answered 200 (must be 0): {tally.fresh_answered_200}")
    for line in tally.errors[:5]:
        print(f"    e.g. {line}")
    print("  invariants (database)")
    ok = not errors and not tally.fresh_answered_200
    for key, value in invariants.items():
        flag = ""
        if key in MUST_BE_ZERO:
            flag = "ok" if value == 0 else "VIOLATED"
            ok = ok and value == 0
        print(f"    {key:<52}{value:>8}  {flag}")
    if tally.retry_status and tally.retries_same_judgment != sum(tally.retry_status.values()):
        ok = False
        print("    resends not deduplicated to the first judgment      VIOLATED")
    if target_ms is not None:
        for request, p99_ms in p99.items():
            print(
                f"  target {request} p99 <= {target_ms:.0f} ms: {'met' if p99_ms <= target_ms else 'MISSED'} "
                f"({p99_ms:.1f} ms)"
            )
    return ok


def code_summary() -> str:
    """Which code was measured (read-only git commands; others may be editing the tree)."""
    try:
        head = subprocess.run(
            ["git", "--no-optional-locks", "log", "-1", "--format=%h %s"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,  # a failing git says "?" below rather than an empty summary
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "?"
    changed = sorted(line[3:] for line in dirty)
    return f"{head[:70]}" + (f" + uncommitted changes in {', '.join(changed)}" if changed else "")


def broker_queue_length() -> int | None:
    try:
        import redis

        return redis.Redis(host="127.0.0.1", port=6379, db=BROKER_DB, socket_timeout=2).llen(BROKER_QUEUE)
    except Exception:
        return None


def broker_queue_clear(before: int | None) -> str:
    """With --no-worker, the gate checks the app enqueues (one per campaign per second, with a 1 s countdown) stay in
    the queue: nothing consumes the bench's redis db.
    Remove the messages this run added (kombu pushes new messages on the left), so that no worker later runs
    them against a dropped database; what was there before is left alone."""
    after = broker_queue_length()
    if after is None or before is None:
        return "unknown (redis not reachable)"
    added = after - before
    if added > 0:
        import redis

        redis.Redis(host="127.0.0.1", port=6379, db=BROKER_DB, socket_timeout=2).ltrim(BROKER_QUEUE, added, -1)
        return f"{added} left in queue '{BROKER_QUEUE}' of redis db {BROKER_DB}; removed"
    return "0"


def machine_summary() -> list[str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    with admin_connect() as conn:
        (server_version,) = conn.execute("SHOW server_version").fetchone() or ("?",)
        settings: dict[str, str] = dict(
            conn.execute("""SELECT name, current_setting(name) FROM pg_settings WHERE name IN
            ('shared_buffers', 'work_mem', 'autovacuum', 'synchronous_commit', 'max_connections')""").fetchall()
        )
    return [
        f"code         {code_summary()}",
        f"machine      nproc={os.cpu_count()} ({cpu}), {mem} RAM, Python {platform.python_version()}",
        f"postgresql   {server_version} on {PG_HOST}:{PG_PORT}; "
        + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())),
    ]


# -------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    global DB_NAME, BROKER_DB  # set once from --db-name / --broker-db, before any function reads them
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--reviewers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="gunicorn workers")
    parser.add_argument("--worker-class", default=DEFAULT_WORKER_CLASS, choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="threads per gunicorn worker (gthread)")
    parser.add_argument(
        "--gunicorn-config",
        default=None,
        help="a gunicorn config file to pass on, e.g. bench/next_task_fixes.py to measure a further change "
        "(default: none, the app as it is)",
    )
    parser.add_argument(
        "--pacing",
        default="both",
        choices=["before", "after-judgment", "both"],
        help="the paced phases: think before each request, only before each submit (get-next follows the submit "
        "at once), or both (default)",
    )
    parser.add_argument(
        "--phases",
        default=None,
        help="comma-separated, in order, of paced-before, paced-after, saturated (default: the --pacing phases, "
        "then saturated); 'paced' is paced-before",
    )
    parser.add_argument(
        "--no-worker",
        action="store_true",
        help="run no Celery worker nor beat (the gate checks the app schedules stay queued, as before 2026-12-06)",
    )
    parser.add_argument("--celery-concurrency", type=int, default=1, help="worker processes (prefork)")
    parser.add_argument(
        "--broker-db", type=int, default=BROKER_DB, help=f"the Redis database of the broker (default {BROKER_DB})"
    )
    parser.add_argument("--retry-rate", type=float, default=0.01, help="share of saturated submissions resent at once")
    parser.add_argument("--target-p99-ms", type=float, default=50.0)
    parser.add_argument("--keep", action="store_true", help="keep the database (and print how to reach it)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="run against the database an earlier --keep run left (no rebuild; for trying server settings)",
    )
    parser.add_argument("--explain", action="store_true", help="afterwards, EXPLAIN ANALYZE the get-next queries")
    parser.add_argument(
        "--prejudged",
        type=int,
        default=0,
        help="before the phases, mark this many tasks judged by two reviewers each (a campaign well under way)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db-name", default=DB_NAME, help=f"the database to (re)create and use (default {DB_NAME})")
    args = parser.parse_args(argv)
    DB_NAME, BROKER_DB = args.db_name, args.broker_db
    if args.worker_class == "sync":
        args.threads = 1
    if args.reviewers < OVERLAP:
        parser.error(f"--reviewers must be at least the overlap ({OVERLAP})")
    if args.phases is None:
        paced = {"before": ["paced-before"], "after-judgment": ["paced-after"]}.get(
            args.pacing, ["paced-before", "paced-after"]
        )
        args.phases = ",".join([*paced, "saturated"])
    phases = [{"paced": "paced-before"}.get(p.strip(), p.strip()) for p in args.phases.split(",") if p.strip()]
    if not set(phases) <= set(PHASE_PACING):
        parser.error(f"--phases takes {', '.join(PHASE_PACING)}")

    env = app_env(secret="bench-" + uuid.uuid4().hex)
    os.environ.update(
        {
            k: env[k]
            for k in (
                "DJANGO_SETTINGS_MODULE",
                "SECRET_KEY",
                "ALLOWED_HOSTS",
                "DATABASE_URL",
                "CELERY_BROKER_URL",
                "SECURE_SSL_REDIRECT",
                "CONN_MAX_AGE",
                "LOG_LEVEL",
            )
        }
    )
    sys.path.insert(0, str(ROOT))

    print("next-task benchmark", flush=True)
    for line in machine_summary():
        print("  " + line)
    t0 = time.perf_counter()
    if args.reuse:
        print(f"  migrating {DB_NAME} (reused) ...", flush=True)
    else:
        print(f"  recreating database {DB_NAME} and migrating ...", flush=True)
        recreate_database()
    migrate(env)
    print(f"  migrated in {time.perf_counter() - t0:.1f} s", flush=True)

    import django

    django.setup()
    from django.db import connection

    server, background = None, None
    all_ok = True
    queued_before = broker_queue_length()
    try:
        if args.reuse:
            fixture = load_fixture()
            print(
                f"  reusing      {DB_NAME} from an earlier --keep run: {fixture.tasks:,} tasks, "
                f"{len(fixture.reviewers)} reviewers (no build)"
            )
        else:
            print(f"  building a pairwise campaign of {args.tasks:,} tasks, {args.reviewers} reviewers ...", flush=True)
            fixture = build_fixture(n_tasks=args.tasks, n_reviewers=args.reviewers)
            print(
                f"  build time   {fixture.build_seconds:.1f} s for {fixture.tasks:,} tasks ({args.tasks:,} items, "
                f"{2 * args.tasks:,} predictions, {2 * args.tasks:,} task outputs), incl. VACUUM ANALYZE"
            )
            print(
                f"  campaign matches campaign_create's: {fixture.matches_campaign_create} "
                f"(pairwise, overlap {OVERLAP}, sampling random, lease {LEASE_SECONDS} s, gate_policy {fixture.gate_policy})"
            )
            print(f"  indexes      {fixture.indexes}")
            all_ok = fixture.matches_campaign_create == "yes"
        if args.prejudged:
            seconds = prejudge(fixture.campaign_id, args.prejudged)
            print(
                f"  prejudged    {args.prejudged:,} tasks x {OVERLAP} judgments in {seconds:.1f} s "
                f"(~{args.prejudged * OVERLAP // args.reviewers:,} done assignments per reviewer)",
                flush=True,
            )
        connection.close()  # the checks reconnect; nothing of ours holds locks while the load runs

        server = start_gunicorn(
            env, workers=args.workers, worker_class=args.worker_class, threads=args.threads, config=args.gunicorn_config
        )
        print(
            f"  server       {server.describe}, CONN_MAX_AGE=600, DJANGO_SETTINGS_MODULE=config.settings.production, "
            f"{server.base} (log {server.log_path})",
            flush=True,
        )
        if args.no_worker:
            print("  background   NONE (--no-worker): no Celery worker nor beat; gate checks stay queued", flush=True)
        else:
            background = start_background(env, concurrency=args.celery_concurrency)
            print(f"  background   {background.describe}", flush=True)
        warm_up(server, fixture)
        since_judgment = last_judgment_id()
        connection.close()

        acks: list[Ack] = []
        for index, phase in enumerate(phases):
            pacing = PHASE_PACING[phase]
            description = {
                "before": "think U(0.25, 0.75) s before each request",
                "after-judgment": "think U(0.25, 0.75) s before each submit, get-next at once after it",
                "none": f"no think time, {args.retry_rate:.0%} of submissions resent",
            }[pacing]
            description = f"{args.reviewers} reviewers, {description}, {args.seconds:.0f} s, " + (
                "worker and beat running" if background else "NO worker (--no-worker)"
            )
            analyze_growing_tables()
            print(
                f"\n  running phase {phase} (after ANALYZE of the tables the run fills, standing in for autovacuum) ...",
                flush=True,
            )
            before = cpu_snapshot(server, background)
            logged_before = server.access_log_size()
            checks_before = background.gate_checks_received() if background else 0
            tally, elapsed = run_phase(
                server,
                fixture,
                seconds=args.seconds,
                pacing=pacing,
                retry_rate=0.0 if pacing != "none" else args.retry_rate,
                seed=args.seed + index,
            )
            requests = (
                sum(tally.next_status.values()) + sum(tally.submit_status.values()) + sum(tally.retry_status.values())
            )
            cpu = cpu_report(before, cpu_snapshot(server, background), elapsed, requests)
            if background:
                time.sleep(1.5)  # the last window's check is published with a 1 s countdown
                checks = background.gate_checks_received() - checks_before
                background_line = (
                    f"worker and beat running; gate checks published (received by the worker): {checks} "
                    f"({checks / elapsed:.2f}/s) for {tally.submit_status.get(201, 0)} judgments"
                )
            else:
                background_line = "NO worker (--no-worker)"
            acks += tally.acks
            invariants = check_invariants(fixture.campaign_id, acks, since_judgment=since_judgment)
            connection.close()
            ok = print_phase(
                phase,
                description,
                tally,
                elapsed,
                invariants,
                target_ms=args.target_p99_ms if pacing != "none" else None,
                cpu=cpu,
                background=background_line,
                server_side=server.server_side_ms(logged_before),
            )
            all_ok = all_ok and ok
            sys.stdout.flush()

        print(
            f"\n  tasks {fixture.tasks:,}; nproc {os.cpu_count()}; {server.describe}; "
            + (f"celery worker x {args.celery_concurrency} and beat" if background else "NO worker")
        )
        if args.explain:
            explain_get_next(fixture.campaign_id)
            connection.close()
    finally:
        if server is not None:
            stop_gunicorn(server)
        if background is not None:
            stop_background(background)
        print(f"  background tasks enqueued by the app: {broker_queue_clear(queued_before)}")
        connection.close()
        if args.keep:
            print(f"  kept database {DB_NAME} (psql -h {PG_HOST} -U {PG_USER} {DB_NAME})")
        else:
            drop_database()
            print(f"  dropped database {DB_NAME}")
    print(f"\n  all checks {'passed' if all_ok else 'FAILED'}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
