"""Benchmark a big campaign's results through the API: GET /api/v1/campaigns/{id}/results/, end to end.

    .venv/bin/python bench/results.py [--judgments 100000] [--tasks 60000] [--requests 10] [--kind rating]
                                      [--reuse] [--keep] [--baseline-dir DIR]

What it does, against the stack as deployed (PostgreSQL, gunicorn, production settings):

1. recreates the database (--db-name, default signoff_results) and migrates it, or with --reuse keeps the campaign
   of an earlier --keep run;
2. builds a pairwise campaign (overlap 2) of --tasks items with bench/next_task.py's bulk inserts, gives every item
   one to two of five tags, and judges --judgments / 2 items twice each (bench/next_task.py:prejudge), spread over
   a week of arrival times with varied durations; --kind rating makes it a rating campaign (two criteria, both
   outputs rated, against the baseline);
3. starts gunicorn (production settings, Redis cache when --cache-url is given) and times, from the client:
   - cold: a new judgment is written (directly in the database, as a reviewer's submission leaves it), then one
     GET, --requests times: the first answer after a new judgment;
   - warm: --requests GETs with nothing changed in between;
   and prints p50 / max of each, the body size and the answer's `computed_at` when there is one;
4. with --baseline-dir, does the same against a second server running another checkout (e.g. main), in turn,
   and says whether both servers' answers on the same data are equal.

The server gets SIGNOFF_RESULTS_MAX_STALE_SECONDS=0 so that every new judgment makes the next answer cold (with the
default bound a judgment within the bound is served the cached answer: that would not measure the computation).
A cold answer reads only the judgments new since the process's last read (reviews.results_rows); the warm-up GETs
make that first full read. `--keep-rows-from 1000000000` makes every cold answer a full read instead, as the first
answer in a new process is.
Only 127.0.0.1 is contacted. Figures: docs/bench-results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import urllib3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import next_task as nt  # noqa: E402  (after the path: run as a script)

CAMPAIGN_NAME = "bench next-task"  # what nt.build_fixture names its campaign
TAGS = ("billing", "exports", "login", "mobile", "search")


def tag_items(campaign_id: int) -> None:
    """One or two of TAGS per item, so the results' per-slice figures have work to do."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """UPDATE datasets_item i SET tags = CASE WHEN i.id %% 3 = 0
                   THEN jsonb_build_array((%(tags)s::text[])[1 + i.id %% 5], (%(tags)s::text[])[1 + (i.id / 5) %% 5])
                   ELSE jsonb_build_array((%(tags)s::text[])[1 + i.id %% 5]) END
               FROM reviews_task t WHERE t.item_id = i.id AND t.campaign_id = %(campaign)s""",
            {"tags": list(TAGS), "campaign": campaign_id},
        )


def spread_judgments(campaign_id: int) -> None:
    """Arrival times over the past week in id order and durations of 2 to 22 s, as a real campaign has them."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """UPDATE reviews_judgment j
               SET created_at = now() - interval '7 days' + (j.id - m.lo) * interval '6 seconds',
                   duration_ms = 2000 + (j.id * 7919) %% 20000
               FROM reviews_task t, (SELECT min(j2.id) AS lo FROM reviews_judgment j2) m
               WHERE t.id = j.task_id AND t.campaign_id = %s""",
            [campaign_id],
        )
        cur.execute("VACUUM (ANALYZE) reviews_judgment, datasets_item")


RUBRIC = [
    {"name": "accuracy", "scale": "likert", "description": ""},
    {"name": "safe", "scale": "pass_fail", "description": ""},
]


def make_rating(campaign_id: int) -> None:
    """The same campaign as a rating one with a baseline: each judgment rates both outputs on RUBRIC."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "UPDATE reviews_campaign SET kind = 'rating', rubric = %s::jsonb WHERE id = %s",
            [json.dumps(RUBRIC), campaign_id],
        )
        cur.execute(
            """UPDATE reviews_judgment j SET choice = '', ratings = jsonb_build_object(
                   'A', jsonb_build_object('accuracy', 1 + j.id %% 5, 'safe', CASE WHEN j.id %% 3 = 0 THEN 'fail' ELSE 'pass' END),
                   'B', jsonb_build_object('accuracy', 1 + (j.id / 5) %% 5, 'safe', 'pass'))
               FROM reviews_task t WHERE t.id = j.task_id AND t.campaign_id = %s""",
            [campaign_id],
        )
        cur.execute("VACUUM (ANALYZE) reviews_judgment")


def add_judgment(campaign_id: int) -> None:
    """One more counted judgment, written as judgment_submit leaves it: a done assignment and its judgment."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """WITH t AS (SELECT id FROM reviews_task WHERE campaign_id = %(c)s AND assigned_count = 0
                          ORDER BY id LIMIT 1),
                    r AS (SELECT user_id FROM reviews_campaign_reviewers WHERE campaign_id = %(c)s ORDER BY user_id LIMIT 1),
                    a AS (INSERT INTO reviews_assignment (status, slot_order, candidate_slot, lease_expires_at,
                              skip_reason, flagged, created_at, completed_at, reviewer_id, task_id, campaign_id)
                          SELECT 'done', jsonb_build_array(c.candidate_id, c.baseline_id), 'A', now(), '', false,
                                 now(), now(), r.user_id, t.id, c.id
                          FROM t, r, reviews_campaign c WHERE c.id = %(c)s
                          RETURNING id, reviewer_id, task_id),
                    u AS (UPDATE reviews_task SET assigned_count = 1 WHERE id IN (SELECT id FROM t))
               INSERT INTO reviews_judgment (choice, labels, ranking, ratings, rationale, duration_ms, client_id,
                   created_at, discard_reason, assignment_id, reviewer_id, task_id)
               SELECT 'A', '[]', '[]', '{"A": {"accuracy": 4, "safe": "pass"}, "B": {"accuracy": 3, "safe": "pass"}}',
                      '', 5000, '', now(), '', a.id, a.reviewer_id, a.task_id FROM a""",
            {"c": campaign_id},
        )


def lead_token(campaign_id: int) -> str:
    from knox.models import AuthToken

    from reviews.models import Campaign

    return AuthToken.objects.create(user=Campaign.objects.get(pk=campaign_id).created_by, expiry=None)[1]


@dataclass
class Timing:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # the server's (gunicorn + its PostgreSQL backends), per request
    size: int = 0
    body: dict = field(default_factory=dict)


def server_cpu(server: nt.Server) -> float:
    gunicorn = [server.proc.pid, *nt._proc_children(server.proc.pid)]
    return sum(nt._proc_cpu(p) for p in gunicorn) + sum(nt._proc_cpu(p) for p in nt._postgres_pids())


def timed_get(http: urllib3.PoolManager, server: nt.Server, path: str, token: str, timing: Timing) -> None:
    cpu = server_cpu(server)
    started = time.perf_counter()
    response = http.request("GET", server.base + path, headers={"Authorization": f"Token {token}"})
    timing.wall.append(time.perf_counter() - started)
    timing.cpu.append(server_cpu(server) - cpu)
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status} {response.data[:300]!r}")
    timing.size, timing.body = len(response.data), response.json()


def row(name: str, timing: Timing) -> str:
    ms = [1000 * s for s in timing.wall]
    cpu = [1000 * s for s in timing.cpu]
    return (
        f"  {name:<16} n={len(ms):<3} p50 {statistics.median(ms):6.0f} ms  max {max(ms):6.0f} ms   "
        f"server cpu p50 {statistics.median(cpu):5.0f} ms"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judgments", type=int, default=100_000, help="counted judgments (two per judged item)")
    parser.add_argument("--tasks", type=int, default=60_000, help="items in the campaign (at least judgments / 2)")
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--kind", choices=["pairwise", "rating"], default="pairwise", help="the campaign's kind")
    parser.add_argument("--requests", type=int, default=10, help="GETs per phase")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--db-name", default="signoff_results")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/4")
    parser.add_argument("--cache-url", default="redis://127.0.0.1:6379/4", help="CACHE_URL; '' leaves the default")
    parser.add_argument(
        "--keep-rows-from",
        type=int,
        help="SIGNOFF_RESULTS_KEEP_ROWS_FROM for the servers; a number above the judgments makes every cold answer "
        "read all of them, as the first answer in a process does (default: the setting's default)",
    )
    parser.add_argument("--reuse", action="store_true", help="use the campaign of an earlier --keep run")
    parser.add_argument("--keep", action="store_true", help="keep the database for --reuse")
    parser.add_argument(
        "--baseline-dir",
        help="also serve the app from this directory (e.g. `git archive main | tar -x -C DIR`) and alternate "
        "requests between the two servers, so before and after share the machine's load",
    )
    args = parser.parse_args(argv)
    if args.tasks * 2 < args.judgments:
        parser.error("--tasks must be at least half of --judgments (each judged item has two judgments)")

    nt.DB_NAME = args.db_name
    env = nt.app_env(secret="bench-" + uuid.uuid4().hex)
    env["CELERY_BROKER_URL"] = args.broker_url
    env["SIGNOFF_RESULTS_MAX_STALE_SECONDS"] = "0"
    if args.cache_url:
        env["CACHE_URL"] = args.cache_url
    if args.keep_rows_from is not None:
        env["SIGNOFF_RESULTS_KEEP_ROWS_FROM"] = str(args.keep_rows_from)
    os.environ.update(env)

    print("results benchmark")
    for line in nt.machine_summary():
        print("  " + line)
    if not args.reuse:
        nt.recreate_database()
    nt.migrate(env)

    import django

    django.setup()
    from django.db import connection

    from reviews.models import Campaign, Judgment

    if args.reuse:
        campaign_id = Campaign.objects.get(name=CAMPAIGN_NAME).pk
    else:
        started = time.perf_counter()
        fixture = nt.build_fixture(n_tasks=args.tasks, n_reviewers=args.reviewers)
        campaign_id = fixture.campaign_id
        tag_items(campaign_id)
        nt.prejudge(campaign_id, args.judgments // 2)
        spread_judgments(campaign_id)
        if args.kind == "rating":
            make_rating(campaign_id)
        print(f"  built in {time.perf_counter() - started:.0f} s")
    judgments = Judgment.objects.in_results_of(campaign_id).count()
    kind = Campaign.objects.get(pk=campaign_id).kind
    print(f"  campaign {campaign_id}: {kind}, overlap 2, {judgments:,} counted judgments, tags {', '.join(TAGS)}")
    token = lead_token(campaign_id)
    connection.close()

    servers = {"this checkout": start_server(env, ROOT, args.workers)}
    if args.baseline_dir:
        servers["baseline"] = start_server(env, Path(args.baseline_dir).resolve(), args.workers)
    for name, server in servers.items():
        print(
            f"  {name}: {server.describe}, production settings, cache {args.cache_url or 'default'}, "
            f"rows kept from {env.get('SIGNOFF_RESULTS_KEEP_ROWS_FROM', 'the default')} judgments"
        )
    path = f"/api/v1/campaigns/{campaign_id}/results/"
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5.0, read=120.0))
    cold = {name: Timing() for name in servers}
    warm = {name: Timing() for name in servers}
    try:
        for server in servers.values():
            for _ in range(args.workers):  # each worker's imports and connection: not what is measured
                add_judgment(campaign_id)  # so that it computes (a kept answer from an earlier run would not)
                connection.close()
                timed_get(http, server, path, token, Timing())
        for _ in range(args.requests):  # in turn, so both servers see the same load
            for name, server in servers.items():
                add_judgment(campaign_id)
                connection.close()
                timed_get(http, server, path, token, cold[name])
        for server in servers.values():  # the other server's last judgment is news to this one: not yet warm
            timed_get(http, server, path, token, Timing())
        for _ in range(args.requests):
            for name, server in servers.items():
                timed_get(http, server, path, token, warm[name])
        for name in servers:
            body = cold[name].body
            print(
                f"  {name}: body {cold[name].size / 1024:.0f} KiB, {body['judgments']:,} judgments, "
                f"computed_at {body.get('computed_at')}"
            )
            print(row("cold", cold[name]))
            print(row("warm", warm[name]))
        if args.baseline_dir:  # the warm answers read the same data: they must say the same
            same = [{k: v for k, v in w.body.items() if k != "computed_at"} for w in warm.values()]
            print(f"  same results as the baseline (computed_at aside): {'yes' if same[0] == same[1] else 'NO'}")
    finally:
        for server in servers.values():
            nt.stop_gunicorn(server)
        if not args.keep:
            nt.drop_database()


def start_server(env: dict[str, str], app_dir: Path, workers: int) -> nt.Server:
    """gunicorn serving the app found in app_dir (its cwd comes first on sys.path, before this checkout's)."""
    saved = nt.ROOT
    nt.ROOT = app_dir
    try:
        return nt.start_gunicorn(env, workers=workers, worker_class="sync", threads=1, config=None)
    finally:
        nt.ROOT = saved


if __name__ == "__main__":
    main()
