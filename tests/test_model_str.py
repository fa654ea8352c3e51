"""Every model prints as something a person can place (admin lists, shell, logs), from its own columns only: printing
a row must never load its relations."""

import pytest

from models_app.models import Prediction, StageTransition
from reviews.models import (
    Approval,
    Assignment,
    ChainCheck,
    Judgment,
    ReviewerExclusion,
    Task,
    TaskOutput,
    Verdict,
)
from webhooks.models import WebhookAttempt

pytestmark = pytest.mark.django_db

CASES = [
    (
        StageTransition(model_version_id=5, from_stage="candidate", to_stage="approved"),
        "model version 5: candidate → approved",
    ),
    (Prediction(prediction_set_id=3, item_id=9), "prediction for item 9 in set 3"),
    (Task(pk=7, campaign_id=2, item_id=9), "task 7 (campaign 2, item 9)"),
    (TaskOutput(task_id=7, model_version_id=5), "output of model version 5 in task 7"),
    (Assignment(pk=4, task_id=7, reviewer_id=8, status="open"), "assignment 4: task 7 to reviewer 8 (open)"),
    (Judgment(pk=6, task_id=7, reviewer_id=8), "judgment 6 by reviewer 8 on task 7"),
    (ReviewerExclusion(campaign_id=2, reviewer_id=8), "reviewer 8 excluded from campaign 2"),
    (Approval(campaign_id=2, approver_id=8, decision="approve"), "approve by approver 8 on campaign 2"),
    (Verdict(campaign_id=2, decision="reject"), "reject of campaign 2"),
    (ChainCheck(pk=1, trigger="schedule", ok=True), "chain check 1 (schedule): ok"),
    (ChainCheck(pk=2, trigger="demand", ok=False, broken_at=12), "chain check 2 (demand): broken at 12"),
    (WebhookAttempt(pk=3, delivery_id=4, status_code=502), "attempt 3 of delivery 4: 502"),
    (WebhookAttempt(pk=3, delivery_id=4, error="timed out"), "attempt 3 of delivery 4: timed out"),
]


@pytest.mark.parametrize(("instance", "text"), CASES, ids=[f"{type(c[0]).__name__}-{n}" for n, c in enumerate(CASES)])
def test_a_row_prints_from_its_own_columns_without_a_query(instance, text, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert str(instance) == text
