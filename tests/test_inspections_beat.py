"""A schedule run by Celery beat and a real worker, as deployed: beat sends the sweep every second (set by
SIGNOFF_INSPECTIONS_SWEEP_SECONDS), the worker turns the period that ended into a campaign, once."""

import time

import pytest
from django.db.models import Count

from inspections.models import InspectionRun
from tests.support.worker import celery_worker
from tests.test_inspections import create_schedule, logs, upload
from tests.test_inspections import tagger as tagger
from tests.test_operations import beat_process, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

FAST_SWEEP = {"SIGNOFF_INSPECTIONS_SWEEP_SECONDS": "1"}


def test_beat_and_a_real_worker_turn_each_ended_period_into_one_campaign(api, tagger, tmp_path):
    schedule = create_schedule(api["ds"], every="3s", sample=4).json()
    assert upload(api["ds"], logs(6)).status_code == 201  # logged now: in the schedule's first or second period
    started = time.monotonic()
    with celery_worker(**FAST_SWEEP) as worker:
        beat = beat_process(tmp_path / "celerybeat-schedule", **FAST_SWEEP)
        try:
            run = wait_for(
                lambda: InspectionRun.objects.filter(schedule_id=schedule["id"], campaign__isnull=False).first(),
                timeout=45,
                message=lambda: "no period became a campaign:\n" + "".join(worker.log[-40:]),
            )
            # and the next period, which had no logs, is recorded as such
            empty = wait_for(
                lambda: (
                    InspectionRun.objects.filter(schedule_id=schedule["id"], period_start__gt=run.period_start)
                    .filter(campaign__isnull=True)
                    .first()
                ),
                timeout=30,
                message=lambda: "no empty period was recorded:\n" + "".join(worker.log[-40:]),
            )
        finally:
            beat.terminate()
            beat_output, _ = beat.communicate(timeout=20)
    elapsed = time.monotonic() - started
    assert run.trigger == "beat" and run.tasks == 4 and run.logs_in_period == 6
    assert (run.period_end - run.period_start).total_seconds() == 3
    assert "No logs of tagger:1" in empty.note
    assert "inspections.tasks.inspections_run_due_task" in beat_output
    assert any("inspections_run_due_task" in line and "succeeded" in line for line in worker.log)
    repeated = InspectionRun.objects.values("period_start").annotate(n=Count("id")).filter(n__gt=1)
    assert not repeated.exists()  # beat looked every second; each period ran once
    assert elapsed < 60
