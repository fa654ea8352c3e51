"""A big campaign's counted judgments, kept in the process between two computations of its results, so that the
next one reads only the judgments that arrived since rather than all of them again.

Reading 100,000 judgments and building their rows was more than half of a cold results answer (docs/bench-results.md),
and while reviewers work every answer is cold. What a kept read may be reused for:

- the campaign's row says nothing changed that the rows are made of: the lead's changes (a discard, an exclusion,
  new items or reviewers) touch `updated_at` (reviews.services.results_changes), and the fields a judgment's
  reading depends on are in the key;
- the counted judgments up to the newest one read are exactly those read: their count, id sum and a sum of a mix
  of their ids are compared in one aggregate query. A reviewer's undo or change takes one out (a change adds its
  replacement above), and a judgment whose transaction committed after a higher id had been read comes in below:
  either changes the fingerprint, and the judgments are read again in full. (Two such changes in the same interval
  could only cancel out in all three sums by a coincidence of the mix; MAX_AGE_SECONDS bounds even that.)

Then only judgments above the newest read are fetched and appended: they are in id order after the kept ones.
Kept per process (a few campaigns, least recently used first out), never shared: a process reads its own.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings
from django.db.models import BigIntegerField, Count, ExpressionWrapper, F, Sum, Value

from reviews.models import Campaign, Judgment
from reviews.results import Row, judgment_values, read_rows

MAX_AGE_SECONDS = 300  # a kept read is replaced by a full one at least this often
KEPT_CAMPAIGNS = 4  # per process: ~25 MB each at 100,000 judgments
# the fingerprint's mix: an id times a large odd constant, modulo a prime below 2**32 (both databases sum these
# in 64-bit integers without overflow for ids below 2**31 and millions of judgments)
_MIX, _PRIME = 2654435761, 4294967291

Unreadable = list[tuple[int, str, str]]
Durations = dict[str, list[int | None]]


@dataclass(frozen=True, slots=True)
class _Kept:
    key: tuple
    through: int  # the newest judgment read
    fingerprint: tuple[int, int, int]
    rows: list[Row]
    unreadable: Unreadable
    durations: Durations
    read_at: float


_kept: OrderedDict[int, _Kept] = OrderedDict()
_lock = threading.Lock()


def campaign_rows_kept(campaign: Campaign) -> tuple[list[Row], Unreadable, Durations]:
    """reviews.results' rows of the campaign, with its unreadable judgments and each reviewer's durations, as a
    full read would give them: from the kept read plus what is new when that is still exact, else read in full.
    The lists returned are shared with later calls: read them, never change them."""
    key = _key(campaign)
    with _lock:
        earlier = _kept.get(campaign.pk)
    if earlier is not None and _still_exact(campaign, earlier, key):
        kept = _extended(campaign, earlier)
    else:
        kept = _read(campaign, key)
    if len(kept.rows) + len(kept.unreadable) >= settings.SIGNOFF_RESULTS_KEEP_ROWS_FROM:
        with _lock:
            _kept[campaign.pk] = kept
            _kept.move_to_end(campaign.pk)
            while len(_kept) > KEPT_CAMPAIGNS:
                _kept.popitem(last=False)
    return kept.rows, kept.unreadable, kept.durations


def _still_exact(campaign: Campaign, kept: _Kept, key: tuple) -> bool:
    """Whether the kept read is still what a full read would give up to its newest judgment."""
    fresh = kept.key == key and time.monotonic() - kept.read_at < MAX_AGE_SECONDS
    return fresh and _fingerprint_now(campaign, kept.through) == kept.fingerprint


def _key(campaign: Campaign) -> tuple:
    """What the rows are made of, on the campaign row: a different value reads them all again."""
    return (
        campaign.pk,
        campaign.created_at,
        campaign.updated_at,
        campaign.kind,
        campaign.candidate_id,
        campaign.baseline_id,
        repr(campaign.labels),
        campaign.multi_label,
        repr(campaign.rubric),
    )


def _read(campaign: Campaign, key: tuple) -> _Kept:
    read_at = time.monotonic()
    judgments, suggestions = judgment_values(campaign)
    unreadable: Unreadable = []
    durations: Durations = {}
    rows = read_rows(campaign, judgments, suggestions, unreadable, durations)
    ids = [judgment[0] for judgment in judgments]
    through = ids[-1] if ids else 0
    return _Kept(key, through, _fingerprint(ids), rows, unreadable, durations, read_at)


def _extended(campaign: Campaign, kept: _Kept) -> _Kept:
    """The kept read and the judgments above its newest, as one read: new lists, the kept ones left as they are."""
    judgments, suggestions = judgment_values(campaign, after=kept.through)
    if not judgments:
        return kept
    unreadable: Unreadable = []
    durations: Durations = {}
    rows = read_rows(campaign, judgments, suggestions, unreadable, durations)
    merged = dict(kept.durations)
    for reviewer, given in durations.items():
        merged[reviewer] = merged.get(reviewer, []) + given
    ids = [judgment[0] for judgment in judgments]
    count, total, mixed = _fingerprint(ids)
    fingerprint = (kept.fingerprint[0] + count, kept.fingerprint[1] + total, kept.fingerprint[2] + mixed)
    return _Kept(kept.key, ids[-1], fingerprint, kept.rows + rows, kept.unreadable + unreadable, merged, kept.read_at)


def _fingerprint(ids: list[int]) -> tuple[int, int, int]:
    return len(ids), sum(ids), sum(i * _MIX % _PRIME for i in ids)


# typed: with plain ints the ORM computed 0 for every id on PostgreSQL
_mixed = ExpressionWrapper(
    F("pk") * Value(_MIX, output_field=BigIntegerField()) % Value(_PRIME, output_field=BigIntegerField()),
    output_field=BigIntegerField(),
)


def _fingerprint_now(campaign: Campaign, through: int) -> tuple[int, int, int]:
    """The fingerprint of the counted judgments up to `through` as the database has them now."""
    figures = (
        Judgment.objects.counted()
        .filter(task__campaign=campaign, pk__lte=through)
        .aggregate(count=Count("pk"), total=Sum("pk"), mixed=Sum(_mixed))
    )
    # PostgreSQL sums bigints as numeric (a Decimal here)
    return figures["count"], int(figures["total"] or 0), int(figures["mixed"] or 0)


def forget_kept_rows() -> None:
    """Drop every kept read (tests)."""
    with _lock:
        _kept.clear()
