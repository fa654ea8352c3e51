"""A kept read of a campaign's judgments (reviews.results_rows) gives the results a full read gives, through random
sequences of submit, undo, change, discard and exclusion, and a judgment committed below the newest one read; and
between two answers it reads only what is new."""

import random

import pytest

from reviews import results_rows
from reviews.models import SLOTS, Campaign, Judgment
from reviews.results import campaign_results
from reviews.results_rows import campaign_rows_kept
from reviews.services.assignments import assignment_claim_next
from reviews.services.judgments import judgment_submit
from reviews.services.results_changes import campaign_results_changed
from tests.test_gate_tally import ANSWERS, ChangingDriver, Driver, create_campaign, reviewers, upload_versions

__all__ = ["reviewers"]  # the fixture, used here


class Reincluding(Driver):
    def reinclude(self) -> str:
        """As a service letting a reviewer back in must: the campaign row says the results changed."""
        done = super().reinclude()
        campaign_results_changed(campaign_id=self.campaign.pk)
        return done


ITEMS = 24


@pytest.fixture(autouse=True)
def keep_every_read(settings):
    settings.SIGNOFF_RESULTS_KEEP_ROWS_FROM = 0  # the campaigns here are small: keep them anyway
    settings.SIGNOFF_UNDO_SECONDS = 10**6
    results_rows.forget_kept_rows()
    yield
    results_rows.forget_kept_rows()


def kept_equals_full(campaign) -> bool:
    campaign.refresh_from_db()
    return campaign_results(campaign=campaign, read=campaign_rows_kept) == campaign_results(campaign=campaign)


def full_reads_at(campaign) -> float:
    return results_rows._kept[campaign.pk].read_at


@pytest.mark.parametrize(
    "kind, overlap, driver_class, seed",
    [("pairwise", 2, Reincluding, 3), ("ranking", 1, Reincluding, 4), ("pairwise", 1, ChangingDriver, 5)],
)
def test_a_kept_read_gives_the_full_reads_results_through_every_change(
    api, users, reviewers, kind, overlap, driver_class, seed
):
    campaign = create_campaign(api, upload_versions(api, ITEMS), kind=kind, overlap=overlap, min_agreement=0.0)
    driver = driver_class(campaign, reviewers, users["ds"], random.Random(seed), 0.7)
    seen: dict[str, int] = {}
    for step in range(45):
        done = driver.step()
        before = results_rows._kept.get(campaign.pk)
        assert kept_equals_full(campaign), (step, done)
        after = results_rows._kept[campaign.pk]
        # a new judgment alone is read as such; anything that takes one out reads them all again
        reused = before is not None and after.read_at == before.read_at
        if done == "submit" and before is not None:
            assert reused and after.through > before.through, (step, done)
        if done in ("undo", "discard", "change", "exclude") and before is not None:
            assert not reused, (step, done)
        seen[done] = seen.get(done, 0) + 1
    assert seen.get("submit", 0) >= 20 and len(seen) >= 3, seen


def test_a_judgment_committed_below_the_newest_read_is_found(api, users, reviewers):
    """A transaction that took a lower id commits after a higher one was read: the kept read must not miss it."""
    campaign = create_campaign(api, upload_versions(api, ITEMS), kind="pairwise", overlap=1)
    driver = Driver(campaign, reviewers, users["ds"], random.Random(9), 0.7)
    for _ in range(8):
        assert driver.submit() == "submit"
    late = Judgment.objects.filter(task__campaign=campaign).order_by("-pk")[1]  # not the newest
    values = {field.attname: getattr(late, field.attname) for field in Judgment._meta.concrete_fields}
    Judgment.objects.filter(pk=late.pk).delete()  # not committed yet, as it were
    assert kept_equals_full(campaign)
    assert results_rows._kept[campaign.pk].through > late.pk
    Judgment.objects.bulk_create([Judgment(**values)])  # commits now, with its id below the newest read
    assert kept_equals_full(campaign)
    assert campaign_results(campaign=campaign, read=campaign_rows_kept)["judgments"] == 8


@pytest.mark.parametrize("kind", list(ANSWERS))
def test_every_kind_reads_new_judgments_as_a_full_read_does(api, users, reviewers, kind):
    """Labeling reads the candidate's outputs of the new judgments' items too; rating and ranking their stored
    answers: each new judgment, read as an extension, gives the results of a full read."""
    extras: dict[str, dict] = {
        "pairwise": {"baseline": "calc:1"},
        "labeling": {"labels": ["correct", "wrong"]},
        "rating": {"baseline": "calc:1", "rubric": [{"name": "correct", "scale": "pass_fail"}]},
        "ranking": {"models": ["calc:1", "calc:3"]},
    }
    body = {"name": kind, "kind": kind, **upload_versions(api, 6), **extras[kind], "overlap": 2}
    body |= {"reviewers": [r.username for r in reviewers], "gate": {"min_judgments": 50, "stop_when_decided": False}}
    response = api["ds"].post("/api/v1/campaigns/", body, format="json")
    assert response.status_code == 201, response.json()
    campaign = Campaign.objects.get(pk=response.json()["id"])
    extensions = 0
    for reviewer in reviewers[:3]:
        for _ in range(3):
            assignment = assignment_claim_next(campaign=campaign, reviewer=reviewer)
            assert assignment is not None
            slots = list(SLOTS[: len(assignment.slot_order)])
            judgment_submit(task_id=assignment.task_id, reviewer=reviewer, **ANSWERS[kind](slots))
            before = results_rows._kept.get(campaign.pk)
            assert kept_equals_full(campaign)
            extensions += before is not None and results_rows._kept[campaign.pk].read_at == before.read_at
    assert extensions == 8  # every judgment after the first was read as new
    assert campaign_results(campaign=campaign, read=campaign_rows_kept)["judgments"] == 9
