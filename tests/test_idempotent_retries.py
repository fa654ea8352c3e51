"""Retries of one submission arriving together (a flaky network, a double click) all answer with the one
judgment recorded, never a 409. Runs on SQLite and on PostgreSQL (where requests truly overlap)."""

import threading

import pytest
from django.db import connection
from knox.models import AuthToken
from rest_framework.test import APIClient

from reviews.models import Assignment, Judgment
from reviews.services.assignments import assignment_claim_next

pytestmark = pytest.mark.django_db(transaction=True)

RETRIES = 10
ROUNDS = 5


def _concurrent_posts(url: str, body: dict, token: str) -> list[tuple[int, dict]]:
    answers: list[tuple[int, dict]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(RETRIES)

    def post():
        try:
            client = APIClient(raise_request_exception=False)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
            start.wait()
            response = client.post(url, body, format="json")
            answers.append((response.status_code, response.json()))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(RETRIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return answers


def test_concurrent_retries_with_one_client_id_all_answer_the_recorded_judgment(users, pairwise_campaign):
    from reviews.models import Campaign

    campaign = Campaign.objects.get(pk=pairwise_campaign["id"])
    reviewer = users["reviewer"]
    _, token = AuthToken.objects.create(user=reviewer, expiry=None)
    for round_ in range(ROUNDS):
        assignment = assignment_claim_next(campaign=campaign, reviewer=reviewer)
        assert assignment is not None, round_
        answers = _concurrent_posts(
            f"/api/v1/tasks/{assignment.task_id}/judgments/", {"choice": "A", "client_id": f"retry-{round_}"}, token
        )
        statuses = sorted(status for status, _ in answers)
        assert statuses == [200] * (RETRIES - 1) + [201], answers
        assert len({body["id"] for _, body in answers}) == 1, answers
        assert Judgment.objects.filter(task_id=assignment.task_id, reviewer=reviewer).count() == 1
        assert Assignment.objects.get(pk=assignment.pk).status == Assignment.Status.DONE


def test_a_different_client_id_for_a_judged_task_is_still_a_409(users, api, pairwise_campaign):
    from reviews.models import Campaign

    campaign = Campaign.objects.get(pk=pairwise_campaign["id"])
    assignment = assignment_claim_next(campaign=campaign, reviewer=users["reviewer"])
    assert assignment is not None
    url = f"/api/v1/tasks/{assignment.task_id}/judgments/"
    assert api["reviewer"].post(url, {"choice": "A", "client_id": "first"}, format="json").status_code == 201
    response = api["reviewer"].post(url, {"choice": "B", "client_id": "second"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "already_judged"
