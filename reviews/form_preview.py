"""What the new-campaign form shows before anything exists: the first task as a reviewer would see it, blind."""

import random
from typing import Any

from core.errors import ApplicationError
from datasets.models import DatasetVersion, Item
from models_app.models import ModelVersion, Prediction
from models_app.selectors_diff import prediction_diff_item_classes, prediction_sets_for_diff
from reviews.content import render_content
from reviews.models import SLOTS, Campaign
from reviews.selectors import item_image_url


def campaign_first_task_preview(
    *,
    kind: str,
    dataset_version: DatasetVersion,
    versions: list[ModelVersion],
    content_format: str,
    labels: list[str],
    rubric: list[dict],
    items_kept: str = Campaign.Items.ALL,
) -> dict[str, Any] | None:
    """The first item every version has a prediction for, with the outputs in shuffled slots and no model names
    (as the review screen gets them); None when no item has them all. A diff-first pairwise campaign
    (`items_kept="changed"`) never shows an item with identical outputs: its preview is the first that differs."""
    items = Item.objects.filter(version=dataset_version)
    for version in versions:
        items = items.filter(
            pk__in=Prediction.objects.filter(
                prediction_set__model_version=version, prediction_set__dataset_version=dataset_version
            ).values("item_id")
        )
    if items_kept == Campaign.Items.CHANGED and kind == Campaign.Kind.PAIRWISE and len(versions) == 2:
        items = items.filter(pk__in=_changed_item_ids(versions, dataset_version))
    item = items.order_by("pk").only("pk", "external_id", "input", "image").first()
    if item is None or not versions:
        return None
    outputs = dict(
        Prediction.objects.filter(
            item_id=item.pk,
            prediction_set__dataset_version=dataset_version,
            prediction_set__model_version__in=versions,
        ).values_list("prediction_set__model_version_id", "output")
    )
    preview: dict[str, Any] = {
        "kind": kind,
        "item": item.external_id,
        "input_content": render_content(item.input, content_format),
        "image_url": item_image_url(item),
    }
    if kind == Campaign.Kind.LABELING:
        suggestion = outputs[versions[0].pk]
        preview.update({"labels": labels, "suggestion_content": render_content(suggestion, content_format)})
        return preview
    order = [version.pk for version in versions]
    random.shuffle(order)  # as each assignment draws its own order: slot A is not the candidate
    preview["outputs"] = [
        {"slot": SLOTS[index], "content": render_content(outputs[version_id], content_format)}
        for index, version_id in enumerate(order)
    ]
    if kind == Campaign.Kind.RATING:
        preview["rubric"] = rubric
    return preview


def _changed_item_ids(versions: list[ModelVersion], dataset_version: DatasetVersion) -> list[int]:
    """The items whose candidate and baseline outputs differ, compared as campaign_create compares them for a
    diff-first campaign (exactly, in SQL), so the preview shows a task the campaign would have."""
    try:
        a, b = prediction_sets_for_diff(version=versions[0], against=versions[1], dataset_version=dataset_version)
    except ApplicationError:  # a version without predictions here: no item has both outputs, nothing to preview
        return []
    return [item_id for item_id, cls in prediction_diff_item_classes(a=a, b=b).items() if cls == "changed"]
