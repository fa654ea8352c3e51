"""Query counts and server-side times of every list page and list endpoint at 1,000 campaigns and 10,000 items.

    .venv/bin/python bench/list_pages.py [--campaigns 1000] [--items 10000] [--repeat 7]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/signoff_paging .venv/bin/python bench/list_pages.py

Builds the data with bulk inserts (`build_lists`, which tests/test_list_paging.py uses too) in a throwaway test
database (SQLite in memory by default, or `test_<name>` on the PostgreSQL that DATABASE_URL names), then requests
each URL in-process with Django's test client (no HTTP server: the figures are the view's, the template's and the
database's time) --repeat times, and prints the median and the worst time and the number of queries of each.
Figures: docs/bench-list-pages.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KINDS = ("pairwise", "ranking", "rating", "labeling")
MODELS = 10
PLAN = {  # as reviews.plan states it (its keys are the API's PlanSerializer)
    "unit": "item",
    "judgments_per_item": 1,
    "power": 0.8,
    "max_judgments": 200,
    "expected_judgments": {"null": 120.0, "alternative": 90.0},
    "p90_judgments": {"null": 200, "alternative": 160},
    "end_bar_win_rate": 0.55,
    "warnings": [],
}
DATASETS = 120
WEBHOOKS = 120


def build_lists(*, campaigns: int = 1000, items: int = 10_000) -> dict:
    """A data scientist's, a reviewer's and an approver's world at scale: `campaigns` campaigns (every fifth decided,
    one in ten of those signed by the approver already), one dataset version of `items` items and DATASETS - 1 small
    datasets, MODELS models of two versions, WEBHOOKS endpoints. Bulk inserts: a few seconds."""
    from django.utils import timezone

    from core.models import User
    from datasets.models import Dataset, DatasetVersion, Item
    from models_app.models import ModelVersion, RegisteredModel
    from reviews.models import Approval, Campaign
    from webhooks.models import WebhookEndpoint

    def user(name: str, role: str) -> User:  # the tests' users when they exist (tests/conftest.py)
        return User.objects.filter(username=name).first() or User.objects.create_user(
            username=name, password="pw-for-tests", role=role
        )

    ds, reviewer, approver = user("ds", "data_scientist"), user("rev", "reviewer"), user("approver", "approver")
    datasets = Dataset.objects.bulk_create(
        [Dataset(name="big" if n == 0 else f"dataset-{n:03d}", created_by=ds) for n in range(DATASETS)]
    )
    versions = DatasetVersion.objects.bulk_create(
        [
            DatasetVersion(dataset=d, number=1, sha256=f"{n:064x}", item_count=items if n == 0 else 0, created_by=ds)
            for n, d in enumerate(datasets)
        ]
    )
    big = versions[0]
    Item.objects.bulk_create(
        (
            Item(version=big, external_id=f"item-{i:05d}", input={"question": f"What is {i} + {i}?"}, tags=["t"])
            for i in range(items)
        ),
        batch_size=2000,
    )
    models = RegisteredModel.objects.bulk_create(
        [RegisteredModel(name=f"model-{m}", created_by=ds) for m in range(MODELS)]
    )
    model_versions = ModelVersion.objects.bulk_create(
        [ModelVersion(model=m, version=str(v), created_by=ds) for m in models for v in (1, 2)]
    )
    now = timezone.now()
    rows = Campaign.objects.bulk_create(
        [
            Campaign(
                name=f"campaign {n:04d}",
                kind=KINDS[n % len(KINDS)],
                dataset_version=big,
                candidate=model_versions[(2 * n + 1) % len(model_versions)],
                baseline=model_versions[(2 * n + 2) % len(model_versions)],
                created_by=ds,
                decision="pass" if n % 5 == 0 else "",
                decided_at=now if n % 5 == 0 else None,
                gate_state={"status": "pass" if n % 5 == 0 else "pending", "reasons": []},
                plan=PLAN,
            )
            for n in range(campaigns)
        ],
        batch_size=500,
    )
    Campaign.reviewers.through.objects.bulk_create(
        [Campaign.reviewers.through(campaign=c, user=reviewer) for c in rows], batch_size=2000
    )
    signed = [c for n, c in enumerate(rows) if n % 50 == 0]  # decided, and already signed by this approver
    Approval.objects.bulk_create(
        [Approval(campaign=c, approver=approver, decision="approve", rationale="ok") for c in signed]
    )
    WebhookEndpoint.objects.bulk_create(
        [
            WebhookEndpoint(
                url=f"https://hooks.example.com/{n}",
                events=["verdict.signed"],
                secret_encrypted="x",
                description=f"receiver {n:03d}",
                created_by=ds,
            )
            for n in range(WEBHOOKS)
        ]
    )
    return {"ds": ds, "reviewer": reviewer, "approver": approver, "campaigns": rows, "dataset": datasets[0]}


# (who, URL): every list page and list endpoint, first and last page, with and without search and filters
URLS = [
    ("reviewer", "/"),
    ("reviewer", "/?search=campaign+09&kind=rating"),
    ("ds", "/campaigns/"),
    ("ds", "/campaigns/?page=20"),
    ("ds", "/campaigns/?search=07&kind=pairwise&decided=true&model=model-3"),
    ("reviewer", "/campaigns/?page=2"),
    ("approver", "/signoff/"),
    ("approver", "/signoff/?page=4"),
    ("ds", "/datasets/"),
    ("ds", "/datasets/?page=3"),
    ("ds", "/datasets/big/"),
    ("ds", "/datasets/big/?page=200"),
    ("ds", "/datasets/big/?search=item-099"),
    ("ds", "/models/"),
    ("ds", "/webhooks/"),
    ("ds", "/webhooks/?page=3&search=receiver"),
    ("ds", "/api/v1/campaigns/"),
    ("ds", "/api/v1/campaigns/?page_size=500&page=2"),
    ("ds", "/api/v1/campaigns/?decided=false&kind=ranking&mine=true"),
    ("reviewer", "/api/v1/campaigns/?page_size=500"),
    ("ds", "/api/v1/datasets/"),
    ("ds", "/api/v1/datasets/?search=dataset-1"),
    ("ds", "/api/v1/models/"),
    ("ds", "/api/v1/models/model-1/versions/"),
    ("ds", "/api/v1/webhooks/?page=3"),
    ("ds", "/api/v1/tokens/"),
]


def measure(world: dict, repeat: int) -> list[tuple[str, str, int, int, float, float]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    clients = {}
    for role in ("ds", "reviewer", "approver"):
        clients[role] = Client()
        clients[role].force_login(world[role])
    figures = []
    for who, url in URLS:
        clients[who].get(url)  # warm: templates compiled, the session read once
        times, queries, status = [], 0, 0
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                response = clients[who].get(url)
                times.append(time.perf_counter() - start)
            queries, status = len(captured), response.status_code
        figures.append((who, url, status, queries, statistics.median(times) * 1000, max(times) * 1000))
    return figures


def count_costs(world: dict, repeat: int) -> list[tuple[str, float]]:
    """What the pager's COUNT(*) costs on its own (the reason to prefer a keyset page would be a costly count),
    and what a deep OFFSET costs (the last page of the items against the first)."""
    from datasets.models import Item
    from reviews.models import Campaign

    big = world["dataset"].versions.get()
    reads = {
        "COUNT campaigns (the data scientist's list)": Campaign.objects.count,
        "COUNT campaigns, searched and filtered": lambda: Campaign.objects.filter(
            name__icontains="07", kind="pairwise"
        ).count(),
        "COUNT items searched by id (unfiltered: item_count, no query)": lambda: Item.objects.filter(
            version=big, external_id__icontains="item-099"
        ).count(),
        "items, first page (LIMIT 50)": lambda: list(Item.objects.filter(version=big).order_by("id")[:50]),
        "items, last page (OFFSET 9950 LIMIT 50)": lambda: list(
            Item.objects.filter(version=big).order_by("id")[9950:10000]
        ),
    }
    figures = []
    for name, read in reads.items():
        read()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            read()
            times.append(time.perf_counter() - start)
        figures.append((name, statistics.median(times) * 1000))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        start = time.perf_counter()
        world = build_lists(campaigns=args.campaigns, items=args.items)
        built = time.perf_counter() - start
        print(f"{connection.vendor}: {args.campaigns} campaigns, {args.items} items, built in {built:.1f} s")
        print(f"{'who':<9} {'URL':<62} {'status':>6} {'queries':>7} {'p50 ms':>7} {'max ms':>7}")
        for who, url, status, queries, p50, worst in measure(world, args.repeat):
            print(f"{who:<9} {url:<62} {status:>6} {queries:>7} {p50:>7.1f} {worst:>7.1f}")
        print(f"{'read':<72} {'p50 ms':>7}")
        for name, p50 in count_costs(world, args.repeat):
            print(f"{name:<72} {p50:>7.2f}")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
