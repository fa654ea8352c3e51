"""A reviewer's history: their judgments paged, a change recorded (the earlier answer kept, only the new one counted),
refused once the campaign is closed or its gate decided; and a skip taken back."""

from django.utils import timezone

from reviews.models import Assignment, Campaign, Judgment
from reviews.results import campaign_results
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
    assert api["reviewer"].post(f"/api/v1/tasks/{task['task']}/unskip/").status_code == 404  # not skipped now

    settings.SIGNOFF_UNDO_SECONDS = 0
    api["reviewer"].post(f"/api/v1/tasks/{task['task']}/skip/", {"reason": "unsure"}, format="json")
    late = api["reviewer"].post(f"/api/v1/tasks/{task['task']}/unskip/")
    assert late.status_code == 409 and late.json()["code"] == "undo_window_passed"
