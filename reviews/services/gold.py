"""Gold labels: the experts' majority label per item, published as a new version of the campaign's dataset."""

import base64
import json
from collections import Counter

from django.core.files.base import ContentFile

from core.errors import ApplicationError
from core.models import User
from datasets.services.datasets import dataset_version_ingest
from reviews.models import Campaign, Judgment
from reviews.services.judgments import campaign_lead_check


def majority_labels(label_sets: list[list[str]]) -> list[str] | None:
    """The label set most reviewers gave; None when the top sets tie (no majority to publish)."""
    counts = Counter(tuple(sorted(labels)) for labels in label_sets)
    ranked = counts.most_common(2)
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return list(ranked[0][0])


def gold_version_create(*, campaign: Campaign, actor: User) -> dict:
    """Every item of the dataset version again, with `reference` set to the experts' majority where there is one.
    Items left unlabelled or tied keep their reference and are listed, so nothing is silently decided."""
    campaign_lead_check(campaign=campaign, user=actor)
    if campaign.kind != Campaign.Kind.LABELING:
        raise ApplicationError("Only a labeling campaign produces gold labels.", code="not_labeling")
    by_item: dict[int, list[list[str]]] = {}
    for item_id, labels in Judgment.objects.in_results_of(campaign).values_list("task__item_id", "labels"):
        by_item.setdefault(item_id, []).append(labels)
    if not by_item:
        raise ApplicationError("No judgments yet: there is nothing to publish.", code="no_judgments")
    source = campaign.dataset_version
    rows, labelled, unresolved = [], 0, []
    for item in source.items.order_by("id"):
        row = {"id": item.external_id, "input": item.input, "tags": item.tags, "reference": item.reference}
        if item.image:
            with item.image.open("rb") as image:
                row["input"] = {**item.input, "image": base64.b64encode(image.read()).decode()}
        gold = majority_labels(by_item.get(item.pk, []))
        if gold is not None:
            gold = sorted(gold, key=campaign.labels.index)  # in the campaign's label order, as judgments store them
            row["reference"] = gold if campaign.multi_label else gold[0]
            labelled += 1
        elif item.pk in by_item:
            unresolved.append(item.external_id)
        rows.append(row)
    content = b"".join(json.dumps(row, sort_keys=True).encode() + b"\n" for row in rows)
    name = f"gold-from-campaign-{campaign.pk}.jsonl"
    version, created = dataset_version_ingest(
        dataset=source.dataset, file=ContentFile(content, name=name), source_name=name, created_by=actor
    )
    return {
        "dataset": source.dataset.name,
        "version": version.number,
        "sha256": version.sha256,
        "items": version.item_count,
        "labelled": labelled,
        "unresolved": unresolved,
        "created": created,
    }
