"""Benchmark the gate check and the gate tally's cost per submitted judgment, on PostgreSQL.

    .venv/bin/python bench/gate_check.py [--judgments 1000,100000] [--repeat 5] [--submits 100] [--db-name NAME]

For each size: recreates the database (default `signoff_gate`, 127.0.0.1:5432, user postgres), migrates it,
builds a pairwise campaign (overlap 2) with bench/next_task.py's fixture and ages it to that many judgments, sets
the API's default policy (the test decides within the first hundred or so items), then times, each the median of
--repeat runs:

- `campaign_results` (once; --no-results skips it): what every gate check computed before the tally;
- `gate_tally_rebuild`: the tally from scratch (a check after a change the tally cannot follow);
- `campaign_gate_check(force=True)` on a tally that is up to date, the campaign made undecided before each run (so
  each check does the whole work: evaluates, records the decision), with its number of queries;
- then --submits judgments through `assignment_claim_next` + `judgment_submit`: the time spent in the tally's
  update (`gate_tally_judgment_counted`, inside the judgment's transaction) and the whole submit around it.

The worker's check is not scheduled from the submits (`_gate_check_schedule` is replaced by a no-op), so the
submit times are the request's own. Results: docs/bench-gate-check.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import next_task  # noqa: E402


def timed(fn: Callable[[], object], repeat: int) -> float:
    """The median wall time of `repeat` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(judgments: int, *, repeat: int, submits: int, results: bool) -> dict[str, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.models import User
    from reviews.models import Campaign
    from reviews.results import campaign_results
    from reviews.services import decisions, gate_tally
    from reviews.services import judgments as judgment_services
    from reviews.services.assignments import assignment_claim_next

    next_task.recreate_database()
    next_task.migrate(dict(os.environ))
    connection.close()
    items = judgments // next_task.OVERLAP + 2 * submits
    fixture = next_task.build_fixture(n_tasks=items, n_reviewers=8)
    next_task.prejudge(fixture.campaign_id, judgments // next_task.OVERLAP)
    campaign = Campaign.objects.get(pk=fixture.campaign_id)
    cid = campaign.pk

    def check() -> str:
        # undecided again, so that every timed check does the whole work (and records the decision)
        Campaign.objects.filter(pk=cid).update(decision="", decided_at=None, decided_after=None, gate_state={})
        return decisions.campaign_gate_check(campaign_id=cid, force=True)

    figures = {"judgments": float(judgments)}
    if results:
        figures["campaign_results_ms"] = timed(lambda: campaign_results(campaign=campaign), 1)
    figures["rebuild_ms"] = timed(lambda: gate_tally.gate_tally_rebuild(campaign=campaign), repeat)
    check()  # the tally is built here, and the end's bar of the planned end computed (and cached)
    figures["check_ms"] = timed(check, repeat)
    with CaptureQueriesContext(connection) as queries:
        decisions.campaign_gate_check(campaign_id=cid, force=True)  # decided: returns at once
        Campaign.objects.filter(pk=cid).update(decision="", decided_at=None, decided_after=None, gate_state={})
        queries_before = len(queries.captured_queries)
        decisions.campaign_gate_check(campaign_id=cid, force=True)
    figures["check_queries"] = float(len(queries.captured_queries) - queries_before)
    Campaign.objects.filter(pk=cid).update(decision="", decided_at=None, decided_after=None, gate_state={})
    campaign.refresh_from_db()  # undecided: tasks are handed out again for the submits below

    decisions._gate_check_schedule = lambda campaign_id: None  # the worker's check is measured above
    counted = judgment_services.gate_tally_judgment_counted
    in_tally: list[float] = []

    def timed_tally(**kwargs: object) -> None:
        started = time.perf_counter()
        counted(**kwargs)  # type: ignore[arg-type]
        in_tally.append((time.perf_counter() - started) * 1000)

    judgment_services.gate_tally_judgment_counted = timed_tally
    reviewers = list(User.objects.filter(username__startswith="bench-reviewer-").order_by("id"))
    whole: list[float] = []
    for i in range(submits):
        reviewer = reviewers[i % len(reviewers)]
        assignment = assignment_claim_next(campaign=campaign, reviewer=reviewer)
        assert assignment is not None
        started = time.perf_counter()
        judgment_services.judgment_submit(task_id=assignment.task_id, reviewer=reviewer, choice="A")
        whole.append((time.perf_counter() - started) * 1000)
    judgment_services.gate_tally_judgment_counted = counted
    figures["submit_ms"] = statistics.median(whole)
    figures["tally_per_submit_ms"] = statistics.median(in_tally)
    figures["tally_per_submit_p90_ms"] = sorted(in_tally)[int(0.9 * len(in_tally))]
    figures["tally_stale_after_submits"] = float(gate_tally.GateTally.objects.get(campaign_id=cid).stale)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judgments", default="1000,100000", help="campaign sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--submits", type=int, default=100)
    parser.add_argument("--db-name", default="signoff_gate")
    parser.add_argument("--keep", action="store_true", help="keep the last size's database")
    parser.add_argument("--no-results", action="store_true", help="skip timing campaign_results (minutes at 100,000)")
    args = parser.parse_args(argv)
    next_task.DB_NAME = args.db_name
    os.environ.update(
        {
            k: v
            for k, v in next_task.app_env(secret="bench-" + uuid.uuid4().hex).items()
            if k in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "SECURE_SSL_REDIRECT")
        }
    )
    os.environ["CELERY_BROKER_URL"] = "memory://"  # nothing is sent: the check is not scheduled from submits
    import django

    django.setup()
    rows = [
        measure(int(n), repeat=args.repeat, submits=args.submits, results=not args.no_results)
        for n in args.judgments.split(",")
    ]
    for line in next_task.machine_summary():
        print(line)
    print(f"median of {args.repeat} runs; {args.submits} submits")
    for key in rows[0]:
        print(f"{key:<28}" + "".join(f"{row.get(key, float('nan')):>14,.2f}" for row in rows))
    if not args.keep:
        next_task.drop_database()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
