"""The gate's running tally (reviews.services.gate_tally) always equals a recomputation from the judgments, through
random sequences of submit, undo, discard, exclusion and re-inclusion; and the gate check decides from it as the
results do, without reading every judgment."""

import random
from collections.abc import Callable

import numpy as np
import pytest
from django.db import connection
from django.db.models import Max
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from core.models import User
from reviews import stats
from reviews.gate import GatePolicy
from reviews.models import SLOTS, Campaign, GateTally, Judgment, ReviewerExclusion
from reviews.results import campaign_outcome_resolution, campaign_results, counted_rows, gate_units, outcome_counts
from reviews.sequential import SequentialTest
from reviews.services.assignments import assignment_claim_next
from reviews.services.decisions import campaign_gate_check
from reviews.services.gate_tally import campaign_gate_from_tally, gate_tally_mark_stale
from reviews.services.judgment_changes import judgment_change
from reviews.services.judgments import judgment_discard, judgment_submit, judgment_undo
from reviews.services.quality import reviewer_exclude
from tests.factories import UserFactory, jsonl_file

ITEMS = 24
REVIEWERS = ["rev", "rev2", "rev3", "rev4", "rev5"]


def upload_versions(api, items: int) -> dict:
    """A dataset of `items` items and three versions of one model: calc:2 (the candidate), calc:1 and calc:3."""
    ds = api["ds"]
    assert ds.post("/api/v1/datasets/", {"name": "tally"}, format="json").status_code == 201
    rows = [{"id": f"item-{i}", "input": f"{i} + {i}?", "reference": str(2 * i)} for i in range(items)]
    assert (
        ds.post("/api/v1/datasets/tally/versions/", {"file": jsonl_file(rows)}, format="multipart").status_code == 201
    )
    assert ds.post("/api/v1/models/", {"name": "calc"}, format="json").status_code == 201
    for version, offset in (("2", 0), ("1", 1), ("3", 2)):
        assert ds.post("/api/v1/models/calc/versions/", {"version": version}, format="json").status_code == 201
        outputs = [{"id": f"item-{i}", "output": str(2 * i + offset)} for i in range(items)]
        response = ds.post(
            f"/api/v1/models/calc/versions/{version}/predictions/",
            {"dataset": "tally", "dataset_version": 1, "file": jsonl_file(outputs)},
            format="multipart",
        )
        assert response.status_code == 201, response.json()
    return {"dataset": "tally", "dataset_version": 1, "candidate": "calc:2"}


def create_campaign(api, data: dict, *, kind: str, overlap: int, **gate) -> Campaign:
    body = {
        "name": f"{kind} x{overlap}",
        "kind": kind,
        **data,
        "reviewers": REVIEWERS,
        "overlap": overlap,
        "gate": {"min_judgments": 3, "alternative": 0.8, **gate},
    }
    if kind == "ranking":  # no baseline: the candidate's outcome is a share of two comparisons (resolution 4k)
        body["models"] = ["calc:1", "calc:3"]
    else:
        body["baseline"] = "calc:1"
    response = api["ds"].post("/api/v1/campaigns/", body, format="json")
    assert response.status_code == 201, response.json()
    return Campaign.objects.get(pk=response.json()["id"])


@pytest.fixture
def intervals_at_the_end(monkeypatch) -> Callable[[], None]:
    """A ranking campaign's results fit Plackett–Luce with 100 bootstrap resamples: most of this module's time, and
    none of what the checks compare (the gate, the judgments, the win rate). Until the returned function is called,
    the results fit the scores without their bootstrap intervals; afterwards (the last check of a sequence), with."""
    real = stats.plackett_luce
    monkeypatch.setattr(stats, "plackett_luce", lambda *args, **kwargs: real(*args, **{**kwargs, "bootstrap": 0}))
    return lambda: monkeypatch.setattr(stats, "plackett_luce", real)


@pytest.fixture
def reviewers(users):
    return [users["reviewer"], users["reviewer2"]] + [UserFactory.create(username=name) for name in REVIEWERS[2:]]


def answer(campaign: Campaign, assignment, rng: random.Random, win_rate: float) -> dict:
    """For the candidate at `win_rate`, ties aside."""
    candidate_first = rng.random() < win_rate
    if campaign.kind == Campaign.Kind.PAIRWISE:
        if rng.random() < 0.15:
            return {"choice": rng.choice(["tie", "both_bad"])}
        return {"choice": assignment.candidate_slot if candidate_first else "AB".replace(assignment.candidate_slot, "")}
    slots = list(SLOTS[: len(assignment.slot_order)])
    mine = slots[assignment.slot_order.index(campaign.candidate_id)]
    others = [slot for slot in slots if slot != mine]
    rng.shuffle(others)
    if rng.random() < 0.15:
        return {"ranking": [[mine, others[0]], others[1:]]}
    return {"ranking": [[mine], *[[s] for s in others]] if candidate_first else [[s] for s in [*others, mine]]}


def expected_tally(campaign: Campaign) -> dict:
    """The tally recomputed from scratch: the results' rows, units and counts, and the path's first crossing."""
    rows = counted_rows(campaign)
    units = gate_units(campaign, rows)
    outcomes = [outcome for _, outcome in units]
    resolution = campaign_outcome_resolution(campaign)
    sums = np.cumsum(np.rint(np.asarray(outcomes) * resolution)).astype(int)
    test = GatePolicy.from_dict(campaign.gate_policy).test(per_item=campaign.overlap, resolution=resolution)
    path = test.path(outcomes)  # no horizon: the floor is min_judgments, as the tally counts
    counts = outcome_counts(campaign, rows)
    return {
        "units": len(units),
        "steps": int(sums[-1]) if len(units) else 0,
        "judgments": len(rows),
        "unreadable": 0,
        "counts": (counts.wins, counts.losses, counts.ties, counts.both_bad),
        "crossing": (path.decision, path.decided_at, int(sums[path.decided_at - 1]))
        if path.decided_at
        else ("continue", None, None),
    }


def tally_figures(tally: GateTally) -> dict:
    return {
        "units": tally.units,
        "steps": tally.steps,
        "judgments": tally.judgments,
        "unreadable": tally.unreadable,
        "counts": (tally.wins, tally.losses, tally.ties, tally.both_bad),
        "crossing": (tally.crossing or "continue", tally.crossed_at, tally.crossed_steps),
    }


def newest_judgment(campaign: Campaign) -> int:
    return Judgment.objects.filter(task__campaign=campaign).aggregate(newest=Max("id"))["newest"] or 0


def assert_check_matches_results(campaign: Campaign) -> None:
    campaign.refresh_from_db()
    tallied = campaign_gate_from_tally(campaign=campaign, newest=newest_judgment(campaign))
    results = campaign_results(campaign=campaign)
    gate = results["gate"]
    assert (tallied.gate.status, tallied.gate.reasons, tallied.gate.decided_at) == (
        gate["status"],
        gate["reasons"],
        gate["decided_at"],
    )
    assert {key: tallied.end[key] for key in ("judged", "planned_end", "horizon", "more_to_come")} == {
        key: gate[key] for key in ("judged", "planned_end", "horizon", "more_to_come")
    }
    assert (tallied.judgments, tallied.win_rate) == (results["judgments"], results["win_rate"])


class Driver:
    """Random changes to a campaign's judgments, each through its service."""

    def __init__(
        self, campaign: Campaign, reviewers: list[User], lead: User, rng: random.Random, win_rate: float = 0.7
    ):
        self.campaign, self.reviewers, self.lead, self.rng = campaign, reviewers, lead, rng
        self.win_rate = win_rate

    def included(self) -> list[User]:
        excluded = set(ReviewerExclusion.objects.filter(campaign=self.campaign).values_list("reviewer_id", flat=True))
        return [r for r in self.reviewers if r.pk not in excluded]

    def counted(self) -> list[Judgment]:
        mine = [r.pk for r in self.included()]
        return list(Judgment.objects.counted().filter(task__campaign=self.campaign, reviewer_id__in=mine))

    def submit(self) -> str:
        for reviewer in self.rng.sample(self.included(), len(self.included())):
            assignment = assignment_claim_next(campaign=self.campaign, reviewer=reviewer)
            if assignment is not None:
                judgment_submit(
                    task_id=assignment.task_id,
                    reviewer=reviewer,
                    **answer(self.campaign, assignment, self.rng, self.win_rate),
                )
                return "submit"
        return "nothing to submit"

    def undo(self) -> str:
        counted = self.counted()
        if not counted:
            return "nothing to undo"
        # the newest half the time: the exact revert; any other: a unit out of the middle of the path
        judgment = max(counted, key=lambda j: j.pk) if self.rng.random() < 0.5 else self.rng.choice(counted)
        judgment_undo(judgment_id=judgment.pk, reviewer=judgment.reviewer)
        return "undo"

    def discard(self) -> str:
        counted = self.counted()
        if not counted:
            return "nothing to discard"
        judgment = max(counted, key=lambda j: j.pk) if self.rng.random() < 0.5 else self.rng.choice(counted)
        judgment_discard(judgment=judgment, actor=self.lead, reason="test")
        return "discard"

    def exclude(self) -> str:
        if len(self.included()) <= 3:
            return "nobody to exclude"
        reviewer_exclude(
            campaign=self.campaign, reviewer=self.rng.choice(self.included()), reason="test", actor=self.lead
        )
        return "exclude"

    def reinclude(self) -> str:
        """No service lets an excluded reviewer back in yet; one that does must mark the tally stale, as here."""
        exclusion = ReviewerExclusion.objects.filter(campaign=self.campaign).first()
        if exclusion is None:
            return "nobody to re-include"
        exclusion.delete()
        gate_tally_mark_stale(campaign_id=self.campaign.pk)
        return "reinclude"

    def step(self) -> str:
        action = self.rng.choices(
            [self.submit, self.undo, self.discard, self.exclude, self.reinclude], weights=[10, 2, 2, 0.4, 0.3]
        )[0]
        return action()


class ChangingDriver(Driver):
    """Also changes reviewers' answers (the history panel): the old answer is kept, the new one alone counts."""

    changes = 0

    def change(self) -> str:
        counted = self.counted()
        if not counted:
            return "nothing to change"
        # the newest half the time (its unit is the path's last step), any other: a unit out of the middle
        judgment = max(counted, key=lambda j: j.pk) if self.rng.random() < 0.5 else self.rng.choice(counted)
        new, created = judgment_change(
            judgment_id=judgment.pk,
            reviewer=judgment.reviewer,
            **answer(self.campaign, judgment.assignment, self.rng, 1 - self.win_rate),
        )
        assert created and new.replaces_id == judgment.pk
        self.changes += 1
        return "change"

    def step(self) -> str:
        action = self.rng.choices([self.submit, self.undo, self.change, self.exclude], weights=[10, 1, 4, 0.2])[0]
        return action()


@pytest.mark.parametrize(
    "kind, overlap, gate",
    [("pairwise", 1, {}), ("pairwise", 2, {"min_agreement": 0.0}), ("ranking", 1, {}), ("ranking", 2, {})],
)
def test_a_changed_answer_counts_once_and_the_tally_equals_a_recomputation(
    api, users, reviewers, settings, intervals_at_the_end, kind, overlap, gate
):
    settings.SIGNOFF_UNDO_SECONDS = 10**6
    campaign = create_campaign(api, upload_versions(api, ITEMS), kind=kind, overlap=overlap, **gate)
    driver = ChangingDriver(campaign, reviewers, users["ds"], random.Random(7), 0.75)
    campaign_gate_from_tally(campaign=campaign, newest=0)
    for step in range(60):
        done = driver.step()
        tally = GateTally.objects.get(campaign=campaign)
        if tally.stale:
            assert_check_matches_results(campaign)
            tally.refresh_from_db()
        assert tally_figures(tally) == expected_tally(campaign), (step, done)
        # every item's reviewer holds at most one counted answer: the replaced ones are kept but never counted
        counted = Judgment.objects.counted().filter(task__campaign=campaign)
        assert counted.count() == len({(j.task_id, j.reviewer_id) for j in counted})
        if step % 5 == 0:
            assert_check_matches_results(campaign)
    intervals_at_the_end()
    assert_check_matches_results(campaign)
    assert driver.changes >= 10
    replaced = Judgment.objects.filter(task__campaign=campaign, replaced_by__isnull=False)
    assert replaced.count() == driver.changes and all(j.retracted_at for j in replaced)


@pytest.mark.parametrize(
    "kind, overlap, gate",
    [
        ("pairwise", 1, {}),
        ("pairwise", 2, {"min_agreement": 0.0}),
        ("ranking", 1, {}),
        ("ranking", 2, {}),
    ],
)
@pytest.mark.parametrize("seed, win_rate", [(1, 0.85), (2, 0.35)])
def test_the_tally_always_equals_a_recomputation_from_the_judgments(
    api, users, reviewers, settings, intervals_at_the_end, kind, overlap, gate, seed, win_rate
):
    settings.SIGNOFF_UNDO_SECONDS = 10**6
    campaign = create_campaign(api, upload_versions(api, ITEMS), kind=kind, overlap=overlap, **gate)
    driver = Driver(campaign, reviewers, users["ds"], random.Random(seed), win_rate)
    campaign_gate_from_tally(campaign=campaign, newest=0)  # the first check builds the tally
    seen = {"exact": 0, "stale": 0, "crossed": 0}
    for step in range(80):
        done = driver.step()
        tally = GateTally.objects.get(campaign=campaign)
        if tally.stale:
            seen["stale"] += 1
            assert_check_matches_results(campaign)  # the check rebuilds it ...
            tally.refresh_from_db()
            assert not tally.stale
        else:
            seen["exact"] += done in ("undo", "discard")
        assert tally_figures(tally) == expected_tally(campaign), (step, done)
        seen["crossed"] += bool(tally.crossing)
        if step % 5 == 0:
            assert_check_matches_results(campaign)
    intervals_at_the_end()
    assert_check_matches_results(campaign)
    # the sequence went through both the exact path and the rebuild, and crossed a boundary on the way
    assert seen["exact"] and seen["stale"] and seen["crossed"], (seen, expected_tally(campaign))


def test_the_gate_check_reads_a_bounded_number_of_queries_however_many_judgments(api, users, reviewers):
    """It never computes the campaign's results: the same number of queries at 50 and at 200 judgments."""
    campaign = create_campaign(api, upload_versions(api, 240), kind="pairwise", overlap=1, min_judgments=1000)
    driver = Driver(campaign, reviewers, users["ds"], random.Random(3))
    queries = []
    for judgments in (50, 200):
        while Judgment.objects.filter(task__campaign=campaign).count() < judgments:
            driver.submit()
        campaign_gate_check(campaign_id=campaign.pk, force=True)  # builds the tally the first time
        with CaptureQueriesContext(connection) as captured:
            assert campaign_gate_check(campaign_id=campaign.pk, force=True) == "pending"
        queries.append(len(captured.captured_queries))
    assert queries[0] == queries[1], queries
    state = Campaign.objects.get(pk=campaign.pk).gate_state
    results = campaign_results(campaign=campaign)
    assert (state["judged"], state["judgments"], state["win_rate"]) == (
        results["gate"]["judged"],
        results["judgments"],
        results["win_rate"],
    )


def test_a_campaign_without_a_tally_gets_one_at_its_first_check(api, users, reviewers):
    """Campaigns from before the tally (or judgments written around the services) are rebuilt, not misread."""
    campaign = create_campaign(api, upload_versions(api, 8), kind="pairwise", overlap=1)
    driver = Driver(campaign, reviewers, users["ds"], random.Random(4))
    for _ in range(5):
        driver.submit()
    GateTally.objects.filter(campaign=campaign).delete()
    campaign_gate_check(campaign_id=campaign.pk, force=True)
    assert tally_figures(GateTally.objects.get(campaign=campaign)) == expected_tally(campaign)


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    per_item=st.sampled_from([1, 2]),
    min_n=st.integers(1, 12),
    horizon=st.none() | st.integers(1, 30),
    data=st.data(),
)
@pytest.mark.db_agnostic
def test_the_decision_from_the_running_state_is_the_paths(per_item, min_n, horizon, data):
    """Units, their sum and the first crossing counted from min_n (what the tally keeps) decide as the whole path
    does: early crossings, a floor above the horizon, and the end's bar at the horizon."""
    resolution = 2 * per_item
    steps = data.draw(st.lists(st.integers(0, resolution), max_size=horizon or 30))
    outcomes = [s / resolution for s in steps]
    test = SequentialTest(
        p0=0.5, p1=0.7, horizon=horizon, min_n=min_n, resolution=resolution, per_item=per_item, unit="item"
    )
    open_ended = SequentialTest(p0=0.5, p1=0.7, min_n=min_n, resolution=resolution, per_item=per_item)
    decided, _ = open_ended.first_crossings(outcomes)
    sums = np.cumsum(steps)
    crossing = (int(decided[0]), int(sums[decided[0] - 1])) if decided[0] else None
    running = test.path_from_running(units=len(steps), steps=int(sums[-1]) if steps else 0, first_crossing=crossing)
    path = test.path(outcomes)
    assert running is not None
    assert (running.decision, running.decided_at, running.at_end) == (path.decision, path.decided_at, path.at_end)
    assert running.explain() == path.explain()


ANSWERS: dict[str, Callable[[list[str]], dict]] = {
    "pairwise": lambda slots: {"choice": "A"},
    "labeling": lambda slots: {"labels": ["correct"]},
    "rating": lambda slots: {"ratings": {slot: {"correct": "pass"} for slot in slots}},
    "ranking": lambda slots: {"ranking": [[slot] for slot in slots]},
}


@pytest.mark.parametrize("kind", list(ANSWERS))
def test_one_items_written_out_read_is_the_results_read_of_that_item(api, users, reviewers, kind):
    """The tally reads an item through reviews.item_rows' statements; the results read every item through the ORM:
    the same rows for every kind, excluded reviewers and undone judgments left out alike."""
    data = upload_versions(api, 6)
    extras: dict[str, dict] = {
        "pairwise": {"baseline": "calc:1"},
        "labeling": {"labels": ["correct", "wrong"]},
        "rating": {"baseline": "calc:1", "rubric": [{"name": "correct", "scale": "pass_fail"}]},
        "ranking": {"models": ["calc:1", "calc:3"]},
    }
    body = {"name": kind, "kind": kind, **data, **extras[kind], "reviewers": REVIEWERS, "overlap": 2}
    body["gate"] = {"min_judgments": 50, "stop_when_decided": False}
    response = api["ds"].post("/api/v1/campaigns/", body, format="json")
    assert response.status_code == 201, response.json()
    campaign = Campaign.objects.get(pk=response.json()["id"])
    for reviewer in reviewers[:3]:
        for _ in range(4):
            assignment = assignment_claim_next(campaign=campaign, reviewer=reviewer)
            if assignment is None:
                break
            slots = list(SLOTS[: len(assignment.slot_order)])
            judgment_submit(task_id=assignment.task_id, reviewer=reviewer, **ANSWERS[kind](slots))
    undone = Judgment.objects.filter(reviewer=reviewers[0]).latest("id")
    judgment_undo(judgment_id=undone.pk, reviewer=reviewers[0])
    reviewer_exclude(campaign=campaign, reviewer=reviewers[2], reason="test", actor=users["ds"])
    every = counted_rows(campaign)
    tasks = {row.task for row in every} | set(Judgment.objects.values_list("task_id", flat=True))
    assert len(every) >= 4 and len(tasks) >= 4
    for task in tasks:
        unreadable: list = []
        assert counted_rows(campaign, task_id=task, unreadable=unreadable) == [r for r in every if r.task == task]
        assert unreadable == []
