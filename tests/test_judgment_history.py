"""A reviewer's history: their judgments paged, a change recorded (the earlier answer kept, only the new one counted),
refused once the campaign is closed or its gate decided; and a skip taken back."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from core.errors import ConflictError
from reviews.models import Assignment, Campaign, GateTally, Judgment
from reviews.results import campaign_results
from reviews.services.gate_tally import campaign_gate_from_tally
from reviews.services.judgment_changes import judgment_change
from tests.test_gate_tally import expected_tally, tally_figures
from tests.test_reviews import candidate_output, slot_of


def judge(client, cid: int, choice: str = "A") -> dict:
    task = client.get(f"/api/v1/campaigns/{cid}/next/").json()
    response = client.post(f"/api/v1/tasks/{task['task']}/judgments/", {"choice": choice}, format="json")
    assert response.status_code == 201, response.json()
    return {**task, "judgment": response.json()["id"]}


def test_a_change_is_recorded_as_a_new_answer_and_only_it_counts(api, pairwise_campaign):
    cid = pairwise_campaign["id"]
    task = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").json()
    baseline_slot = slot_of(task, str(int(candidate_output(task)) + 1))
    candidate_slot = "AB".replace(baseline_slot, "")
    judged = api["reviewer"].post(f"/api/v1/tasks/{task['task']}/judgments/", {"choice": baseline_slot}, format="json")
    task["judgment"] = judged.json()["id"]
    again = api["reviewer"].post(f"/api/v1/tasks/{task['task']}/judgments/", {"choice": "A"}, format="json")
    assert again.status_code == 409  # a second submission is refused: a change goes through /change/
    before = campaign_results(campaign=Campaign.objects.get(pk=cid))
    assert (before["judgments"], before["win_rate"]["estimate"]) == (1, 0.0)

    response = api["reviewer"].post(
        f"/api/v1/judgments/{task['judgment']}/change/",
        {"choice": candidate_slot, "comment": "misread B", "client_id": "change-1"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    new = response.json()
    assert new["replaces"] == task["judgment"] and new["rationale"] == "misread B"
    old = Judgment.objects.get(pk=task["judgment"])
    assert old.retracted_at is not None and old.choice == baseline_slot and old.replaced_by.pk == new["id"]
    after = campaign_results(campaign=Campaign.objects.get(pk=cid))
    assert (after["judgments"], after["win_rate"]["estimate"]) == (1, 1.0)  # the new answer, once

    again = api["reviewer"].post(
        f"/api/v1/judgments/{task['judgment']}/change/",
        {"choice": candidate_slot, "client_id": "change-1"},
        format="json",
    )
    assert again.status_code == 200 and again.json()["id"] == new["id"]  # a retry is the same change
    stale = api["reviewer"].post(f"/api/v1/judgments/{task['judgment']}/change/", {"choice": "tie"}, format="json")
    assert stale.status_code == 409 and stale.json()["code"] == "judgment_superseded"

    history = api["reviewer"].get(f"/api/v1/campaigns/{cid}/my-judgments/").json()
    assert history["count"] == 1
    entry = history["results"][0]
    assert entry["id"] == new["id"] and entry["replaces"] == task["judgment"] and entry["changeable"]
    assert entry["answer"] == f"{candidate_slot} is better"
    assert entry["previous_answer"] == f"{baseline_slot} is better"


def test_only_the_author_may_see_or_change_a_judgment(api, pairwise_campaign):
    cid = pairwise_campaign["id"]
    task = judge(api["reviewer"], cid)
    other = api["reviewer2"]
    assert (
        other.post(f"/api/v1/judgments/{task['judgment']}/change/", {"choice": "B"}, format="json").status_code == 404
    )
    assert other.get(f"/api/v1/judgments/{task['judgment']}/task/").status_code == 404
    assert other.get(f"/api/v1/campaigns/{cid}/my-judgments/").json()["count"] == 0
    assert api["approver"].get(f"/api/v1/campaigns/{cid}/my-judgments/").status_code in (403, 404)
    mine = api["reviewer"].get(f"/api/v1/judgments/{task['judgment']}/task/")
    assert mine.status_code == 200 and [o["output"] for o in mine.json()["outputs"]] == [
        o["output"] for o in task["outputs"]
    ]  # the same blind order as when it was judged


def test_the_history_is_paged(api, pairwise_campaign):
    cid = pairwise_campaign["id"]
    for _ in range(5):
        judge(api["reviewer"], cid)
    page = api["reviewer"].get(f"/api/v1/campaigns/{cid}/my-judgments/?page_size=2").json()
    assert page["count"] == 5 and len(page["results"]) == 2 and page["next"] and page["previous"] is None
    last = api["reviewer"].get(f"/api/v1/campaigns/{cid}/my-judgments/?page_size=2&page=3").json()
    assert len(last["results"]) == 1 and last["next"] is None


def test_a_closed_or_decided_campaign_refuses_a_change_and_shows_it_read_only(api, pairwise_campaign):
    cid = pairwise_campaign["id"]
    task = judge(api["reviewer"], cid)
    Campaign.objects.filter(pk=cid).update(decision="pass", decided_at=timezone.now())
    refused = api["reviewer"].post(f"/api/v1/judgments/{task['judgment']}/change/", {"choice": "B"}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "gate_decided"
    assert "decided" in refused.json()["message"]
    entry = api["reviewer"].get(f"/api/v1/campaigns/{cid}/my-judgments/").json()["results"][0]
    assert not entry["changeable"] and "decided" in entry["not_changeable_reason"]

    Campaign.objects.filter(pk=cid).update(decision="", status=Campaign.Status.CLOSED, status_reason="signed off")
    refused = api["reviewer"].post(f"/api/v1/judgments/{task['judgment']}/change/", {"choice": "B"}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "campaign_closed"
    assert Judgment.objects.filter(task_id=task["task"]).count() == 1  # nothing was written


def test_a_skip_is_taken_back_within_the_undo_window(api, pairwise_campaign, settings):
    cid = pairwise_campaign["id"]
    task = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").json()
    skipped = api["reviewer"].post(f"/api/v1/tasks/{task['task']}/skip/", {"reason": "unsure"}, format="json")
    assert skipped.status_code == 200
    response = api["reviewer"].post(f"/api/v1/tasks/{task['task']}/unskip/")
    assert response.status_code == 200, response.json()
    assert response.json()["task"] == task["task"] and response.json()["progress"]["skipped"] == 0
    assignment = Assignment.objects.get(task_id=task["task"], reviewer__username="rev")
    assert assignment.status == Assignment.Status.OPEN and assignment.skip_reason == ""
    not_skipped = api["reviewer"].post(f"/api/v1/tasks/{task['task']}/unskip/")
    assert not_skipped.status_code == 409 and not_skipped.json()["code"] == "not_skipped"
    assert api["reviewer2"].post(f"/api/v1/tasks/{task['task']}/unskip/").status_code == 404  # not theirs

    settings.SIGNOFF_UNDO_SECONDS = 0
    api["reviewer"].post(f"/api/v1/tasks/{task['task']}/skip/", {"reason": "unsure"}, format="json")
    late = api["reviewer"].post(f"/api/v1/tasks/{task['task']}/unskip/")
    assert late.status_code == 409 and late.json()["code"] == "undo_window_passed"


@pytest.mark.django_db(transaction=True)
def test_concurrent_changes_of_one_answer_record_exactly_one(api, pairwise_campaign, users):
    """Two browser tabs change the same answer at once: one change is recorded, the other is told it is stale, and
    the gate's running tally still equals a recomputation (on PostgreSQL the tally row lock orders them)."""
    cid = pairwise_campaign["id"]
    original = judge(api["reviewer"], cid, "A")["judgment"]
    campaign_gate_from_tally(campaign=Campaign.objects.get(pk=cid), newest=0)  # an exact tally to keep exact
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def change(n: int) -> None:
        try:
            start.wait()
            judgment_change(judgment_id=original, reviewer=users["reviewer"], choice="B", client_id=f"tab-{n}")
            outcomes.append("changed")
        except ConflictError as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=change, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["changed"] + ["judgment_superseded"] * 3
    current = Judgment.objects.counted().get(task__campaign_id=cid)
    assert current.choice == "B" and current.replaces_id == original
    tally = GateTally.objects.get(campaign_id=cid)
    assert not tally.stale and tally_figures(tally) == expected_tally(Campaign.objects.get(pk=cid))
