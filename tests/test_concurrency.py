"""Many reviewers claiming and judging at once: no task goes past its overlap, nobody judges an item twice,
and every judgment is counted exactly once. Runs on SQLite and on PostgreSQL (where it matters most)."""

import threading
import time

import pytest
from django.db import connection

from core.models import User
from reviews.models import Assignment, Campaign, GateTally, Judgment, Task
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
    # The gate's running tally followed every one of them exactly: concurrent submissions take their ids in the
    # order the tally counts them (reviews.services.gate_tally), so none left it for the gate check to rebuild
    tally = GateTally.objects.get(campaign_id=campaign_id)
    assert not tally.stale
    assert (tally.units, tally.judgments, tally.wins + tally.losses) == (len(tasks), len(tasks) * 3, len(tasks) * 3)


def test_a_judgment_written_while_another_is_in_flight_extends_the_gate_path_exactly(api, loop_data, monkeypatch):
    """Judgment ids are the gate path's order. A submission paused between writing its judgment and counting it
    must not let a later one be counted first (its id would then sit before the path's end, and the tally would
    need a rebuild): the tally is locked before the insert, so the later submission waits its turn."""
    from reviews.services import judgments as judgments_module

    first, second = (UserFactory.create(username=f"race{i}", role=User.Role.REVIEWER) for i in range(2))
    response = api["ds"].post(
        "/api/v1/campaigns/",
        {"name": "race", "kind": "pairwise", **loop_data, "reviewers": ["race0", "race1"], "overlap": 1},
        format="json",
    )
    campaign = Campaign.objects.get(pk=response.json()["id"])
    claims = {r: assignment_claim_next(campaign=campaign, reviewer=r) for r in (first, second)}
    task_of = {r: claim.task_id for r, claim in claims.items() if claim is not None}
    assert len(task_of) == 2
    other_done = threading.Event()
    insert = judgments_module.insert_model

    def paused_insert(model):
        row = insert(model)
        if model.reviewer_id == first.pk:
            other_done.wait(timeout=1.5)  # the other submission runs now, as far as it can
        return row

    monkeypatch.setattr(judgments_module, "insert_model", paused_insert)
    errors: list[BaseException] = []

    def submit(reviewer, after=None):
        try:
            judgment_submit(task_id=task_of[reviewer], reviewer=reviewer, choice="A")
            if after:
                after.set()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    paused = threading.Thread(target=submit, args=(first,))
    paused.start()
    time.sleep(0.3)  # the first submission is inside its transaction, its judgment written
    racing = threading.Thread(target=submit, args=(second, other_done))
    racing.start()
    for thread in (paused, racing):
        thread.join(timeout=30)
    assert not errors, errors
    tally = GateTally.objects.get(campaign=campaign)
    assert (tally.stale, tally.units, tally.judgments) == (False, 2, 2)
    assert tally.last_unit_judgment == Judgment.objects.filter(task__campaign=campaign).latest("id").pk
