"""Creating a campaign: check its settings for its kind, then one task per item that has every output needed."""

import random
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.errors import ApplicationError
from core.models import User
from datasets.models import DatasetVersion, Item
from models_app.models import ModelVersion
from models_app.selectors import predictions_by_item
from models_app.selectors_diff import (
    prediction_diff_identical_external_ids,
    prediction_diff_item_classes,
    prediction_sets_for_diff,
)
from reviews.gate import GatePolicy, PolicyInvalid
from reviews.models import SLOTS, Campaign, Task, TaskOutput
from reviews.plan import gate_plan
from reviews.results import campaign_outcome_resolution
from reviews.services.gate_tally import gate_tally_start
from reviews.services.quality import campaign_known_answers_add

TASK_BATCH = 5000
RUBRIC_SCALES = ("likert", "pass_fail")


def _invalid(message: str, field: str) -> ApplicationError:
    return ApplicationError(message, code="invalid", extra={"field": field})


def rubric_validated(rubric: list, *, subject: str = "campaign") -> list[dict]:
    """A rating design's criteria, normalised; a 400 naming the criterion otherwise. `subject`: what the caller
    is making, for the message (an inspection's schedule checks its rubric with these rules too)."""
    if not isinstance(rubric, list) or not rubric:
        raise _invalid(f"A rating {subject} needs a rubric: a list of criteria.", "rubric")
    criteria, names = [], set()
    for index, criterion in enumerate(rubric):
        if (
            not isinstance(criterion, dict)
            or not isinstance(criterion.get("name"), str)
            or not criterion["name"].strip()
        ):
            raise _invalid(f"rubric[{index}] needs a non-empty name.", "rubric")
        name = criterion["name"].strip()
        scale = criterion.get("scale", "likert")
        if scale not in RUBRIC_SCALES:
            raise _invalid(f"rubric[{index}] ({name}): scale must be likert or pass_fail.", "rubric")
        if name in names or name in set(SLOTS):  # a slot letter would make {"A": {...}} ambiguous
            raise _invalid(f"rubric[{index}]: the name {name!r} is repeated or reserved.", "rubric")
        names.add(name)
        criteria.append({"name": name, "scale": scale, "description": str(criterion.get("description", ""))[:1000]})
    return criteria


def _check_choice(value: str, choices: list[str], field: str) -> None:
    if value not in choices:
        raise _invalid(f"{field} must be one of {', '.join(choices)}.", field)


def _validated_labels(kind: str, labels: list, multi_label: bool) -> tuple[list[str], bool]:
    """A labeling campaign's label schema; other kinds have none (and are never multi-label)."""
    if kind != Campaign.Kind.LABELING:
        return [], False
    labels_check(labels)
    return labels, multi_label


def labels_check(labels: list, *, subject: str = "campaign") -> None:
    """A labeling design's labels: distinct, non-empty strings."""
    if not labels or len(set(labels)) != len(labels) or not all(isinstance(x, str) and x.strip() for x in labels):
        raise _invalid(f"A labeling {subject} needs a list of distinct, non-empty labels.", "labels")


def _check_reviewers(reviewers: list[User], overlap: int) -> None:
    reviewers_check(reviewers)
    if overlap < 1 or overlap > len(reviewers):
        raise _invalid(f"overlap must be between 1 and the number of reviewers ({len(reviewers)}).", "overlap")


def reviewers_check(reviewers: list[User]) -> None:
    """At least one reviewer, and everyone named has the reviewer role."""
    not_reviewers = [u.username for u in reviewers if not u.has_role(User.Role.REVIEWER)]
    if not reviewers or not_reviewers:
        raise _invalid(
            "reviewers must name at least one user with the reviewer role"
            + (f"; not reviewers: {', '.join(not_reviewers)}" if not_reviewers else ""),
            "reviewers",
        )


def _check_hand_out(quota_per_reviewer: int | None, lease_seconds: int) -> None:
    if quota_per_reviewer is not None and quota_per_reviewer < 1:
        raise _invalid("quota_per_reviewer must be at least 1 when given.", "quota_per_reviewer")
    if lease_seconds < 10:
        raise _invalid("lease_seconds must be at least 10.", "lease_seconds")


def _validated_policy(gate: dict) -> GatePolicy:
    try:
        return GatePolicy.from_dict(gate)
    except (PolicyInvalid, TypeError) as exc:
        raise _invalid(f"gate: {exc}", "gate") from None


def _versions_for_kind(
    kind: str, candidate: ModelVersion, baseline: ModelVersion | None, others: list[ModelVersion]
) -> list[ModelVersion]:
    versions = [candidate] + ([baseline] if baseline else []) + list(others)
    if len({v.pk for v in versions}) != len(versions):
        raise _invalid("candidate, baseline and the other versions must all differ.", "models")
    if kind == Campaign.Kind.PAIRWISE:
        if baseline is None:
            raise _invalid("A pairwise campaign needs a baseline.", "baseline")
        if others:
            raise _invalid("A pairwise campaign compares exactly two versions; use ranking for more.", "models")
    elif kind == Campaign.Kind.RANKING:
        if not 2 <= len(versions) <= len(SLOTS):
            raise _invalid(f"A ranking campaign needs between 2 and {len(SLOTS)} model versions.", "models")
    elif kind == Campaign.Kind.LABELING and (baseline or others):
        raise _invalid(
            "A labeling campaign shows one model's suggestion: give only a candidate.",
            "baseline" if baseline else "models",
        )
    return versions


def _check_items(items: str, kind: str) -> None:
    _check_choice(items, Campaign.Items.values, "items")
    if items == Campaign.Items.CHANGED and kind != Campaign.Kind.PAIRWISE:
        # the gate's win rate over changed items, with identical ones as ties, is a pairwise comparison's
        raise _invalid(
            f'"items": "changed" is for pairwise campaigns (candidate against baseline); a {kind} campaign '
            'reviews all items ("items": "all").',
            "items",
        )


def _changed_only(campaign: Campaign, dataset_version: DatasetVersion, item_ids: list[int]) -> list[int]:
    """A diff-first campaign's items: those whose outputs differ; the identical ones are counted on the campaign."""
    identical = _identical_item_ids(campaign, dataset_version, item_ids)
    campaign.identical_items += len(identical)
    Campaign.objects.filter(pk=campaign.pk).update(identical_items=F("identical_items") + len(identical))
    return [i for i in item_ids if i not in identical]


def _identical_external_ids_so_far(campaign: Campaign) -> set[str]:
    """The external ids a diff-first campaign counted as identical: on its dataset version and on every version it
    was extended with (recomputed in SQL, one query each, rather than stored per item)."""
    assert campaign.baseline is not None  # a diff-first campaign is pairwise
    versions = {campaign.dataset_version_id} | set(
        Item.objects.filter(pk__in=Task.objects.filter(campaign=campaign).values("item_id"))
        .values_list("version_id", flat=True)
        .distinct()
    )
    found: set[str] = set()
    for dataset_version in DatasetVersion.objects.filter(pk__in=versions):
        a, b = prediction_sets_for_diff(
            version=campaign.candidate, against=campaign.baseline, dataset_version=dataset_version
        )
        found |= prediction_diff_identical_external_ids(a=a, b=b)
    return found


def _identical_item_ids(campaign: Campaign, dataset_version: DatasetVersion, item_ids: list[int]) -> set[int]:
    """Of `item_ids`, those where the candidate's and the baseline's outputs are identical (compared in SQL, as the
    prediction diff compares them: JSON by value, text exactly)."""
    assert campaign.baseline is not None  # a diff-first campaign is pairwise
    a, b = prediction_sets_for_diff(
        version=campaign.candidate, against=campaign.baseline, dataset_version=dataset_version
    )
    classes = prediction_diff_item_classes(a=a, b=b)
    return {i for i in item_ids if classes.get(i) == "identical"}


def _hand_out_order(
    sampling: str, item_ids: list[int], tags: dict[int, list[str]], outputs_differ: dict[int, bool]
) -> dict[int, tuple[int, float]]:
    """(priority, sort_key) per item: the order the assignment engine hands tasks out in."""
    rng = random.Random()
    if sampling == Campaign.Sampling.STRATIFIED:
        strata: dict[str, list[int]] = defaultdict(list)
        for item_id in item_ids:
            strata[(tags.get(item_id) or [""])[0]].append(item_id)
        order = {}
        for members in strata.values():
            rng.shuffle(members)
            for rank, item_id in enumerate(members):
                # the k-th of n in a stratum sits at (k + u) / n: every stratum is spread evenly over [0, 1)
                order[item_id] = (0, (rank + rng.random()) / len(members))
        return order
    if sampling == Campaign.Sampling.DISAGREEMENT:
        return {item_id: (0 if outputs_differ.get(item_id) else 1, rng.random()) for item_id in item_ids}
    return {item_id: (0, rng.random()) for item_id in item_ids}


def _batches(values: list, size: int) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@transaction.atomic
def campaign_create(
    *,
    name: str,
    kind: str,
    dataset_version: DatasetVersion,
    candidate: ModelVersion,
    baseline: ModelVersion | None = None,
    others: Sequence[ModelVersion] = (),
    labels: Sequence[str] = (),
    multi_label: bool = False,
    show_suggestion: bool = True,
    rubric: list | None = None,
    content_format: str = Campaign.ContentFormat.AUTO,
    reviewers: list[User],
    overlap: int = 1,
    sampling: str = Campaign.Sampling.RANDOM,
    quota_per_reviewer: int | None = None,
    lease_seconds: int = 600,
    gate: dict | None = None,
    guidelines: str = "",
    created_by: User,
    known_answers: list | str | None = None,
    known_answer_rate: float | None = None,
    min_seconds: int | None = None,
    items: str = Campaign.Items.ALL,
) -> Campaign:
    _check_choice(kind, Campaign.Kind.values, "kind")
    _check_items(items, kind)
    _check_choice(sampling, Campaign.Sampling.values, "sampling")
    _check_choice(content_format, Campaign.ContentFormat.values, "content_format")
    versions = _versions_for_kind(kind, candidate, baseline, list(others))
    checked_labels, multi_label = _validated_labels(kind, list(labels), multi_label)
    criteria = rubric_validated(rubric or []) if kind == Campaign.Kind.RATING else []
    _check_reviewers(reviewers, overlap)
    _check_hand_out(quota_per_reviewer, lease_seconds)
    policy = _validated_policy(gate or {})

    campaign = Campaign.objects.create(
        name=name,
        kind=kind,
        dataset_version=dataset_version,
        candidate=candidate,
        baseline=baseline,
        labels=checked_labels,
        multi_label=multi_label,
        show_suggestion=show_suggestion,
        rubric=criteria,
        content_format=content_format,
        overlap=overlap,
        sampling=sampling,
        quota_per_reviewer=quota_per_reviewer,
        lease_seconds=lease_seconds,
        gate_policy=policy.as_dict(),
        guidelines=guidelines,
        created_by=created_by,
        items=items,
    )
    campaign.reviewers.set(reviewers)
    campaign.others.set(others)
    # Known-answer items (reviews.quality) become tasks of their own, apart from the campaign's work.
    known = campaign_known_answers_add(
        campaign=campaign,
        versions=versions,
        known_answers=known_answers,
        known_answer_rate=known_answer_rate,
        min_seconds=min_seconds,
    )
    if not campaign_tasks_add(
        campaign=campaign, versions=versions, dataset_version=dataset_version, skip_external_ids=known
    ):
        if campaign.identical_items:
            raise ApplicationError(
                f"The candidate's and the baseline's outputs are identical on all {campaign.identical_items} items: "
                'a diff-first campaign has nothing to review ("items": "all" reviews them anyway).',
                code="no_tasks",
                extra={"field": "items"},
            )
        raise ApplicationError("No item has predictions from every model version in the campaign.", code="no_tasks")
    campaign_plan_update(campaign=campaign)
    gate_tally_start(campaign=campaign)  # after the plan and the versions: what its fingerprint reads
    return campaign


def _eligible_item_ids(
    campaign: Campaign, dataset_version: DatasetVersion, predictions: list[dict], skip_external_ids: Collection[str]
) -> list[int]:
    """Items every version has an output for, but those skipped, and (diff-first) those whose outputs are identical."""
    item_ids = sorted(set.intersection(*(set(p) for p in predictions)))
    if campaign.items == Campaign.Items.CHANGED and campaign.identical_items:
        # an extension: items counted identical before are skipped like those with a task, so none counts twice
        skip_external_ids = set(skip_external_ids) | _identical_external_ids_so_far(campaign)
    if skip_external_ids:
        external = dict(Item.objects.filter(pk__in=item_ids).values_list("pk", "external_id"))
        item_ids = [i for i in item_ids if external[i] not in skip_external_ids]
    if campaign.items == Campaign.Items.CHANGED and item_ids:
        item_ids = _changed_only(campaign, dataset_version, item_ids)
    return item_ids


def campaign_tasks_add(
    *,
    campaign: Campaign,
    versions: list[ModelVersion],
    dataset_version: DatasetVersion,
    skip_external_ids: Collection[str] = frozenset(),
) -> int:
    """One task per item of `dataset_version` that every version has a prediction for (items whose external id is
    in `skip_external_ids` excepted), in the campaign's hand-out order. A diff-first campaign leaves out the items
    whose outputs are identical and adds them to its `identical_items`. Returns how many tasks."""
    predictions = [predictions_by_item(model_version=version, dataset_version=dataset_version) for version in versions]
    item_ids = _eligible_item_ids(campaign, dataset_version, predictions, skip_external_ids)
    if not item_ids:
        return 0
    sampling = campaign.sampling
    tags = (
        dict(Item.objects.filter(pk__in=item_ids).values_list("pk", "tags"))
        if sampling == Campaign.Sampling.STRATIFIED
        else {}
    )
    differ = {i: len({repr(p[i].output) for p in predictions}) > 1 for i in item_ids}
    order = _hand_out_order(sampling, item_ids, tags, differ)
    # Tasks are written in hand-out order, so their rows lie in it too: concurrent claims then update a few
    # neighbouring pages rather than one random page each (less I/O and WAL; docs/bench-next-task.md).
    item_ids.sort(key=order.__getitem__)
    for batch in _batches(item_ids, TASK_BATCH):
        tasks = Task.objects.bulk_create(
            Task(campaign=campaign, item_id=i, capacity=campaign.overlap, priority=order[i][0], sort_key=order[i][1])
            for i in batch
        )
        TaskOutput.objects.bulk_create(
            TaskOutput(task=task, model_version=version, prediction=by_item[task.item_id])
            for task in tasks
            for version, by_item in zip(versions, predictions, strict=True)
        )
    return len(item_ids)


def campaign_plan_update(*, campaign: Campaign) -> dict:
    """State the gate's plan for the campaign's size now (at creation, and again when it is extended)."""
    campaign.plan = gate_plan(
        GatePolicy.from_dict(campaign.gate_policy),
        items=campaign.tasks.ordinary().count(),
        overlap=campaign.overlap,
        resolution=campaign_outcome_resolution(campaign),
    )
    # the planned end moves the gate's horizon: updated_at says the results changed (reviews.results_cache)
    Campaign.objects.filter(pk=campaign.pk).update(plan=campaign.plan, updated_at=timezone.now())
    return campaign.plan
