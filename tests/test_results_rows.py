"""A kept read of a campaign's judgments (reviews.results_rows) gives the results a full read gives, through random
sequences of submit, undo, change, discard and exclusion, and a judgment committed below the newest one read; and
between two answers it reads only what is new."""

import random

import pytest

from reviews import results_rows
from reviews.models import Judgment
from reviews.results import campaign_results
from reviews.results_rows import campaign_rows_kept
from reviews.services.results_changes import campaign_results_changed
from tests.test_gate_tally import ChangingDriver, Driver, create_campaign, reviewers, upload_versions

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
