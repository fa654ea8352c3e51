"""Reviewer quality, the rules: when a known-answer item is handed out, whether a judgment got it right, and what
is too fast to believe. Each reviewer's figures are read in reviews.results (they need the de-blinded judgments);
the verbs that write (creating known-answer tasks, excluding a reviewer) are in reviews.services.quality.

A known-answer task (`Task.known_answer` set) only measures reviewers: it never counts in the gate, the results,
the exports or the gold labels (`Judgment.objects.in_results_of`), and the ordinary claim never hands it out."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from core.lazy import lazy_module
from reviews import stats
from reviews.models import Campaign

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
else:
    np = lazy_module("numpy")

# Known-answer tasks sort after every ordinary task (SmallIntegerField's maximum), so the ordinary hand-out order and
# its index are unchanged, and they have room for every reviewer (reviewers may be added while a campaign runs).
KNOWN_PRIORITY = 32767
KNOWN_CAPACITY = 1_000_000

# Its own generator, so a test can seed it without touching the slot-order shuffle (services.quality draws with it).
known_answer_rng = random.Random()


def known_answer_drawn(campaign: Campaign) -> bool:
    """Whether this claim should be a known-answer item: true with probability `campaign.known_answer_rate`."""
    return known_answer_rng.random() < campaign.known_answer_rate


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


def judgment_too_fast(duration_ms: int | None, min_seconds: int | None) -> bool:
    return min_seconds is not None and duration_ms is not None and duration_ms < min_seconds * 1000


def judgments_too_fast(durations_ms: NDArray[np.float64], min_seconds: int | None) -> int:
    """How many of these recorded durations judgment_too_fast refuses to believe (one reviewer's, at once)."""
    return 0 if min_seconds is None else int(np.count_nonzero(durations_ms < min_seconds * 1000))
