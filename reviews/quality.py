"""Reviewer quality, read side: when a known-answer item is handed out, whether a judgment got it right, and each
reviewer's figures (accuracy on known answers with a Wilson interval, time per judgment, judgments too fast to
believe). The verbs that write (creating known-answer tasks, excluding a reviewer) are in reviews.services.quality.

A known-answer task (`Task.known_answer` set) only measures reviewers: it never counts in the gate, the results,
the exports or the gold labels (`Judgment.objects.in_results_of`), and the ordinary claim never hands it out."""

from __future__ import annotations

import random
from statistics import median
from typing import Any

from reviews import stats
from reviews.models import Campaign, Judgment, ReviewerExclusion, Task

# Known-answer tasks sort after every ordinary task (SmallIntegerField's maximum), so the ordinary hand-out order and
# its index are unchanged, and they have room for every reviewer (reviewers may be added while a campaign runs).
KNOWN_PRIORITY = 32767
KNOWN_CAPACITY = 1_000_000

# Its own generator, so a test can seed it without touching the slot-order shuffle.
_rng = random.Random()


def known_answer_drawn(campaign: Campaign) -> bool:
    """Whether this claim should be a known-answer item: true with probability `campaign.known_answer_rate`."""
    return _rng.random() < campaign.known_answer_rate


def known_answer_correct(campaign: Campaign, answer: Any, value: Any) -> bool:
    """Whether a de-blinded judgment (`reviews.results.judgment_deblinded`'s value) gives the known answer.

    pairwise: the same "candidate" / "baseline" / "tie"; labeling: the same label set; ranking: the answer's version
    ranked first, alone (a tie for first does not tell it apart); rating: the candidate's output judged acceptable
    (or not) as the results read a rating."""
    if campaign.kind == Campaign.Kind.RANKING:
        return bool(value) and list(value[0]) == [answer]
    if campaign.kind == Campaign.Kind.RATING:
        scores = value.get(campaign.candidate_id)
        return scores is not None and bool(stats.acceptable(scores, campaign.rubric)) == bool(answer)
    return value == answer


def known_answer_text(campaign: Campaign, answer: Any, names: dict[int, str]) -> str:
    """The known answer in words, for the campaign's lead."""
    if campaign.kind == Campaign.Kind.RANKING:
        return f"{names.get(answer, answer)} ranked first"
    if campaign.kind == Campaign.Kind.RATING:
        return "the candidate's output is acceptable" if answer else "the candidate's output is not acceptable"
    if campaign.kind == Campaign.Kind.PAIRWISE:
        return {
            "candidate": f"{names.get(campaign.candidate_id)} is better",
            "baseline": f"{names.get(campaign.baseline_id) if campaign.baseline_id is not None else None} is better",
            "tie": "tie",
        }.get(answer, str(answer))
    return ", ".join(str(answer).split("|"))


def _fast(duration_ms: int | None, min_seconds: int | None) -> bool:
    return min_seconds is not None and duration_ms is not None and duration_ms < min_seconds * 1000


def reviewer_quality(campaign: Campaign) -> dict[str, Any]:
    """Per reviewer: known-answer items answered and right (accuracy, Wilson 95% interval), the median time per
    judgment and how many judgments were faster than `min_seconds`, over their counted judgments of every task."""
    from reviews.problems import judgment_problem
    from reviews.results import judgment_deblinded

    excluded = set(ReviewerExclusion.objects.filter(campaign=campaign).values_list("reviewer__username", flat=True))
    figures: dict[str, dict[str, Any]] = {
        name: {"judgments": 0, "known": 0, "correct": 0, "durations": [], "fast": 0}
        for name in campaign.reviewers.values_list("username", flat=True)
    }
    judgments = (
        Judgment.objects.counted()
        .filter(task__campaign=campaign)
        .values_list(
            "reviewer__username",
            "task__known_answer",
            "duration_ms",
            "choice",
            "labels",
            "ranking",
            "ratings",
            "assignment__slot_order",
            "assignment__candidate_slot",
        )
    )
    for reviewer, answer, duration, choice, labels, ranking, ratings, order, cslot in judgments:
        mine = figures.setdefault(reviewer, {"judgments": 0, "known": 0, "correct": 0, "durations": [], "fast": 0})
        mine["judgments"] += 1
        if duration is not None:
            mine["durations"].append(duration)
        mine["fast"] += _fast(duration, campaign.min_seconds)
        if answer is not None and not judgment_problem(
            campaign,
            choice=choice,
            labels=labels,
            ranking=ranking,
            ratings=ratings,
            slot_order=order or [],
            candidate_slot=cslot,
        ):
            value, _ = judgment_deblinded(
                campaign,
                choice=choice,
                labels=labels,
                ranking=ranking,
                ratings=ratings,
                slot_order=order or [],
                candidate_slot=cslot,
            )
            mine["known"] += 1
            mine["correct"] += known_answer_correct(campaign, answer, value)
    return {
        "known_answer_items": Task.objects.known().filter(campaign=campaign).count(),
        "known_answer_rate": campaign.known_answer_rate,
        "min_seconds": campaign.min_seconds,
        "by_reviewer": [
            {
                "reviewer": name,
                "excluded": name in excluded,
                "judgments": f["judgments"],
                "known_answered": f["known"],
                "known_correct": f["correct"],
                "accuracy": stats.wilson_interval(f["correct"], f["known"]).as_dict(),
                "median_seconds": round(median(f["durations"]) / 1000, 3) if f["durations"] else None,
                "timed_judgments": len(f["durations"]),
                "fast_judgments": f["fast"],
            }
            for name, f in sorted(figures.items())
        ],
    }


EXCLUDED_AFTER_RESULTS = "excluded after results were visible"


def campaign_exclusions(campaign: Campaign) -> list[dict[str, Any]]:
    """The lead's exclusions, on record, as the results and the verdict's evidence carry them."""
    return [
        {
            "reviewer": e.reviewer.username,
            "reason": e.reason,
            "excluded_by": e.excluded_by.username,
            "at": e.created_at.isoformat(),
            "after_results_visible": e.after_results_visible,
            "note": EXCLUDED_AFTER_RESULTS if e.after_results_visible else "excluded before anyone saw results",
        }
        for e in ReviewerExclusion.objects.filter(campaign=campaign).select_related("reviewer", "excluded_by")
    ]


def item_rows_with_quality(
    campaign: Campaign, rows: list[dict[str, Any]], names: dict[int, str]
) -> list[dict[str, Any]]:
    """The lead's per-item rows (reviews.selectors.campaign_item_judgments) with what quality adds: the known
    answer and whether each judgment gave it, and judgments faster than `min_seconds`."""
    from reviews.problems import judgment_problem
    from reviews.results import judgment_deblinded

    for row in rows:
        tasks = [entry["judgment"].task for entry in row["judgments"]] + [skip.task for skip in row["skips"]]
        answer = tasks[0].known_answer if tasks else None
        row["known_answer"] = None
        for entry in row["judgments"]:
            judgment = entry["judgment"]
            entry["fast"] = _fast(judgment.duration_ms, campaign.min_seconds)
            entry["correct"] = None
            if answer is not None and not judgment_problem(
                campaign,
                choice=judgment.choice,
                labels=judgment.labels,
                ranking=judgment.ranking,
                ratings=judgment.ratings,
                slot_order=judgment.assignment.slot_order,
                candidate_slot=judgment.assignment.candidate_slot,
            ):
                value, _ = judgment_deblinded(
                    campaign,
                    choice=judgment.choice,
                    labels=judgment.labels,
                    ranking=judgment.ranking,
                    ratings=judgment.ratings,
                    slot_order=judgment.assignment.slot_order,
                    candidate_slot=judgment.assignment.candidate_slot,
                )
                entry["correct"] = known_answer_correct(campaign, answer, value)
        if answer is not None:
            row["known_answer"] = known_answer_text(campaign, answer, names)
    return rows
