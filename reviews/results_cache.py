"""A campaign's results as pages and the API show them: computed once per state of the campaign, kept in Django's
cache, and served for at most SIGNOFF_RESULTS_MAX_STALE_SECONDS after judgments have arrived.

Two things decide whether a kept answer may be served:

- the campaign row (`_row_state`): its status, its recorded decision, and `updated_at`, which every lead's change
  to what the results are made of touches (reviews.services.results_changes: a discard, an exclusion, new items
  or reviewers, a status change). A different row is a miss at once: a lead never sees results from before their
  own change.
- what reviewers change without the lead (`_activity`): judgments given or undone, tasks claimed, skipped, flagged
  or expired. While the kept answer was confirmed current less than the bound ago it is served without looking;
  after that, one cheap aggregate query says whether anything changed, and only then are the results recomputed.

The key is read from the database, never from a process's memory, so a per-process cache (the embedded default's
locmem) is as correct as a shared one (Redis, CACHE_URL): each process only computes its own copy once.
The gate check and a verdict's evidence read `campaign_results` itself: a decision is never taken on a kept copy.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, Q

from reviews.models import Assignment, Campaign
from reviews.results import campaign_results
from reviews.results_rows import campaign_rows_kept

KEPT_SECONDS = 24 * 3600  # an entry nobody asks for leaves the cache after this; a newer state replaces it anyway


def campaign_results_cached(*, campaign: Campaign) -> dict:
    """campaign_results, with `computed_at`: when the data they describe was read (recomputed then, or checked
    unchanged since). At most SIGNOFF_RESULTS_MAX_STALE_SECONDS older than the data while judgments arrive."""
    key = f"signoff:results:{campaign.pk}"
    row = _row_state(campaign)
    kept: dict[str, Any] | None = cache.get(key)
    now = time.time()
    activity = None
    if kept is not None and kept["row"] == row:
        if now - kept["checked"] <= settings.SIGNOFF_RESULTS_MAX_STALE_SECONDS:
            return kept["results"]
        activity = _activity(campaign)
        if activity == kept["activity"]:  # nothing changed since it was computed: it is current as of now
            return _keep(key, row=row, activity=activity, results=kept["results"], now=now)
    activity = activity if activity is not None else _activity(campaign)  # read before the results: never newer
    return _keep(
        key, row=row, activity=activity, results=campaign_results(campaign=campaign, read=campaign_rows_kept), now=now
    )


def _keep(key: str, *, row: tuple, activity: tuple, results: dict, now: float) -> dict:
    results = {**results, "computed_at": datetime.fromtimestamp(now, tz=UTC).isoformat()}
    cache.set(key, {"row": row, "activity": activity, "checked": now, "results": results}, KEPT_SECONDS)
    return results


def _row_state(campaign: Campaign) -> tuple:
    """What the campaign row says about its results: created_at tells two campaigns apart that reuse a pk
    (SQLite reuses them), updated_at changes with every lead's change, the rest with the gate's decision."""
    return (
        campaign.created_at.isoformat(),
        campaign.updated_at.isoformat(),
        campaign.status,
        campaign.decision,
        campaign.decided_at.isoformat() if campaign.decided_at else None,
        (campaign.gate_state or {}).get("horizon"),
    )


def _activity(campaign: Campaign) -> tuple:
    """Reviewers' changes, in one aggregate query over the campaign's assignments: every judgment turns its open
    assignment done and an undo turns it open again (reviews.services.judgments), a claim adds one, a skip, an
    expiry or a flag changes their counts. (A discard or an exclusion is the lead's: it touches the row.)"""
    assignments = Assignment.objects.filter(campaign=campaign).aggregate(
        n=Count("id"),
        last=Max("id"),
        open=Count("id", filter=Q(status=Assignment.Status.OPEN)),
        done=Count("id", filter=Q(status=Assignment.Status.DONE)),
        flagged=Count("id", filter=Q(flagged=True)),
    )
    return tuple(assignments.values())


def campaign_results_kept_many(*, campaigns: list[Campaign], compute_at_most: int) -> dict[int, dict | None]:
    """Results for a page that lists many campaigns, in one cache read: an entry kept for the campaign's current row
    is served however long ago it was last confirmed (its `computed_at` says when), and at most `compute_at_most`
    missing ones are computed (and kept), so the page's queries stay bounded. The rest answer None."""
    keys = {f"signoff:results:{campaign.pk}": campaign for campaign in campaigns}
    kept = cache.get_many(list(keys))
    found: dict[int, dict | None] = {}
    for key, campaign in keys.items():
        entry = kept.get(key)
        if entry is not None and entry["row"] == _row_state(campaign):
            found[campaign.pk] = entry["results"]
        elif compute_at_most > 0:
            compute_at_most -= 1
            found[campaign.pk] = campaign_results_cached(campaign=campaign)
        else:
            found[campaign.pk] = None
    return found
