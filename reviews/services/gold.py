"""Gold labels: the experts' majority label per item, published as a new version of the campaign's dataset."""

import itertools
import json
import posixpath
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from django.core.files import File
from django.db.models.fields.files import FieldFile

from core.errors import ApplicationError
from core.models import User
from datasets.services.datasets import dataset_version_ingest
from reviews.models import Campaign, Judgment
from reviews.services.judgments import campaign_lead_check

# The archive's members carry a fixed time, so the same gold labels make the same bytes and publishing them again
# returns the version already made (dataset_version_ingest matches versions by the file's hash).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_CHUNK = 500  # items read from the database at a time


def majority_labels(label_sets: list[list[str]]) -> list[str] | None:
    """The label set most reviewers gave; None when the top sets tie (no majority to publish)."""
    counts = Counter(tuple(sorted(labels)) for labels in label_sets)
    ranked = counts.most_common(2)
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return list(ranked[0][0])


@dataclass
class _Tally:
    labelled: int = 0
    unresolved: list[str] = field(default_factory=list)


def gold_version_create(*, campaign: Campaign, actor: User) -> dict:
    """Every item of the dataset version again, with `reference` set to the experts' majority where there is one.
    Items left unlabelled or tied keep their reference and are listed, so nothing is silently decided.

    The new version's file is written row by row to a temporary file and ingested like an upload, so memory does
    not grow with the dataset: a JSONL file, or, when items have images, a ZIP whose members are the stored image
    files copied byte for byte (never decoded and encoded again)."""
    campaign_lead_check(campaign=campaign, user=actor)
    if campaign.kind != Campaign.Kind.LABELING:
        raise ApplicationError("Only a labeling campaign produces gold labels.", code="not_labeling")
    if not Judgment.objects.in_results_of(campaign).exists():
        raise ApplicationError("No judgments yet: there is nothing to publish.", code="no_judgments")
    source = campaign.dataset_version
    tally = _Tally()
    rows = _gold_rows(campaign=campaign, tally=tally)
    with tempfile.TemporaryFile() as spool:
        if source.items.exclude(image="").exists():
            name = f"gold-from-campaign-{campaign.pk}.zip"
            _write_archive(spool, rows)
        else:
            name = f"gold-from-campaign-{campaign.pk}.jsonl"
            for row, _image in rows:
                spool.write(_jsonl_line(row))
        spool.seek(0)
        version, created = dataset_version_ingest(
            dataset=source.dataset, file=File(spool, name=name), source_name=name, created_by=actor
        )
    return {
        "dataset": source.dataset.name,
        "version": version.number,
        "sha256": version.sha256,
        "items": version.item_count,
        "labelled": tally.labelled,
        "unresolved": tally.unresolved,
        "created": created,
    }


def _gold_rows(*, campaign: Campaign, tally: _Tally) -> Iterator[tuple[dict, FieldFile | None]]:
    """Each item of the campaign's dataset version as a record with its gold reference, and its image file, in
    item order. Items and judgments are read side by side, both ordered by item, so one item's judgments are in
    memory at a time, not the campaign's."""
    judged = (
        Judgment.objects.in_results_of(campaign)
        .order_by("task__item_id")
        .values_list("task__item_id", "labels")
        .iterator(chunk_size=_CHUNK)
    )
    by_item = itertools.groupby(judged, key=lambda pair: pair[0])
    pending = next(by_item, None)
    items = campaign.dataset_version.items.order_by("id").only("external_id", "input", "tags", "reference", "image")
    for item in items.iterator(chunk_size=_CHUNK):
        while pending is not None and pending[0] < item.pk:
            pending = next(by_item, None)
        label_sets: list[list[str]] = []
        if pending is not None and pending[0] == item.pk:
            label_sets = [labels for _, labels in pending[1]]
            pending = next(by_item, None)
        row = {"id": item.external_id, "input": item.input, "tags": item.tags, "reference": item.reference}
        gold = majority_labels(label_sets)
        if gold is not None:
            gold = sorted(gold, key=campaign.labels.index)  # in the campaign's label order, as judgments store them
            row["reference"] = gold if campaign.multi_label else gold[0]
            tally.labelled += 1
        elif label_sets:
            tally.unresolved.append(item.external_id)
        yield row, (item.image or None)


def _jsonl_line(row: dict) -> bytes:
    return json.dumps(row, sort_keys=True).encode() + b"\n"


def _write_archive(spool: IO[bytes], rows: Iterable[tuple[dict, FieldFile | None]]) -> None:
    """A ZIP as a dataset upload takes it: the images as stored members, and manifest.jsonl naming each one."""
    with zipfile.ZipFile(spool, "w", zipfile.ZIP_STORED) as archive, tempfile.TemporaryFile() as manifest:
        for number, (row, image) in enumerate(rows, start=1):
            record = row
            if image is not None:
                member = f"images/{number}{posixpath.splitext(image.name or '')[1]}"
                with image.open("rb") as stored, archive.open(zipfile.ZipInfo(member, _ZIP_TIME), "w") as copy:
                    shutil.copyfileobj(stored, copy)
                record = {**row, "image": member}
            manifest.write(_jsonl_line(record))
        manifest.seek(0)
        with archive.open(zipfile.ZipInfo("manifest.jsonl", _ZIP_TIME), "w", force_zip64=True) as copy:
            shutil.copyfileobj(manifest, copy)
