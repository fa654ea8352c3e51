"""The assignment engine: leases that run out, prefetch, skips, undo, discards, quotas and the sampling orders.
Concurrent claims on PostgreSQL are tests/test_concurrency.py's subject."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import User
from reviews.models import Assignment, Campaign, Judgment, Task
from reviews.selectors import reviewer_progress
from reviews.services import judgments
from reviews.services.assignments import MAX_OPEN_PER_REVIEWER, assignment_revive, assignments_expire
from reviews.tasks import assignments_expire_all
from tests.conftest import token_client
from tests.factories import UserFactory, jsonl_file


class Clock:
    """django.utils.timezone.now, moved forward on demand (the services, auto_now_add and the reaper all read it)."""

    def __init__(self, real_now):
        self.real_now = real_now
        self.offset = timedelta(0)

    def now(self):
        return self.real_now() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(timezone.now)
    monkeypatch.setattr(timezone, "now", clock.now)
    return clock


@pytest.fixture
def rev3(users):
    user = UserFactory.create(username="rev3", role=User.Role.REVIEWER)
    return token_client(user)


def create_campaign(api, loop_data, **overrides) -> int:
    body = {
        "name": "engine",
        "kind": "pairwise",
        **loop_data,
        "reviewers": ["rev", "rev2"],
        "overlap": 1,
        "gate": {"min_judgments": 4, "min_win_rate": 0.5, "alternative": 0.95},
        **overrides,
    }
    response = api["ds"].post("/api/v1/campaigns/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def next_id(client, cid, exclude=()) -> int | None:
    """The task id /next/ hands out, or None on 204."""
    query = f"?exclude={','.join(map(str, exclude))}" if exclude else ""
    response = client.get(f"/api/v1/campaigns/{cid}/next/{query}")
    if response.status_code == 204:
        return None
    assert response.status_code == 200, response.json()
    return response.json()["task"]


def claim(client, cid, exclude=()) -> int:
    """The task id /next/ hands out, which must be one."""
    task_id = next_id(client, cid, exclude)
    assert task_id is not None, "no task handed out"
    return task_id


def judge(client, task_id: int, body=None):
    return client.post(f"/api/v1/tasks/{task_id}/judgments/", body or {"choice": "tie"}, format="json")


def skip(client, task_id: int, body):
    return client.post(f"/api/v1/tasks/{task_id}/skip/", body, format="json")


def judge_all(client, cid, pick=lambda task: {"choice": "tie"}) -> list[int]:
    done = []
    while (response := client.get(f"/api/v1/campaigns/{cid}/next/")).status_code == 200:
        task = response.json()
        assert judge(client, task["task"], pick(task)).status_code == 201
        done.append(task["task"])
    assert response.status_code == 204
    return done


def error_field(response) -> str | None:
    extra = response.json()["extra"]
    return extra.get("field") or next(iter(extra.get("fields", {})), None)


def counted(cid) -> int:
    return Judgment.objects.counted().filter(task__campaign_id=cid).count()


def assigned(task_id: int) -> int:
    return Task.objects.get(pk=task_id).assigned_count


def expire_now(task_id: int, reviewer: User) -> None:
    """Put the reviewer's lease on the task in the past."""
    Assignment.objects.filter(task_id=task_id, reviewer=reviewer).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


# --- leases -----------------------------------------------------------------------------------------------


def test_an_expired_lease_gives_the_task_back_to_another_reviewer(api, users, loop_data):
    cid = create_campaign(api, loop_data, lease_seconds=10)
    first = claim(api["reviewer"], cid)
    assert assigned(first) == 1
    assert assignments_expire() == 0  # still within its lease
    expire_now(first, users["reviewer"])
    assert assignments_expire() == 1
    assert assignments_expire() == 0  # once only
    assert assigned(first) == 0
    assert Assignment.objects.get(task_id=first, reviewer=users["reviewer"]).status == Assignment.Status.EXPIRED
    assert next_id(api["reviewer2"], cid) == first  # first in hand-out order again
    assert next_id(api["reviewer"], cid) != first  # never the same item twice


def test_the_lease_runs_for_lease_seconds_on_the_clock(api, users, loop_data, clock):
    cid = create_campaign(api, loop_data, lease_seconds=10)
    claimed_at = timezone.now()
    first = claim(api["reviewer"], cid)
    assignment = Assignment.objects.get(task_id=first)
    assert assignment.lease_expires_at is not None
    assert abs(assignment.lease_expires_at - (claimed_at + timedelta(seconds=10))) < timedelta(seconds=1)
    clock.advance(9)
    assert assignments_expire() == 0
    clock.advance(2)
    assert assignments_expire() == 1
    assert assigned(first) == 0 and Assignment.objects.get(pk=assignment.pk).status == Assignment.Status.EXPIRED


def test_next_reaps_run_out_leases_when_nothing_else_is_left(api, users, loop_data, clock):
    cid = create_campaign(api, loop_data, lease_seconds=10)
    abandoned = claim(api["reviewer"], cid)
    assert len(judge_all(api["reviewer2"], cid)) == 5  # everything but the leased task
    clock.advance(11)
    assert next_id(api["reviewer2"], cid) == abandoned
    assert Assignment.objects.get(task_id=abandoned, reviewer=users["reviewer"]).status == Assignment.Status.EXPIRED
    assert assigned(abandoned) == 1


def test_a_late_submission_is_accepted_when_nobody_took_the_task(api, users, loop_data):
    cid = create_campaign(api, loop_data, lease_seconds=10)
    first = claim(api["reviewer"], cid)
    expire_now(first, users["reviewer"])
    assert assignments_expire() == 1
    response = judge(api["reviewer"], first, {"choice": "A"})
    assert response.status_code == 201, response.json()
    assert Assignment.objects.get(task_id=first).status == Assignment.Status.DONE
    assert assigned(first) == 1 and counted(cid) == 1


def test_a_late_submission_is_accepted_while_the_task_has_room_for_both(api, users, loop_data):
    cid = create_campaign(api, loop_data, lease_seconds=10, overlap=2)
    first = claim(api["reviewer"], cid)
    expire_now(first, users["reviewer"])
    assert assignments_expire() == 1
    assert next_id(api["reviewer2"], cid) == first
    assert judge(api["reviewer"], first).status_code == 201  # revived: 1 + 1 within capacity 2
    assert judge(api["reviewer2"], first).status_code == 201
    assert assigned(first) == 2 and counted(cid) == 2


def test_a_late_submission_is_refused_when_another_reviewer_took_the_last_slot(api, users, loop_data):
    cid = create_campaign(api, loop_data, lease_seconds=10)
    first = claim(api["reviewer"], cid)
    expire_now(first, users["reviewer"])
    assert assignments_expire() == 1
    assert next_id(api["reviewer2"], cid) == first
    late = judge(api["reviewer"], first, {"choice": "A"})
    assert late.status_code == 409 and late.json()["code"] == "lease_expired"
    assert Assignment.objects.get(task_id=first, reviewer=users["reviewer"]).status == Assignment.Status.EXPIRED
    assert assigned(first) == 1 and not Judgment.objects.exists()
    assert judge(api["reviewer2"], first).status_code == 201


def test_two_late_submissions_at_once_revive_the_assignment_once(api, users, loop_data, monkeypatch):
    """Both requests read the assignment as expired; the one that lands second must not take a second slot."""
    cid = create_campaign(api, loop_data, lease_seconds=10, overlap=2)
    first = claim(api["reviewer"], cid)
    expire_now(first, users["reviewer"])
    assert assignments_expire() == 1
    read_assignment = judgments._assignment_for
    landed: list[str] = []

    def the_other_tab_lands_first(**kwargs):
        assignment = read_assignment(**kwargs)  # both tabs read it as expired
        if not landed:
            landed.append("tab-1")
            judgments.judgment_submit(task_id=first, reviewer=users["reviewer"], choice="A", client_id="tab-1")
        return assignment

    monkeypatch.setattr(judgments, "_assignment_for", the_other_tab_lands_first)
    response = judge(api["reviewer"], first, {"choice": "B", "client_id": "tab-2"})
    assert response.status_code == 409 and response.json()["code"] == "already_judged"
    assert list(Judgment.objects.values_list("client_id", flat=True)) == ["tab-1"]
    assert assigned(first) == 1  # one assignment, one slot: the other reviewer still has room
    assert next_id(api["reviewer2"], cid) == first


def test_a_revived_assignment_gets_a_fresh_lease(api, users, loop_data):
    cid = create_campaign(api, loop_data, lease_seconds=10)
    first = claim(api["reviewer"], cid)
    expire_now(first, users["reviewer"])
    assert assignments_expire() == 1
    assignment_revive(assignment=Assignment.objects.get(task_id=first))
    assert assignments_expire() == 0  # not reaped again before the reviewer's submission lands
    assignment = Assignment.objects.get(task_id=first)
    assert assignment.status == Assignment.Status.OPEN
    assert assignment.lease_expires_at is not None and assignment.lease_expires_at > timezone.now()
    assert assigned(first) == 1


def test_skipping_after_the_lease_ran_out_gives_nothing_back_twice(api, users, loop_data):
    cid = create_campaign(api, loop_data, lease_seconds=10)
    first = claim(api["reviewer"], cid)
    expire_now(first, users["reviewer"])
    assert assignments_expire() == 1
    assert skip(api["reviewer"], first, {"reason": "came back too late"}).status_code == 200
    assert assigned(first) == 0  # the reaper already gave the slot back
    assert Assignment.objects.get(task_id=first).status == Assignment.Status.SKIPPED


def test_the_beat_task_expires_run_out_leases_in_every_campaign(api, users, loop_data):
    campaigns = [create_campaign(api, loop_data, lease_seconds=10) for _ in range(2)]
    claimed = [claim(api["reviewer"], cid) for cid in campaigns]
    next_id(api["reviewer2"], campaigns[0])  # a lease still running is left alone
    for task_id in claimed:
        expire_now(task_id, users["reviewer"])
    assert assignments_expire_all.apply().get() == 2
    assert [assigned(task_id) for task_id in claimed] == [0, 0]
    assert Assignment.objects.filter(status=Assignment.Status.OPEN).count() == 1
    assert assignments_expire_all() == 0


# --- prefetch ---------------------------------------------------------------------------------------------


def test_prefetch_hands_out_a_second_task_and_no_more_than_two(api, users, loop_data):
    cid = create_campaign(api, loop_data)
    client = api["reviewer"]
    first = claim(client, cid)
    second = claim(client, cid, exclude=[first])
    assert second not in (None, first)
    assert next_id(client, cid, exclude=[first]) == second  # asking again returns the same prefetched task
    assert next_id(client, cid, exclude=[first, second]) is None
    assert next_id(client, cid) == first  # the task on screen, again
    open_now = Assignment.objects.filter(reviewer=users["reviewer"], status=Assignment.Status.OPEN)
    assert open_now.count() == MAX_OPEN_PER_REVIEWER == 2
    assert judge(client, first).status_code == 201
    third = claim(client, cid, exclude=[second])
    assert third not in (None, first, second)
    assert sorted(open_now.values_list("task_id", flat=True)) == sorted([second, third])


def test_a_task_detail_returns_an_open_task_of_the_caller_only(api, loop_data):
    cid = create_campaign(api, loop_data)
    first = claim(api["reviewer"], cid)
    response = api["reviewer"].get(f"/api/v1/tasks/{first}/")
    assert response.status_code == 200 and response.json()["task"] == first
    assert api["reviewer2"].get(f"/api/v1/tasks/{first}/").status_code == 404
    judge(api["reviewer"], first)
    assert api["reviewer"].get(f"/api/v1/tasks/{first}/").status_code == 404


# --- skip -------------------------------------------------------------------------------------------------


def test_a_skip_needs_a_reason(api, users, loop_data):
    cid = create_campaign(api, loop_data)
    first = claim(api["reviewer"], cid)
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        response = skip(api["reviewer"], first, body)
        assert response.status_code == 400 and error_field(response) == "reason", (body, response.json())
    assert Assignment.objects.get(task_id=first).status == Assignment.Status.OPEN and assigned(first) == 1


def test_a_skip_gives_the_slot_to_another_reviewer_and_never_back_to_the_skipper(api, users, loop_data):
    cid = create_campaign(api, loop_data)
    first = claim(api["reviewer"], cid)
    response = skip(api["reviewer"], first, {"reason": "the question is garbled", "flag": True})
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "task": first,
        "status": "skipped",
        "skip_reason": "the question is garbled",
        "flagged": True,
    }
    assignment = Assignment.objects.get(task_id=first, reviewer=users["reviewer"])
    assert (assignment.status, assignment.flagged, assignment.completed_at is not None) == ("skipped", True, True)
    assert assigned(first) == 0
    assert next_id(api["reviewer2"], cid) == first
    assert first not in judge_all(api["reviewer"], cid)


def test_a_skip_without_flag_is_not_flagged(api, loop_data):
    cid = create_campaign(api, loop_data)
    first = claim(api["reviewer"], cid)
    assert skip(api["reviewer"], first, {"reason": "not my field"}).json()["flagged"] is False


def test_skipping_a_judged_or_foreign_task_is_refused(api, loop_data):
    cid = create_campaign(api, loop_data)
    first = claim(api["reviewer"], cid)
    assert judge(api["reviewer"], first).status_code == 201
    response = skip(api["reviewer"], first, {"reason": "changed my mind"})
    assert response.status_code == 409 and response.json()["code"] == "not_open"
    assert assigned(first) == 1 and counted(cid) == 1
    assert skip(api["reviewer2"], first, {"reason": "not mine"}).status_code == 404
    second = claim(api["reviewer"], cid)
    assert skip(api["reviewer"], second, {"reason": "once"}).status_code == 200
    assert skip(api["reviewer"], second, {"reason": "twice"}).status_code == 409
    assert assigned(second) == 0


# --- undo -------------------------------------------------------------------------------------------------


def test_undo_within_the_window_reopens_the_task_and_only_the_new_judgment_counts(api, users, loop_data):
    cid = create_campaign(api, loop_data)
    first = claim(api["reviewer"], cid)
    judgment_id = judge(api["reviewer"], first, {"choice": "A"}).json()["id"]
    response = api["reviewer"].post(f"/api/v1/judgments/{judgment_id}/undo/")
    assert response.status_code == 200, response.json()
    assert response.json()["task"] == first and [o["slot"] for o in response.json()["outputs"]] == ["A", "B"]
    retracted = Judgment.objects.get(pk=judgment_id)  # kept, no longer counted
    assert retracted.retracted_at is not None and retracted.choice == "A"
    assert counted(cid) == 0
    assert api["approver"].get(f"/api/v1/campaigns/{cid}/results/").json()["judgments"] == 0
    assignment = Assignment.objects.get(task_id=first, reviewer=users["reviewer"])
    assert assignment.status == Assignment.Status.OPEN and assignment.completed_at is None
    assert assigned(first) == 1  # still the reviewer's slot: nobody else gets it meanwhile
    assert api["reviewer"].get(f"/api/v1/tasks/{first}/").status_code == 200

    again = judge(api["reviewer"], first, {"choice": "B"})
    assert again.status_code == 201 and again.json()["id"] != judgment_id
    assert Judgment.objects.filter(task_id=first).count() == 2
    assert list(Judgment.objects.counted().filter(task_id=first).values_list("choice", flat=True)) == ["B"]
    results = api["approver"].get(f"/api/v1/campaigns/{cid}/results/").json()
    assert results["judgments"] == 1 and sum(results["candidate"].values()) == 1


def test_undo_after_the_window_is_refused(api, loop_data, clock, settings):
    settings.SIGNOFF_UNDO_SECONDS = 30
    cid = create_campaign(api, loop_data)
    first = claim(api["reviewer"], cid)
    judgment_id = judge(api["reviewer"], first).json()["id"]
    clock.advance(29)
    assert api["reviewer"].post(f"/api/v1/judgments/{judgment_id}/undo/").status_code == 200
    judgment_id = judge(api["reviewer"], first).json()["id"]
    clock.advance(31)
    response = api["reviewer"].post(f"/api/v1/judgments/{judgment_id}/undo/")
    assert response.status_code == 409 and response.json()["code"] == "undo_window_passed"
    assert Judgment.objects.get(pk=judgment_id).retracted_at is None and counted(cid) == 1


def test_undo_of_another_reviewers_or_an_undone_judgment_is_not_found(api, loop_data):
    cid = create_campaign(api, loop_data)
    first = claim(api["reviewer"], cid)
    judgment_id = judge(api["reviewer"], first).json()["id"]
    response = api["reviewer2"].post(f"/api/v1/judgments/{judgment_id}/undo/")
    assert response.status_code == 404 and response.json()["code"] == "judgment_not_found"
    assert api["reviewer"].post("/api/v1/judgments/999999/undo/").status_code == 404
    assert Judgment.objects.get(pk=judgment_id).retracted_at is None
    assert api["reviewer"].post(f"/api/v1/judgments/{judgment_id}/undo/").status_code == 200
    assert api["reviewer"].post(f"/api/v1/judgments/{judgment_id}/undo/").status_code == 404


def test_undo_after_sign_off_is_refused(api, loop_data):
    cid = create_campaign(api, loop_data)
    first = claim(api["reviewer"], cid)
    judgment_id = judge(api["reviewer"], first).json()["id"]
    signed = api["approver"].post(
        f"/api/v1/campaigns/{cid}/signoff/", {"decision": "reject", "rationale": "too few"}, format="json"
    )
    assert signed.status_code == 201
    response = api["reviewer"].post(f"/api/v1/judgments/{judgment_id}/undo/")
    assert response.status_code == 409 and response.json()["code"] == "campaign_closed"
    assert Judgment.objects.get(pk=judgment_id).retracted_at is None


# --- discard ----------------------------------------------------------------------------------------------


@pytest.fixture
def judged_twice(api, loop_data, rev3):
    """Overlap 2 with three reviewers: rev and rev2 both judged the first task in hand-out order."""
    cid = create_campaign(api, loop_data, reviewers=["rev", "rev2", "rev3"], overlap=2)
    first = claim(api["reviewer"], cid)
    assert next_id(api["reviewer2"], cid) == first
    ids = [judge(api[role], first, {"choice": "A"}).json()["id"] for role in ("reviewer", "reviewer2")]
    assert assigned(first) == 2
    return cid, first, ids


def discard(client, judgment_id, body):
    return client.post(f"/api/v1/judgments/{judgment_id}/discard/", body, format="json")


def test_the_lead_discards_a_judgment_and_the_item_gets_room_for_another_reviewer(api, users, judged_twice, rev3):
    cid, first, (mine, _) = judged_twice
    response = discard(api["ds"], mine, {"reason": "answered in four seconds"})
    assert response.status_code == 200, response.json()
    assert response.json()["discard_reason"] == "answered in four seconds" and response.json()["discarded_at"]
    judgment = Judgment.objects.get(pk=mine)
    assert (judgment.discarded_by, judgment.discard_reason) == (users["ds"], "answered in four seconds")
    assert judgment.discarded_at is not None and judgment.retracted_at is None
    assert api["approver"].get(f"/api/v1/campaigns/{cid}/results/").json()["judgments"] == 1
    assert assigned(first) == 1
    assert next_id(rev3, cid) == first
    assert judge(rev3, first).status_code == 201
    assert counted(cid) == 2 and Judgment.objects.filter(task_id=first).count() == 3
    again = discard(api["ds"], mine, {"reason": "once more"})
    assert again.status_code == 409 and again.json()["code"] == "not_counted"
    assert assigned(first) == 2


def test_only_the_campaigns_creator_or_an_admin_may_discard(api, judged_twice):
    _cid, first, (mine, theirs) = judged_twice
    other_ds = token_client(UserFactory.create(username="ds2", role=User.Role.DATA_SCIENTIST))
    response = discard(other_ds, mine, {"reason": "I disagree"})
    assert response.status_code == 403 and response.json()["code"] == "not_campaign_lead"
    assert discard(api["reviewer2"], mine, {"reason": "I disagree"}).status_code == 403
    assert discard(api["approver"], mine, {"reason": "I disagree"}).status_code == 403
    assert Judgment.objects.get(pk=mine).discarded_at is None and assigned(first) == 2
    assert discard(api["admin"], theirs, {"reason": "duplicate account"}).status_code == 200


def test_a_discard_needs_a_reason_and_an_active_campaign(api, judged_twice):
    cid, first, (mine, _) = judged_twice
    for body in ({}, {"reason": ""}, {"reason": "  "}):
        response = discard(api["ds"], mine, body)
        assert response.status_code == 400 and error_field(response) == "reason", (body, response.json())
    assert discard(api["ds"], 999999, {"reason": "x"}).status_code == 404
    api["approver"].post(f"/api/v1/campaigns/{cid}/signoff/", {"decision": "reject", "rationale": "r"}, format="json")
    closed = discard(api["ds"], mine, {"reason": "too late"})
    assert closed.status_code == 409 and closed.json()["code"] == "campaign_closed"
    assert Judgment.objects.get(pk=mine).discarded_at is None and assigned(first) == 2


def test_an_undone_judgment_cannot_be_discarded(api, judged_twice):
    _cid, first, (mine, _) = judged_twice
    assert api["reviewer"].post(f"/api/v1/judgments/{mine}/undo/").status_code == 200
    response = discard(api["ds"], mine, {"reason": "x"})
    assert response.status_code == 409 and assigned(first) == 2  # the reviewer still holds the slot


# --- quotas -----------------------------------------------------------------------------------------------


def test_a_reviewer_stops_at_the_quota_while_tasks_remain_for_others(api, loop_data):
    cid = create_campaign(api, loop_data, quota_per_reviewer=2)
    client = api["reviewer"]
    first = claim(client, cid)
    second = claim(client, cid, exclude=[first])
    assert next_id(client, cid, exclude=[first, second]) is None
    assert judge(client, first).status_code == 201 and judge(client, second).status_code == 201
    assert next_id(client, cid) is None
    assert len(judge_all(api["reviewer2"], cid)) == 2  # rev2 has a quota of 2 as well
    assert Task.objects.filter(campaign_id=cid, assigned_count=0).count() == 2  # left for someone else


def test_skipped_and_run_out_tasks_do_not_count_against_the_quota(api, users, loop_data):
    cid = create_campaign(api, loop_data, quota_per_reviewer=2)
    client = api["reviewer"]
    skipped = claim(client, cid)
    assert skip(client, skipped, {"reason": "unclear"}).status_code == 200
    abandoned = claim(client, cid)
    expire_now(abandoned, users["reviewer"])
    assert assignments_expire() == 1
    judged = judge_all(client, cid)
    assert len(judged) == 2 and not {skipped, abandoned} & set(judged)
    progress = reviewer_progress(Campaign.objects.get(pk=cid), users["reviewer"])
    assert (progress["done"], progress["skipped"], progress["open"], progress["quota"]) == (2, 1, 0, 2)


# --- sampling ---------------------------------------------------------------------------------------------


def tag_of(task_id: int) -> str:
    return Task.objects.select_related("item").get(pk=task_id).item.tags[0]


def test_stratified_sampling_spreads_every_stratum_evenly_over_the_hand_out_order(api, loop_data):
    for _ in range(3):  # three independent draws
        cid = create_campaign(api, loop_data, sampling="stratified")
        tasks = Task.objects.filter(campaign_id=cid).select_related("item")
        assert {task.priority for task in tasks} == {0}
        by_tag: dict[str, list[float]] = {}
        for task in tasks:
            by_tag.setdefault(task.item.tags[0], []).append(task.sort_key)
        assert sorted(by_tag) == ["even", "odd"]
        for keys in by_tag.values():  # the k-th of n in a stratum sits in [k/n, (k+1)/n)
            assert all(k / 3 <= key < (k + 1) / 3 for k, key in enumerate(sorted(keys)))
        # handed out one by one, every prefix holds both tags within one of each other
        order = [tag_of(task_id) for task_id in judge_all(api["reviewer"], cid)]
        assert len(order) == 6
        for end in range(1, 7):
            counts = Counter(order[:end])
            assert abs(counts["even"] - counts["odd"]) <= 1, order


@pytest.fixture
def half_agreeing_version(api, loop_data):
    """calc:3 gives calc:2's answer on item-0..2 and a different one on item-3..5."""
    assert api["ds"].post("/api/v1/models/calc/versions/", {"version": "3"}, format="json").status_code == 201
    rows = [{"id": f"item-{i}", "output": str(2 * i if i < 3 else 2 * i + 2)} for i in range(6)]
    response = api["ds"].post(
        "/api/v1/models/calc/versions/3/predictions/",
        {"dataset": "arith", "dataset_version": 1, "file": jsonl_file(rows)},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    return {**loop_data, "baseline": "calc:3"}


def test_disagreement_sampling_hands_out_items_whose_outputs_differ_first(api, half_agreeing_version):
    cid = create_campaign(api, half_agreeing_version, sampling="disagreement")
    priorities = dict(Task.objects.filter(campaign_id=cid).values_list("item__external_id", "priority"))
    assert priorities == {"item-0": 1, "item-1": 1, "item-2": 1, "item-3": 0, "item-4": 0, "item-5": 0}
    order = [Task.objects.get(pk=t).item.external_id for t in judge_all(api["reviewer"], cid)]
    assert sorted(order[:3]) == ["item-3", "item-4", "item-5"]


def test_random_sampling_gives_every_task_the_same_priority(api, half_agreeing_version):
    cid = create_campaign(api, half_agreeing_version, sampling="random")
    assert set(Task.objects.filter(campaign_id=cid).values_list("priority", flat=True)) == {0}


def pick(version_offset: int):
    """Choose the slot of calc:2 (offset 0) or calc:1 (offset 1) by its output."""

    def choose(task: dict) -> dict:
        output = str(2 * int(task["item"].split("-")[1]) + version_offset)
        return {"choice": next(o["slot"] for o in task["outputs"] if o["output"] == output)}

    return choose


def test_an_item_reviewers_disagree_on_jumps_the_queue_for_its_last_slot(api, loop_data, rev3):
    cid = create_campaign(api, loop_data, sampling="disagreement", reviewers=["rev", "rev2", "rev3"], overlap=3)

    def take_and_judge(client, chooser) -> int:
        response = client.get(f"/api/v1/campaigns/{cid}/next/")
        task = response.json()
        assert judge(client, task["task"], chooser(task)).status_code == 201
        return task["task"]

    agreed, disputed = take_and_judge(api["reviewer"], pick(0)), take_and_judge(api["reviewer"], pick(0))
    assert take_and_judge(api["reviewer2"], pick(0)) == agreed  # same version, whatever its slot
    assert take_and_judge(api["reviewer2"], pick(1)) == disputed
    priorities = dict(Task.objects.filter(campaign_id=cid).values_list("pk", "priority"))
    assert priorities.pop(disputed) == -1
    assert set(priorities.values()) == {0}  # the item they agreed on keeps its place
    assert next_id(rev3, cid) == disputed  # ahead of `agreed`, which comes first in the original order


def test_reviewers_agreeing_on_a_tie_do_not_raise_the_priority(api, loop_data, rev3):
    cid = create_campaign(api, loop_data, sampling="disagreement", reviewers=["rev", "rev2", "rev3"], overlap=3)
    first = claim(api["reviewer"], cid)
    assert next_id(api["reviewer2"], cid) == first
    judge(api["reviewer"], first, {"choice": "tie"})
    judge(api["reviewer2"], first, {"choice": "tie"})
    assert Task.objects.get(pk=first).priority == 0
