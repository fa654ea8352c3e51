"""Many reviewers claiming and judging at once: no task goes past its overlap, nobody judges an item twice,
and every judgment is counted exactly once. Runs on SQLite and on PostgreSQL (where it matters most)."""

import threading
import time

import pytest
from django.db import connection

from core.models import User
from reviews.models import Assignment, Judgment, Task
from reviews.services.assignments import assignment_claim_next
from reviews.services.judgments import judgment_submit
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_reviewers_never_over_assign_or_double_count(api, loop_data):
    reviewers = [UserFactory.create(username=f"crowd{i}", role=User.Role.REVIEWER) for i in range(6)]
    response = api["ds"].post(
        "/api/v1/campaigns/",
        {
            "name": "crowd",
            "kind": "pairwise",
            **loop_data,
            "reviewers": [r.username for r in reviewers],
            "overlap": 3,
            "gate": {
                "min_judgments": 1,
                "min_win_rate": 0.5,
                "stop_when_decided": False,
            },  # every task filled, whatever the gate says
        },
        format="json",
    )
    campaign_id = response.json()["id"]
    from reviews.models import Campaign

    campaign = Campaign.objects.get(pk=campaign_id)
    errors: list[BaseException] = []
    start = threading.Barrier(len(reviewers))

    def review(reviewer):
        try:
            start.wait()
            empty = 0
            # "nothing" can mean every open task is locked by another claim at this instant (SKIP LOCKED): a client
            # asks again, so this one does too before it concludes that nothing is left
            while empty < 3:
                assignment = assignment_claim_next(campaign=campaign, reviewer=reviewer)
                if assignment is None:
                    empty += 1
                    time.sleep(0.05)
                    continue
                empty = 0
                judgment_submit(task_id=assignment.task_id, reviewer=reviewer, choice="A")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=review, args=(r,)) for r in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    tasks = list(Task.objects.filter(campaign_id=campaign_id))
    assert all(task.assigned_count == task.capacity == 3 for task in tasks)
    for task in tasks:
        assert Assignment.objects.filter(task=task).count() == 3
        assert Judgment.objects.filter(task=task).values("reviewer").distinct().count() == 3
    assert Judgment.objects.filter(task__campaign_id=campaign_id).count() == len(tasks) * 3
