"""The gate-check debounce is shared by every process: it lives on the campaign row, so web processes judging
the same campaign at once schedule one check per window between them, and a check still follows every burst.
Each thread below has its own database connection, as a separate process would. Runs on SQLite and PostgreSQL."""

import threading
import time
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reviews.models import Campaign
from reviews.services import decisions

pytestmark = pytest.mark.django_db(transaction=True)


def campaign_id(api, loop_data) -> int:
    body = {"name": "debounce", "kind": "pairwise", **loop_data, "reviewers": ["rev"], "gate": {"min_judgments": 3}}
    response = api["ds"].post("/api/v1/campaigns/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def burst(cid: int, *, processes: int, judgments_each: int) -> None:
    """`processes` connections each schedule a check after `judgments_each` judgments, all released at once."""
    start = threading.Barrier(processes)
    errors: list[BaseException] = []

    def process() -> None:
        try:
            start.wait()
            for _ in range(judgments_each):
                decisions._gate_check_schedule(cid)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=process) for _ in range(processes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def test_processes_judging_at_once_schedule_one_check_per_window_and_one_after_each_burst(api, loop_data):
    cid = campaign_id(api, loop_data)
    with (
        mock.patch.object(decisions, "_GATE_CHECK_DELAY", 0.5),
        mock.patch("reviews.tasks.campaign_gate_check_task.apply_async") as send,
    ):
        burst(cid, processes=4, judgments_each=5)
        assert [call.kwargs for call in send.call_args_list] == [{"countdown": 0.5}]
        time.sleep(0.5)  # the scheduled check has run: the next burst needs a check of its own
        burst(cid, processes=4, judgments_each=5)
        assert [call.args for call in send.call_args_list] == [((cid,),), ((cid,),)]


def test_a_judgment_skipped_by_the_debounce_is_committed_before_the_pending_check_runs(api, loop_data):
    """The window a claim opens closes before the task it sends is due, so nothing skipped is lost."""
    cid = campaign_id(api, loop_data)
    with mock.patch("reviews.tasks.campaign_gate_check_task.apply_async") as send:
        sent_at = time.time()
        decisions._gate_check_schedule(cid)
        due_at = Campaign.objects.get(pk=cid).gate_check_due_at
        decisions._gate_check_schedule(cid)  # inside the window: skipped
    assert send.call_count == 1
    assert due_at is not None
    assert due_at.timestamp() < sent_at + send.call_args.kwargs["countdown"]


def test_a_message_that_cannot_be_sent_does_not_hold_the_window(api, loop_data):
    cid = campaign_id(api, loop_data)
    broker_down = mock.patch("reviews.tasks.campaign_gate_check_task.apply_async", side_effect=ConnectionError)
    with broker_down, pytest.raises(ConnectionError):
        decisions._gate_check_schedule(cid)
    with mock.patch("reviews.tasks.campaign_gate_check_task.apply_async") as send:
        decisions._gate_check_schedule(cid)  # the next judgment schedules the check the failed one could not
    assert send.call_count == 1


def test_within_a_window_a_process_sends_no_statement_after_it_claimed_or_saw_the_claim(api, loop_data):
    """The claim is made (or the winner's due time read) once per window per process, not once per judgment."""
    cid = campaign_id(api, loop_data)
    with mock.patch("reviews.tasks.campaign_gate_check_task.apply_async") as send:
        burst(cid, processes=1, judgments_each=1)
        assert send.call_count == 1  # another "process" claimed the window
        decisions.known_due.clear()  # this process has not seen the claim yet
        with CaptureQueriesContext(connection) as first:
            decisions._gate_check_schedule(cid)
        with CaptureQueriesContext(connection) as later:
            for _ in range(5):
                decisions._gate_check_schedule(cid)
    assert send.call_count == 1
    assert [q["sql"].split()[0] for q in first.captured_queries] == ["UPDATE", "SELECT"]
    assert later.captured_queries == []
