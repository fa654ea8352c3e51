"""Gold versions are streamed: the images of the new version are the source's files byte for byte (copied, not
decoded and encoded again), and building it holds one item at a time, not the dataset."""

import io
import os
import tracemalloc

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from datasets.models import DatasetVersion
from datasets.services.datasets import dataset_create, dataset_version_ingest
from reviews.models import Campaign
from reviews.services.gold import gold_version_create
from tests.factories import jsonl, jsonl_file

IMAGE_SIDE = 180  # a noise PNG this size is about 100 KB: large enough that holding all of them shows


@pytest.fixture
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def noise_png(seed: int) -> bytes:
    buffer = io.BytesIO()
    pixels = os.urandom(IMAGE_SIDE * IMAGE_SIDE * 3)
    Image.frombytes("RGB", (IMAGE_SIDE, IMAGE_SIDE), pixels).save(buffer, format="PNG", pnginfo=None)
    return buffer.getvalue()


def labeling_campaign(api, users, name: str, items: int) -> Campaign:
    """A labeling campaign over `items` image items, two of them judged."""
    import base64

    dataset = dataset_create(name=name, created_by=users["ds"])
    rows = [
        {"id": f"p{i}", "input": {"text": f"picture {i}", "image": base64.b64encode(noise_png(i)).decode()}}
        for i in range(items)
    ]
    dataset_version_ingest(
        dataset=dataset, file=ContentFile(jsonl(rows), name="p.jsonl"), source_name="p.jsonl", created_by=users["ds"]
    )
    ds = api["ds"]
    assert ds.post("/api/v1/models/", {"name": f"m-{name}"}, format="json").status_code == 201
    assert ds.post(f"/api/v1/models/m-{name}/versions/", {"version": "1"}, format="json").status_code == 201
    predictions = jsonl_file([{"id": f"p{i}", "output": "cat"} for i in range(items)])
    response = ds.post(
        f"/api/v1/models/m-{name}/versions/1/predictions/",
        {"dataset": name, "dataset_version": 1, "file": predictions},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    body = {
        "name": name,
        "kind": "labeling",
        "dataset": name,
        "dataset_version": 1,
        "candidate": f"m-{name}:1",
        "labels": ["cat", "dog"],
        "reviewers": ["rev"],
        "gate": {"min_judgments": 1, "min_win_rate": 0.5},
    }
    response = ds.post("/api/v1/campaigns/", body, format="json")
    assert response.status_code == 201, response.json()
    cid = response.json()["id"]
    for _ in range(2):
        task = api["reviewer"].get(f"/api/v1/campaigns/{cid}/next/").json()
        posted = api["reviewer"].post(f"/api/v1/tasks/{task['task']}/judgments/", {"labels": ["dog"]}, format="json")
        assert posted.status_code == 201, posted.json()
    return Campaign.objects.get(pk=cid)


def test_the_gold_version_holds_the_source_images_byte_for_byte(api, users, media_in_tmp):
    campaign = labeling_campaign(api, users, "pics", items=4)
    body = gold_version_create(campaign=campaign, actor=users["ds"])
    assert (body["items"], body["labelled"], body["created"]) == (4, 2, True)
    source = DatasetVersion.objects.get(dataset__name="pics", number=1)
    gold = DatasetVersion.objects.get(dataset__name="pics", number=body["version"])

    def contents(version):
        return {item.external_id: (item.image.open("rb").read(), item.input) for item in version.items.all()}

    assert contents(gold) == contents(source)
    assert sorted(gold.items.values_list("reference", flat=True), key=str) == [None, None, "dog", "dog"]
    again = gold_version_create(campaign=campaign, actor=users["ds"])  # the same labels make the same file
    assert (again["version"], again["created"]) == (body["version"], False)


def gold_peak_bytes(campaign: Campaign, actor) -> int:
    tracemalloc.start()
    try:
        gold_version_create(campaign=campaign, actor=actor)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_building_a_gold_version_does_not_hold_the_dataset_in_memory(api, users, media_in_tmp):
    small = labeling_campaign(api, users, "small", items=20)
    large = labeling_campaign(api, users, "large", items=80)
    small_peak, large_peak = gold_peak_bytes(small, users["ds"]), gold_peak_bytes(large, users["ds"])
    image_bytes = len(noise_png(0))
    # four times the images (6 MB more of them) cost less than a few images more: nothing grows with the items
    assert large_peak < small_peak + 5 * image_bytes, (small_peak, large_peak)
