"""The claim on both of its paths, on the same inputs: PostgreSQL's one-statement CTE and the portable path that
SQLite takes (on PostgreSQL both run; on SQLite the CTE is skipped). Each test states the known answer that the
claimable-task definition (reviews.claimable) gives: hand-out order, overlap, run-out leases, skips, known-answer
items kept apart, excluded reviewers; and, on PostgreSQL, a random campaign is claimed through by both paths and
must come out the same."""

import random
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.utils import timezone

from core.models import User
from datasets.models import Item
from datasets.services.datasets import dataset_create, dataset_version_ingest
from reviews.models import Assignment, Campaign, ReviewerExclusion, Task
from reviews.selectors import reviewer_progress
from reviews.services import assignments
from tests.factories import UserFactory, jsonl
from tests.test_engine import create_campaign

PATHS = {"postgresql": assignments._claim_one_postgresql, "portable": assignments._claim_one_portable}


@pytest.fixture(params=list(PATHS))
def claim_path(request, db, monkeypatch):
    """Every claim of the test goes through this path; returns the list of tasks it claimed."""
    if request.param == "postgresql" and connection.vendor != "postgresql":
        pytest.skip("the CTE is PostgreSQL's")
    claimed, path = [], PATHS[request.param]

    def through_path(campaign, reviewer, known=False):
        result = path(campaign, reviewer, known)
        claimed.append(result)
        return result

    monkeypatch.setattr(assignments, "_claim_one", through_path)
    return claimed


@pytest.fixture
def campaign(api, loop_data, users):
    """Six tasks, overlap 2, reviewers rev, rev2, rev3, in a hand-out order unlike their ids."""
    UserFactory(username="rev3", role=User.Role.REVIEWER)
    campaign = Campaign.objects.get(pk=create_campaign(api, loop_data, reviewers=["rev", "rev2", "rev3"], overlap=2))
    tasks = list(Task.objects.filter(campaign=campaign).order_by("id"))
    for task, (priority, sort_key) in zip(
        tasks, [(0, 0.9), (0, 0.1), (-1, 0.5), (0, 0.5), (1, 0.0), (0, 0.1)], strict=True
    ):
        Task.objects.filter(pk=task.pk).update(priority=priority, sort_key=sort_key)
    return campaign


def in_order(campaign) -> list[int]:
    """The ordinary tasks in hand-out order, as the definition says: priority, then sort key, then id."""
    return list(
        Task.objects.ordinary()
        .filter(campaign=campaign)
        .order_by("priority", "sort_key", "id")
        .values_list("id", flat=True)
    )


def claim_all(campaign, reviewer) -> list[int]:
    """Every task the reviewer is handed, each judged (marked done) before asking again."""
    handed = []
    while (assignment := assignments.assignment_claim_next(campaign=campaign, reviewer=reviewer)) is not None:
        handed.append(assignment.task_id)
        Assignment.objects.filter(pk=assignment.pk).update(status=Assignment.Status.DONE)
    return handed


def test_tasks_are_handed_out_in_order_and_never_past_the_overlap(claim_path, campaign, users):
    order = in_order(campaign)
    assert order != sorted(order)  # the order is the definition's, not the ids'
    assert claim_all(campaign, users["reviewer"]) == order
    assert claim_all(campaign, users["reviewer2"]) == order
    rev3 = User.objects.get(username="rev3")
    assert claim_all(campaign, rev3) == []  # every task has had its two reviewers
    assert all(t.assigned_count == t.capacity == 2 for t in Task.objects.filter(campaign=campaign))
    assert len(claim_path) == 2 * len(order) + 3  # and through this path: each reviewer's last ask found nothing


def test_a_full_task_is_passed_over_and_a_reviewer_never_gets_a_task_twice(claim_path, campaign, users):
    order = in_order(campaign)
    Task.objects.filter(pk=order[0]).update(assigned_count=2)  # taken by two others
    first = assignments.assignment_claim_next(campaign=campaign, reviewer=users["reviewer"])
    assert first is not None and first.task_id == order[1]
    Assignment.objects.filter(pk=first.pk).update(status=Assignment.Status.SKIPPED)
    Task.objects.filter(pk=order[1]).update(assigned_count=0)  # the skip gave its room back
    assert claim_all(campaign, users["reviewer"]) == order[2:]  # never the skipped one again


def test_an_expired_lease_gives_the_task_to_the_next_reviewer(claim_path, api, loop_data, users):
    campaign = Campaign.objects.get(pk=create_campaign(api, loop_data, overlap=1))
    order = in_order(campaign)
    handed: list = []
    for _ in range(3):  # the task on screen and the one prefetched behind it, and no more
        exclude = [a.task_id for a in handed if a]
        handed.append(
            assignments.assignment_claim_next(campaign=campaign, reviewer=users["reviewer"], exclude_task_ids=exclude)
        )
    assert [handed[0].task_id, handed[1].task_id, handed[2]] == [order[0], order[1], None]
    Assignment.objects.filter(pk=handed[0].pk).update(status=Assignment.Status.DONE)
    Assignment.objects.filter(pk=handed[1].pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    # the run-out task is given back when nothing else is left (the reaper runs then)
    assert claim_all(campaign, users["reviewer2"]) == [*order[2:], order[1]]
    assert Assignment.objects.get(pk=handed[1].pk).status == Assignment.Status.EXPIRED


def test_known_answer_items_are_claimed_apart_from_ordinary_work(claim_path, campaign, users, monkeypatch):
    order = in_order(campaign)
    known = order[1]
    Task.objects.filter(pk=known).update(known_answer={"choice": "A"})
    Campaign.objects.filter(pk=campaign.pk).update(known_answer_rate=0.5)
    campaign.refresh_from_db()
    ordinary = [task for task in order if task != known]

    monkeypatch.setattr(assignments, "known_answer_drawn", lambda campaign: False)
    assert claim_all(campaign, users["reviewer"]) == ordinary  # never the known-answer item by an ordinary claim
    monkeypatch.setattr(assignments, "known_answer_drawn", lambda campaign: True)
    assert claim_all(campaign, users["reviewer2"]) == [known, *ordinary]  # drawn: the check first, then work
    assert [a.task_id for a in claim_path if a and a.task.known_answer] == [known]


def test_an_excluded_reviewer_is_handed_nothing(claim_path, campaign, users):
    ReviewerExclusion.objects.create(
        campaign=campaign, reviewer=users["reviewer"], reason="careless", excluded_by=users["ds"]
    )
    assert assignments.assignment_claim_next(campaign=campaign, reviewer=users["reviewer"]) is None
    assert reviewer_progress(campaign, users["reviewer"])["left"] == 0  # and counted so
    assert claim_all(campaign, users["reviewer2"]) == in_order(campaign)


def test_left_counts_exactly_the_tasks_the_claim_would_hand_out(claim_path, campaign, users):
    order = in_order(campaign)
    Task.objects.filter(pk=order[0]).update(assigned_count=2)
    Task.objects.filter(pk=order[2]).update(known_answer={"choice": "A"})
    reviewer = users["reviewer"]
    assert reviewer_progress(campaign, reviewer)["left"] == len(order) - 2
    assert len(claim_all(campaign, reviewer)) == len(order) - 2
    assert reviewer_progress(campaign, reviewer)["left"] == 0


# --- the two paths on one random campaign (PostgreSQL, where both exist) ------------------------------------


def _random_campaign(campaign: Campaign, reviewers: list[User], seed: int) -> None:
    """Forty more tasks of random order, room, kind and history; one reviewer excluded."""
    rng = random.Random(seed)
    items = list(Item.objects.exclude(pk__in=Task.objects.filter(campaign=campaign).values("item_id"))[:40])
    Task.objects.bulk_create(
        Task(
            campaign=campaign,
            item=item,
            capacity=rng.choice([1, 2, 3]),
            priority=rng.choice([-1, 0, 0, 0, 1]),
            sort_key=rng.choice([0.0, 0.25, 0.5, rng.random()]),
            known_answer={"choice": "A"} if rng.random() < 0.15 else None,
        )
        for item in items
    )
    for task in Task.objects.filter(campaign=campaign):
        for reviewer in rng.sample(reviewers, rng.randrange(0, min(task.capacity, 2) + 1)):
            status = rng.choice([Assignment.Status.DONE, Assignment.Status.SKIPPED, Assignment.Status.EXPIRED])
            Assignment.objects.create(task=task, campaign=campaign, reviewer=reviewer, status=status, slot_order=[])
            if status == Assignment.Status.DONE:
                Task.objects.filter(pk=task.pk).update(assigned_count=task.assigned_count + 1)
                task.assigned_count += 1
    ReviewerExclusion.objects.create(campaign=campaign, reviewer=reviewers[-1], reason="r", excluded_by=reviewers[0])


def _claim_through(
    path, campaign: Campaign, reviewers: list[User], seed: int
) -> tuple[list[tuple[int, bool, int | None]], list[tuple[int, int]]]:
    """A random interleaving of claims (ordinary or known-answer) and judgments, undone afterwards: (reviewer, known,
    task claimed) per claim, and every task's (id, assigned_count) at the end."""
    rng = random.Random(seed)
    claims: list[tuple[int, bool, int | None]] = []
    rooms: list[tuple[int, int]] = []

    class Undo(Exception):
        pass

    try:
        with transaction.atomic():
            for _ in range(120):
                reviewer, known = rng.choice(reviewers), rng.random() < 0.2
                result = path(campaign, reviewer, known)
                claims.append((reviewer.pk, known, result.task_id if result else result))
                if result:
                    Assignment.objects.filter(pk=result.pk).update(status=Assignment.Status.DONE)
            rooms = sorted(Task.objects.filter(campaign=campaign).values_list("id", "assigned_count"))
            raise Undo
    except Undo:
        pass
    return claims, rooms


def test_both_paths_claim_a_random_campaign_through_alike(api, loop_data, users):
    if connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL has both paths")
    extra = [UserFactory(username=f"r{n}", role=User.Role.REVIEWER) for n in range(3)]
    campaign = Campaign.objects.get(pk=create_campaign(api, loop_data))
    dataset_version_ingest(
        dataset=dataset_create(name="more", created_by=users["ds"]),
        file=ContentFile(jsonl([{"id": f"m{n}", "input": "q"} for n in range(40)]), name="m.jsonl"),
        source_name="m.jsonl",
        created_by=users["ds"],
    )
    reviewers = [users["reviewer"], users["reviewer2"], *extra]
    _random_campaign(campaign, reviewers, seed=7)
    runs = {name: _claim_through(path, campaign, reviewers, seed=11) for name, path in PATHS.items()}
    assert runs["postgresql"] == runs["portable"]
    claimed = [entry for entry in runs["portable"][0] if entry[2]]
    assert len(claimed) > 20 and any(known for _, known, _ in claimed)  # the run did claim, both kinds
    assert all(entry[2] is None for entry in runs["portable"][0] if entry[0] == reviewers[-1].pk)  # excluded


# --- the hand-written SQL names nothing by hand ------------------------------------------------------------

RAW_SQL_MODULES = [
    "core/rawsql.py",
    "datasets/copyload.py",
    "datasets/item_index.py",
    "datasets/selectors_diff.py",
    "datasets/services/datasets.py",
    "datasets/services/item_copy.py",
    "models_app/services/prediction_copy.py",
    "models_app/services/predictions.py",
    "reviews/claimable.py",
    "reviews/selectors.py",
    "reviews/services/assignments.py",
    "reviews/services/judgments.py",
    "reviews/services/label_studio_import.py",
]


@pytest.mark.parametrize("path", RAW_SQL_MODULES)
def test_raw_sql_takes_table_names_from_the_models_and_statuses_as_parameters(path):
    source = (Path(__file__).resolve().parent.parent / path).read_text()
    tables = [model._meta.db_table for model in apps.get_models(include_auto_created=True)]
    assert [table for table in tables if re.search(rf"\b{table}\b", source)] == []
    statuses = [*Assignment.Status.values, *Campaign.Status.values]
    assert [status for status in statuses if f"'{status}'" in source] == []
