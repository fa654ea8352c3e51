"""Kept results (reviews/results_cache.py): computed once per state, served at most SIGNOFF_RESULTS_MAX_STALE_SECONDS
behind the reviewers' latest judgments, never behind the lead's own change; and the timeline they carry."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reviews.models import Judgment
from tests.test_exports import judge_next


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()  # the locmem cache outlives a test; campaigns of earlier tests must not be found in it
    yield
    cache.clear()


def results(client, cid: int) -> dict:
    response = client.get(f"/api/v1/campaigns/{cid}/results/")
    assert response.status_code == 200, response.content
    return response.json()


def results_and_queries(client, cid: int) -> tuple[dict, int]:
    with CaptureQueriesContext(connection) as queries:
        body = results(client, cid)
    return body, len(queries)


def test_kept_results_are_served_again_without_recomputing(api, pairwise_campaign, settings):
    settings.SIGNOFF_RESULTS_MAX_STALE_SECONDS = 60
    cid = pairwise_campaign["id"]
    judge_next(api["reviewer"], cid, {"choice": "A"})
    first, computing = results_and_queries(api["ds"], cid)
    again, serving = results_and_queries(api["ds"], cid)
    assert again == first
    assert first["judgments"] == 1 and first["computed_at"]
    # computing reads judgments, tasks, assignments, versions, reviewers...; serving reads the token and the campaign
    assert serving <= 4 < computing


def test_a_new_judgment_shows_once_the_stale_bound_has_passed(api, pairwise_campaign, settings):
    settings.SIGNOFF_RESULTS_MAX_STALE_SECONDS = 0.5
    cid = pairwise_campaign["id"]
    judge_next(api["reviewer"], cid, {"choice": "A"})
    first = results(api["ds"], cid)
    judge_next(api["reviewer"], cid, {"choice": "B"})
    within = results(api["ds"], cid)
    assert within == first  # within the bound: the kept results, saying when their data was read
    time.sleep(0.6)
    after = results(api["ds"], cid)
    assert after["judgments"] == 2
    assert datetime.fromisoformat(after["computed_at"]) > datetime.fromisoformat(first["computed_at"])


def test_results_are_never_older_than_the_bound_says(api, pairwise_campaign, settings):
    settings.SIGNOFF_RESULTS_MAX_STALE_SECONDS = 0.3
    cid = pairwise_campaign["id"]
    for choice in ("A", "B", "tie"):
        judge_next(api["reviewer"], cid, {"choice": choice})
        served = results(api["ds"], cid)
        age = datetime.now(UTC) - datetime.fromisoformat(served["computed_at"])
        assert age <= timedelta(seconds=0.3)
        time.sleep(0.35)
    assert results(api["ds"], cid)["judgments"] == 3


def test_unchanged_data_after_the_bound_is_checked_not_recomputed(api, pairwise_campaign, settings):
    settings.SIGNOFF_RESULTS_MAX_STALE_SECONDS = 0
    cid = pairwise_campaign["id"]
    judge_next(api["reviewer"], cid, {"choice": "A"})
    first, computing = results_and_queries(api["ds"], cid)
    checked, checking = results_and_queries(api["ds"], cid)
    assert {**checked, "computed_at": None} == {**first, "computed_at": None}
    assert checked["computed_at"] > first["computed_at"]  # current as of the check
    assert checking <= 6 < computing  # the serving queries and two aggregates


def test_the_leads_discard_shows_at_once(api, pairwise_campaign, settings):
    settings.SIGNOFF_RESULTS_MAX_STALE_SECONDS = 3600
    cid = pairwise_campaign["id"]
    judged = [judge_next(api["reviewer"], cid, {"choice": c})["judgment"] for c in ("A", "B")]
    assert results(api["ds"], cid)["judgments"] == 2
    response = api["ds"].post(f"/api/v1/judgments/{judged[0]['id']}/discard/", {"reason": "misread"}, format="json")
    assert response.status_code == 200, response.json()
    assert results(api["ds"], cid)["judgments"] == 1


def test_the_leads_exclusion_shows_at_once(api, pairwise_campaign, settings):
    settings.SIGNOFF_RESULTS_MAX_STALE_SECONDS = 3600
    cid = pairwise_campaign["id"]
    judge_next(api["reviewer"], cid, {"choice": "A"})
    judge_next(api["reviewer2"], cid, {"choice": "A"})
    assert results(api["ds"], cid)["judgments"] == 2
    response = api["ds"].post(
        f"/api/v1/campaigns/{cid}/exclusions/", {"reviewer": "rev", "reason": "clicked at random"}, format="json"
    )
    assert response.status_code == 201, response.json()
    after = results(api["ds"], cid)
    assert after["judgments"] == 1
    assert [e["reviewer"] for e in after["exclusions"]] == ["rev"]


def test_closing_shows_at_once(api, pairwise_campaign, settings):
    settings.SIGNOFF_RESULTS_MAX_STALE_SECONDS = 3600
    cid = pairwise_campaign["id"]
    judge_next(api["reviewer"], cid, {"choice": "A"})
    assert results(api["ds"], cid)["gate"]["more_to_come"] is True
    response = api["ds"].patch(f"/api/v1/campaigns/{cid}/", {"status": "closed"}, format="json")
    assert response.status_code == 200, response.json()
    assert results(api["ds"], cid)["gate"]["more_to_come"] is False


def test_results_page_says_when_its_data_was_read(client, users, api, pairwise_campaign, settings):
    settings.SIGNOFF_RESULTS_MAX_STALE_SECONDS = 60  # the API then serves what the page computed
    cid = pairwise_campaign["id"]
    judge_next(api["reviewer"], cid, {"choice": "A"})
    client.force_login(users["ds"])
    page = client.get(f"/campaigns/{cid}/").content.decode()
    computed_at = datetime.fromisoformat(results(api["ds"], cid)["computed_at"])
    assert f"As of {computed_at:%Y-%m-%d %H:%M:%S} UTC" in page


@pytest.mark.parametrize(
    ("gaps", "unit", "expected"),
    [
        # minutes after 10:20:30.5 of the first judgment: hourly buckets, cumulative
        ([0, 30, 45, 130], "hour", [("03-01 10:00", 2), ("03-01 11:00", 3), ("03-01 12:00", 4)]),
        # four days: daily buckets
        ([0, 60 * 24 * 4], "day", [("03-01 00:00", 1), ("03-05 00:00", 2)]),
    ],
)
def test_timeline_counts_judgments_per_utc_hour_or_day(api, pairwise_campaign, gaps, unit, expected):
    cid = pairwise_campaign["id"]
    start = datetime(2026, 3, 1, 10, 20, 30, 500_000, tzinfo=UTC)
    for minutes in gaps:
        judgment = judge_next(api["reviewer"], cid, {"choice": "A"})["judgment"]
        Judgment.objects.filter(pk=judgment["id"]).update(created_at=start + timedelta(minutes=minutes))
    timeline = results(api["ds"], cid)["timeline"]
    assert timeline["unit"] == unit
    assert [
        (datetime.fromisoformat(t).strftime("%m-%d %H:%M"), n)
        for t, n in zip(timeline["times"], timeline["cumulative"], strict=True)
    ] == expected
    assert all(datetime.fromisoformat(t).utcoffset() == timedelta(0) for t in timeline["times"])
