"""Reviewer quality, the verbs: known-answer items set at campaign creation, a lead excluding a reviewer (on record),
and noting when results were first seen. The figures are read by reviews.quality."""

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import ApplicationError, ConflictError
from core.models import User
from datasets.models import DatasetVersion, Item
from models_app.models import ModelVersion, Prediction
from models_app.selectors import predictions_by_item
from reviews.models import Assignment, Campaign, Judgment, ReviewerExclusion, Task, TaskOutput
from reviews.quality import KNOWN_CAPACITY, KNOWN_PRIORITY, known_answer_rng
from reviews.results import as_label_set
from reviews.services.decisions import campaign_gate_recheck_on_commit
from reviews.services.gate_tally import gate_tally_mark_stale
from reviews.services.judgments import campaign_lead_check
from reviews.services.results_changes import campaign_results_changed

DEFAULT_KNOWN_ANSWER_RATE = 0.1
MAX_KNOWN_ANSWER_RATE = 0.5
PAIRWISE_ANSWERS = ("candidate", "baseline", "tie")
RATING_ANSWERS = {"acceptable": True, "unacceptable": False}
EXCLUDED_SKIP_REASON = "excluded from the campaign by its lead"

# A known answer as Task.known_answer stores it, de-blinded: pairwise the side that should win, ranking the id of
# the model version ranked first, rating whether the candidate's output is acceptable, labeling the label set.
KnownAnswer = str | int | bool


def _invalid(message: str, field: str, **extra: Any) -> ApplicationError:
    return ApplicationError(message, code="invalid", extra={"field": field, **extra})


def _label_answer(answer: Any, labels: list[str], multi_label: bool) -> str | None:
    """A label or list of labels as the "|"-joined set in the campaign's label order; None if it is not one."""
    given = [answer] if isinstance(answer, str) else answer
    if not isinstance(given, list) or not given or not all(isinstance(x, str) and x in labels for x in given):
        return None
    chosen = sorted(set(given), key=labels.index)
    if not multi_label and len(chosen) != 1:
        return None
    return "|".join(chosen)


def _answer_for_kind(
    kind: str, answer: Any, *, refs: dict[str, int], labels: list[str], multi_label: bool
) -> tuple[KnownAnswer | None, str]:
    """The de-blinded answer as Task.known_answer stores it, or (None, what a valid one looks like)."""
    if kind == Campaign.Kind.PAIRWISE:
        return (answer if answer in PAIRWISE_ANSWERS else None), "one of candidate, baseline, tie"
    if kind == Campaign.Kind.RANKING:
        return (
            refs.get(answer) if isinstance(answer, str) else None
        ), f"the model:version ranked first, one of {', '.join(refs)}"
    if kind == Campaign.Kind.RATING:
        return (
            RATING_ANSWERS.get(answer) if isinstance(answer, str) else None
        ), "acceptable or unacceptable (the candidate's output)"
    kind_of = "a label or a list of labels" if multi_label else "one label"
    return _label_answer(answer, labels, multi_label), f"{kind_of} from {labels}"


def _from_references(
    dataset_version: DatasetVersion, labels: list[str], multi_label: bool, item_ids: list[int]
) -> dict[int, KnownAnswer]:
    """Labeling: every item (that can be a task) whose reference is a label set of the campaign."""
    found: dict[int, KnownAnswer] = {}
    for item_id, reference in Item.objects.filter(version=dataset_version, pk__in=item_ids).values_list(
        "pk", "reference"
    ):
        if reference is None:
            continue
        answer = _label_answer(sorted(as_label_set(reference)), labels, multi_label)
        if answer is not None:
            found[item_id] = answer
    return found


def known_answers_resolve(
    *,
    kind: str,
    dataset_version: DatasetVersion,
    versions: list[ModelVersion],
    labels: list[str],
    multi_label: bool,
    known_answers: Any,
    item_ids: list[int],
) -> dict[int, KnownAnswer]:
    """{item id: de-blinded answer} from the API's `known_answers` (a list of {"item", "answer"}, or "reference" for
    labeling), or a 400 naming the field, the entry and the item. `item_ids` are the items that can be tasks."""
    if known_answers is None or known_answers == []:
        return {}
    if known_answers == "reference":
        return _known_from_references(kind, dataset_version, labels, multi_label, item_ids)
    if not isinstance(known_answers, list):
        raise _invalid(
            'known_answers must be a list of {"item": "<item id>", "answer": ...}'
            + (' or "reference"' if kind == Campaign.Kind.LABELING else "")
            + ".",
            "known_answers",
        )
    return _known_from_list(kind, dataset_version, versions, labels, multi_label, known_answers, item_ids)


def _known_from_list(
    kind: str,
    dataset_version: DatasetVersion,
    versions: list[ModelVersion],
    labels: list[str],
    multi_label: bool,
    known_answers: list[Any],
    item_ids: list[int],
) -> dict[int, KnownAnswer]:
    """known_answers as a list of {"item", "answer"}: each entry's item found, and its answer read for the kind."""
    refs = {f"{v.model.name}:{v.version}": v.pk for v in versions}
    external = [entry.get("item") if isinstance(entry, dict) else None for entry in known_answers]
    by_external = dict(
        Item.objects.filter(
            version=dataset_version, external_id__in=[e for e in external if isinstance(e, str)]
        ).values_list("external_id", "pk")
    )
    can_be_task = set(item_ids)
    answers: dict[int, KnownAnswer] = {}
    for index, (entry, item) in enumerate(zip(known_answers, external, strict=True)):
        where = f"known_answers[{index}]"
        if not isinstance(item, str) or "answer" not in entry:
            raise _invalid(f'{where} needs "item" (the item\'s id) and "answer".', "known_answers", index=index)
        item_id = _known_item_id(
            where, index, item, by_external, dataset_version, given=answers, can_be_task=can_be_task
        )
        answer, expected = _answer_for_kind(kind, entry["answer"], refs=refs, labels=labels, multi_label=multi_label)
        if answer is None:
            raise _invalid(
                f"{where}: {entry['answer']!r} is not an answer for item {item!r} of a {kind} campaign; "
                f"give {expected}.",
                "known_answers",
                index=index,
                item=item,
            )
        answers[item_id] = answer
    return answers


def _known_from_references(
    kind: str, dataset_version: DatasetVersion, labels: list[str], multi_label: bool, item_ids: list[int]
) -> dict[int, KnownAnswer]:
    """known_answers "reference": the items' references read as labels, for a labeling campaign."""
    if kind != Campaign.Kind.LABELING:
        raise _invalid(
            'known_answers "reference" reads the items\' references as labels: labeling campaigns only; '
            'give a list of {"item", "answer"} instead.',
            "known_answers",
        )
    found = _from_references(dataset_version, labels, multi_label, item_ids)
    if not found:
        raise _invalid(
            f'known_answers "reference": no item has a reference among the labels {labels}.', "known_answers"
        )
    return found


def _known_item_id(
    where: str,
    index: int,
    item: str,
    by_external: dict[str, int],
    dataset_version: DatasetVersion,
    *,
    given: dict[int, KnownAnswer],
    can_be_task: set[int],
) -> int:
    """The item a known-answer entry names: one of the dataset version's, named once, that can be one of the
    campaign's tasks."""
    item_id = by_external.get(item)
    if item_id is None:
        raise _invalid(
            f"{where}: no item {item!r} in {dataset_version.dataset.name} v{dataset_version.number}.",
            "known_answers",
            index=index,
            item=item,
        )
    if item_id in given:
        raise _invalid(f"{where}: item {item!r} is given twice.", "known_answers", index=index, item=item)
    if item_id not in can_be_task:
        raise _invalid(
            f"{where}: item {item!r} lacks an output from some model version of the campaign.",
            "known_answers",
            index=index,
            item=item,
        )
    return item_id


def known_answer_settings(*, rate: float | None, min_seconds: int | None, known: dict[int, KnownAnswer]) -> float:
    """The campaign's known-answer rate (default 0.1 with known answers, else 0), after checking both settings."""
    if rate is None:
        rate = DEFAULT_KNOWN_ANSWER_RATE if known else 0.0
    if not 0 <= rate <= MAX_KNOWN_ANSWER_RATE:
        raise _invalid(f"known_answer_rate must be between 0 and {MAX_KNOWN_ANSWER_RATE}.", "known_answer_rate")
    if rate > 0 and not known:
        raise _invalid("known_answer_rate needs known-answer items: give known_answers.", "known_answer_rate")
    if min_seconds is not None and min_seconds < 1:
        raise _invalid("min_seconds must be at least 1 when given.", "min_seconds")
    return float(rate)


def known_tasks_create(
    *,
    campaign: Campaign,
    answers: dict[int, KnownAnswer],
    versions: list[ModelVersion],
    predictions: list[dict[int, Prediction]],
) -> int:
    """One known-answer task per item: after every ordinary task in hand-out order, with room for every reviewer."""
    tasks = Task.objects.bulk_create(
        Task(
            campaign=campaign,
            item_id=item_id,
            capacity=KNOWN_CAPACITY,
            priority=KNOWN_PRIORITY,
            sort_key=known_answer_rng.random(),
            known_answer=answer,
        )
        for item_id, answer in answers.items()
    )
    TaskOutput.objects.bulk_create(
        TaskOutput(task=task, model_version=version, prediction=by_item[task.item_id])
        for task in tasks
        for version, by_item in zip(versions, predictions, strict=True)
    )
    return len(tasks)


def campaign_known_answers_add(
    *,
    campaign: Campaign,
    versions: list[ModelVersion],
    known_answers: Any,
    known_answer_rate: float | None,
    min_seconds: int | None,
) -> set[str]:
    """Check the campaign's known-answer settings, record them, and create its known-answer tasks. Returns the
    external ids of those items: they are not also ordinary tasks of the campaign."""
    if known_answers in (None, []) and known_answer_rate is None and min_seconds is None:
        return set()  # the common case costs nothing
    predictions = [
        predictions_by_item(model_version=version, dataset_version=campaign.dataset_version) for version in versions
    ]
    item_ids = sorted(set.intersection(*(set(p) for p in predictions)))
    answers = known_answers_resolve(
        kind=campaign.kind,
        dataset_version=campaign.dataset_version,
        versions=versions,
        labels=campaign.labels,
        multi_label=campaign.multi_label,
        known_answers=known_answers,
        item_ids=item_ids,
    )
    rate = known_answer_settings(rate=known_answer_rate, min_seconds=min_seconds, known=answers)
    if answers and not set(item_ids) - set(answers):
        raise ApplicationError(
            "Every item would be a known-answer item: leave some for the campaign's work.",
            code="no_tasks",
            extra={"field": "known_answers"},
        )
    campaign.known_answer_rate, campaign.min_seconds = rate, min_seconds
    Campaign.objects.filter(pk=campaign.pk).update(known_answer_rate=rate, min_seconds=min_seconds)
    known_tasks_create(campaign=campaign, answers=answers, versions=versions, predictions=predictions)
    return set(Item.objects.filter(pk__in=list(answers)).values_list("external_id", flat=True))


def reviewer_exclude(*, campaign: Campaign, reviewer: User, reason: str, actor: User) -> ReviewerExclusion:
    """The lead takes a reviewer out of the campaign, on record: their judgments stop counting everywhere results are
    computed, the items they judged get room for another reviewer, they are handed nothing more, and the gate looks
    again. `after_results_visible` records whether anyone had opened the results by then."""
    campaign_lead_check(campaign=campaign, user=actor)
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("Say why this reviewer is excluded.", "reason")
    if ReviewerExclusion.objects.filter(campaign=campaign, reviewer=reviewer).exists():
        raise ConflictError(f"{reviewer.username} is already excluded from this campaign.", code="already_excluded")
    with transaction.atomic():
        # Their open work first (the order a judgment takes its locks: assignment, then campaign): each is set aside
        # and its room given back, or it was judged just now and is counted below.
        for assignment_id, task_id in Assignment.objects.filter(
            campaign=campaign, reviewer=reviewer, status=Assignment.Status.OPEN
        ).values_list("id", "task_id"):
            if Assignment.objects.filter(pk=assignment_id, status=Assignment.Status.OPEN).update(
                status=Assignment.Status.SKIPPED, skip_reason=EXCLUDED_SKIP_REASON, completed_at=timezone.now()
            ):
                Task.objects.filter(pk=task_id).update(assigned_count=F("assigned_count") - 1)
        # The campaign row, locked: a concurrent first look at the results, or a judgment, lands before or after.
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status == Campaign.Status.CLOSED:
            raise ConflictError("This campaign is closed; its results are final.", code="campaign_closed")
        try:
            with transaction.atomic():
                exclusion = ReviewerExclusion.objects.create(
                    campaign=campaign,
                    reviewer=reviewer,
                    reason=reason[:2000],
                    excluded_by=actor,
                    after_results_visible=locked.results_viewed_at is not None,
                )
        except IntegrityError:
            raise ConflictError(
                f"{reviewer.username} is already excluded from this campaign.", code="already_excluded"
            ) from None
        judged = list(
            Judgment.objects.counted()
            .filter(task__campaign=campaign, task__known_answer__isnull=True, reviewer=reviewer)
            .values_list("task_id", flat=True)
        )
        Task.objects.filter(pk__in=judged).update(
            assigned_count=F("assigned_count") - 1
        )  # one counted judgment per task
        gate_tally_mark_stale(campaign_id=campaign.pk)  # their judgments may sit anywhere in the gate's path
        campaign_results_changed(campaign_id=campaign.pk)
        campaign_gate_recheck_on_commit(campaign_id=campaign.pk)  # the evidence changed without a new judgment
    return exclusion


def campaign_results_viewed(*, campaign: Campaign) -> None:
    """Note, once, when someone who may read results first opens them (an exclusion after this is marked)."""
    if campaign.results_viewed_at is None:
        now = timezone.now()
        if Campaign.objects.filter(pk=campaign.pk, results_viewed_at__isnull=True).update(results_viewed_at=now):
            campaign.results_viewed_at = now
