"""The gate's running tally: kept in the transaction of each judgment change, read by the gate check.

A judgment counted, undone or discarded changes one item: the tally reads that item's counted judgments (at most a
few, `overlap`), and applies the difference to the units, their sum in lattice steps and the win-rate counts, in
O(overlap) per judgment. Units are ordered by the id of the judgment that completed them (reviews.results), so a
unit appended with a higher id than any before extends the path, and the first crossing of a boundary is found
there as it happens. What a running sum cannot follow exactly it marks `stale` for the gate check to rebuild from
the judgments (one pass, no statistics beyond the path): a unit taken out of the middle of the path (its first
crossing may move), a unit completed out of id order (concurrent submissions), an item whose unit changed in place,
an exclusion. Undoing or discarding the newest unit is exact: it is the path's last step.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.db.models import Max

from core.lazy import lazy_module
from core.rawsql import columns, fetch_models, sql_naming, update_model
from reviews.gate import GatePolicy, GateResult
from reviews.models import Campaign, GateTally, Judgment
from reviews.problems import DATA_ERRORS, gate_held, unreadable_message
from reviews.results import (
    Row,
    campaign_agreement,
    campaign_outcome_resolution,
    counted_rows,
    gate_for_units,
    gate_units,
    item_unit,
    outcome_counts,
)
from reviews.sequential import SequentialPath, SequentialTest
from reviews.stats import PairwiseCounts

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

_COUNT_FIELDS = ("wins", "losses", "ties", "both_bad")


def gate_tally_fingerprint(campaign: Campaign) -> str:
    """What the tally's figures depend on besides the judgments: a campaign edited since (versions, rubric, labels,
    policy) makes the check rebuild it."""
    others = sorted(campaign.others.values_list("pk", flat=True))
    meaning = [
        campaign.kind,
        campaign.overlap,
        campaign.candidate_id,
        campaign.baseline_id,
        others,
        campaign.rubric,
        campaign.labels,
        campaign.multi_label,
        campaign.gate_policy,
    ]
    return hashlib.sha256(json.dumps(meaning, sort_keys=True, default=str).encode()).hexdigest()


# Every judgment of a campaign waits for the one before it to release this row, so what is done while it is held is
# written out rather than built by the ORM (the lock, the item's read, the write; docs/bench-next-task.md).
_TALLY_SQL = sql_naming("SELECT {{columns}} FROM {GateTally} g WHERE g.{GateTally.campaign} = %s", GateTally=GateTally)


def _locked_tally(campaign_id: int) -> GateTally:
    """The campaign's tally row, locked until the transaction ends; created stale if missing (the check builds it),
    so a change and a rebuild always take turns on one row. On SQLite the transaction's write lock does it."""
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    sql = _TALLY_SQL.format(columns=columns(GateTally, "g")) + lock
    tally = next(iter(fetch_models(GateTally, sql, [campaign_id])), None)
    if tally is None:
        GateTally.objects.bulk_create(
            [GateTally(campaign_id=campaign_id, fingerprint="", resolution=0, stale=True)], ignore_conflicts=True
        )
        tally = GateTally.objects.select_for_update().get(campaign_id=campaign_id)
    return tally


def gate_tally_start(*, campaign: Campaign) -> None:
    """A new campaign's tally: nothing judged, which it states exactly, so the judgments extend it from the first
    (a missing tally is created stale, and only a gate check's rebuild would make it exact)."""
    GateTally.objects.create(
        campaign=campaign,
        fingerprint=gate_tally_fingerprint(campaign),
        resolution=campaign_outcome_resolution(campaign),
    )


def gate_tally_mark_stale(*, campaign_id: int) -> None:
    """A change the tally does not follow (a reviewer excluded, or let back in): the next gate check rebuilds it."""
    with transaction.atomic():
        GateTally.objects.filter(pk=_locked_tally(campaign_id).pk).update(stale=True)


def gate_tally_judgment_counting(*, campaign_id: int) -> GateTally:
    """In the transaction that creates a judgment, before it is written: the campaign's tally, locked. Taken before
    the insert, the lock makes the campaign's judgments take their ids in the order the tally counts them, so an
    item a judgment completes is always the newest unit of the path (units are ordered by that id): concurrent
    submissions extend the path exactly instead of leaving the tally for the gate check to rebuild."""
    return _locked_tally(campaign_id)


def gate_tally_judgment_counted(*, campaign: Campaign, tally: GateTally, judgment_id: int, task_id: int) -> None:
    """In the transaction that created the judgment, after it is written; `tally` from gate_tally_judgment_counting."""
    _item_changed(campaign, judgment_id=judgment_id, task_id=task_id, added=True, tally=tally)


def gate_tally_judgment_uncounting(*, campaign: Campaign, judgment_id: int, task_id: int) -> None:
    """In the transaction that undoes or discards the judgment, before it is marked (it is still counted)."""
    _item_changed(campaign, judgment_id=judgment_id, task_id=task_id, added=False)


def _item_changed(
    campaign: Campaign, *, judgment_id: int, task_id: int, added: bool, tally: GateTally | None = None
) -> None:
    tally = tally or _locked_tally(campaign.pk)
    if added:
        tally.seen_through = max(tally.seen_through, judgment_id)
    if tally.stale:
        tally.save(update_fields=["seen_through"])
        return  # the check rebuilds it from the judgments anyway
    unreadable: list[tuple[int, str, str]] = []
    rows = counted_rows(campaign, task_id=task_id, unreadable=unreadable)
    sign = 1 if added else -1
    tally.unreadable += sign * sum(1 for jid, _, _ in unreadable if jid == judgment_id)
    mine = [row for row in rows if row.id == judgment_id]
    if mine:
        tally.judgments += sign
        for name, count in zip(_COUNT_FIELDS, _counts_tuple(outcome_counts(campaign, mine)), strict=True):
            setattr(tally, name, getattr(tally, name) + sign * count)
        without = [row for row in rows if row.id != judgment_id]
        before, after = (without, rows) if added else (rows, without)
        _unit_changed(tally, campaign, item_unit(campaign, before), item_unit(campaign, after))
    update_model(tally)


def _unit_changed(
    tally: GateTally, campaign: Campaign, before: tuple[int, float] | None, after: tuple[int, float] | None
) -> None:
    if before == after:
        return
    if before is None and after is not None and after[0] > tally.last_unit_judgment:
        tally.units += 1  # the newest unit: the path's next step
        tally.steps += _steps(after[1], tally.resolution)
        tally.last_unit_judgment = after[0]
        _record_crossing(tally, campaign)
    elif after is None and before is not None and before[0] == tally.last_unit_judgment:
        tally.units -= 1  # the newest unit taken back: the path's last step undone exactly
        tally.steps -= _steps(before[1], tally.resolution)
        if tally.crossed_at is not None and tally.crossed_at > tally.units:
            tally.crossing, tally.crossed_at, tally.crossed_steps = GateTally.Crossing.NONE, None, None
        # last_unit_judgment stays: every unit left was completed before it, and new ones come after it
    else:
        # a unit out of id order, out of the middle of the path, or changed in place: the first crossing after it
        # cannot be kept by a running sum, so the gate check rebuilds the tally from the judgments
        tally.stale = True


def _steps(outcome: float, resolution: int) -> int:
    return round(outcome * resolution)  # half to even, as SequentialTest.lattice_sums' np.rint


def _counts_tuple(counts: PairwiseCounts) -> tuple[int, int, int, int]:
    return counts.wins, counts.losses, counts.ties, counts.both_bad


def _tally_test(campaign: Campaign, resolution: int) -> SequentialTest:
    """The test without a horizon: its floor is the policy's min_judgments, as the tally's first crossing counts."""
    policy = GatePolicy.from_dict(campaign.gate_policy)
    return policy.test(per_item=campaign.overlap, resolution=resolution, unit="item")


def _record_crossing(tally: GateTally, campaign: Campaign) -> None:
    if tally.crossing:
        return
    try:
        test = _tally_test(campaign, tally.resolution)
    except DATA_ERRORS:
        tally.stale = True  # a policy the gate cannot read: the check reports it
        return
    if tally.units < test.floor:
        return
    evidence = float(test.lattice.llr(tally.steps, tally.units))
    if evidence >= test.log_pass or evidence <= test.log_fail:
        tally.crossing = GateTally.Crossing.PASS if evidence >= test.log_pass else GateTally.Crossing.FAIL
        tally.crossed_at, tally.crossed_steps = tally.units, tally.steps


@dataclass(frozen=True)
class Rebuilt:
    tally: GateTally
    outcomes: list[float]  # the units' outcomes in path order
    unreadable: list[tuple[int, str, str]]  # (judgment id, item, why)
    rows: list[Row]


def gate_tally_rebuild(*, campaign: Campaign) -> Rebuilt:
    """The tally recomputed from the campaign's counted judgments: one read of them, then the path in numpy."""
    with transaction.atomic():
        tally = _locked_tally(campaign.pk)
        newest = Judgment.objects.filter(task__campaign=campaign).aggregate(newest=Max("id"))["newest"] or 0
        unreadable: list[tuple[int, str, str]] = []
        rows = counted_rows(campaign, unreadable=unreadable)
        units = gate_units(campaign, rows)
        outcomes = [outcome for _, outcome in units]
        resolution = campaign_outcome_resolution(campaign)
        sums = np.cumsum(np.rint(np.asarray(outcomes, dtype=float) * resolution).astype(np.int64))
        tally.fingerprint = gate_tally_fingerprint(campaign)
        tally.resolution = resolution
        tally.units, tally.steps = len(units), int(sums[-1]) if len(units) else 0
        tally.judgments, tally.unreadable = len(rows), len(unreadable)
        for name, count in zip(_COUNT_FIELDS, _counts_tuple(outcome_counts(campaign, rows)), strict=True):
            setattr(tally, name, count)
        tally.last_unit_judgment = units[-1][0] if units else 0
        tally.seen_through = max(tally.seen_through, newest)
        tally.crossing, tally.crossed_at, tally.crossed_steps = GateTally.Crossing.NONE, None, None
        decided, passed = _tally_test(campaign, resolution).first_crossings(outcomes)
        if decided[0]:
            tally.crossing = GateTally.Crossing.PASS if passed[0] else GateTally.Crossing.FAIL
            tally.crossed_at, tally.crossed_steps = int(decided[0]), int(sums[decided[0] - 1])
        tally.stale = False
        tally.save()
    return Rebuilt(tally, outcomes, unreadable, rows)


@dataclass(frozen=True)
class TallyGate:
    """What the gate check records: the gate as `campaign_results` would show it, from the tally."""

    gate: GateResult
    end: dict  # planned_end, judged, more_to_come, unit, horizon, end_bar_win_rate (as reviews.results.gate_for)
    judgments: int
    win_rate: dict
    problems: list[str]


def campaign_gate_from_tally(*, campaign: Campaign, newest: int) -> TallyGate:
    """The gate on the tally, rebuilt first when it is missing, stale, made under another campaign setup, or behind
    the newest judgment (one written around the services). Only a rebuild reads every judgment; so does the
    agreement, when the policy asks for it and the test says pass, and the list of unreadable judgments, when there
    are any."""
    tally = GateTally.objects.filter(campaign=campaign).first()
    rebuilt = None
    if (
        tally is None
        or tally.stale
        or tally.seen_through < newest
        or tally.resolution != campaign_outcome_resolution(campaign)
        or tally.fingerprint != gate_tally_fingerprint(campaign)
    ):
        rebuilt = gate_tally_rebuild(campaign=campaign)
        tally = rebuilt.tally
    full = rebuilt

    def everything() -> Rebuilt:
        nonlocal full
        if full is None:
            unreadable: list[tuple[int, str, str]] = []
            rows = counted_rows(campaign, unreadable=unreadable)
            full = Rebuilt(tally, [outcome for _, outcome in gate_units(campaign, rows)], unreadable, rows)
        return full

    def path_of(test: SequentialTest) -> SequentialPath:
        if rebuilt is not None:
            return test.path(rebuilt.outcomes)
        crossing = None
        if tally.crossed_at is not None and tally.crossed_steps is not None:
            crossing = (tally.crossed_at, tally.crossed_steps)
        running = test.path_from_running(units=tally.units, steps=tally.steps, first_crossing=crossing)
        return running if running is not None else test.path(everything().outcomes)

    def agreement() -> float | None:
        figures = campaign_agreement(campaign, everything().rows)
        return figures["krippendorff_alpha"] if figures else None

    _, gate, end = gate_for_units(campaign, units=tally.units, path_of=path_of, agreement=agreement)
    gate = gate_held(gate, tally.unreadable)
    problems = [unreadable_message(everything().unreadable)] if tally.unreadable else []
    counts = PairwiseCounts(*(getattr(tally, name) for name in _COUNT_FIELDS))
    return TallyGate(gate, end, tally.judgments, counts.win_rate().as_dict(), problems)
