"""With SIGNOFF_STORAGE_URL=s3://..., every byte the app keeps goes to the bucket (a real S3-API server on loopback,
moto's) and nothing is written under MEDIA_ROOT: uploads through the API, resumable parts, item images and their
thumbnails, gold versions, and a background ingest."""

import base64
import io
import itertools
from typing import Any
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from config.storage_url import default_storage_from_url
from datasets.models import DatasetVersion, Item, Upload, UploadPart
from models_app.models import Prediction
from tests.factories import jsonl, png_base64
from tests.support.s3 import media_files
from tests.test_gold_stream import labeling_campaign
from tests.test_resumable import create, metadata, patch

IMAGE_ROWS: list[dict[str, Any]] = [
    {"id": f"img{n}", "input": {"text": f"picture {n}", "image": png_base64((n * 40, 10, 10))}} for n in range(3)
]
TEXT_ROWS = [{"id": f"q{n}", "input": f"question {n}"} for n in range(300)]


@pytest.fixture
def dataset(api):
    assert api["ds"].post("/api/v1/datasets/", {"name": "qa"}, format="json").status_code == 201


def post_version(client, content: bytes):
    file = SimpleUploadedFile("items.jsonl", content, content_type="application/octet-stream")
    return client.post("/api/v1/datasets/qa/versions/", {"file": file}, format="multipart")


def test_storage_url_names_the_bucket_endpoint_region_and_prefix_and_empty_keeps_local_disk():
    assert default_storage_from_url("") == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    storage = default_storage_from_url("s3://media?endpoint=http://127.0.0.1:9000&region=eu-west-1&prefix=/signoff/")
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    options = storage["OPTIONS"]
    assert (options["bucket_name"], options["endpoint_url"], options["region_name"], options["location"]) == (
        "media",
        "http://127.0.0.1:9000",
        "eu-west-1",
        "signoff",
    )
    assert options["addressing_style"] == "path" and options["file_overwrite"] is False
    assert default_storage_from_url("s3://media")["OPTIONS"]["addressing_style"] is None  # AWS: virtual hosts
    from django.core.exceptions import ImproperlyConfigured

    for bad in ("s3://key:secret@media", "gs://media", "s3://media?endpont=http://x", "s3:///"):
        with pytest.raises(ImproperlyConfigured):
            default_storage_from_url(bad)


def test_api_uploads_images_and_thumbnails_go_to_the_bucket_and_are_served_from_it(
    api, users, dataset, s3_bucket, client, settings
):
    ds = api["ds"]
    assert post_version(ds, jsonl(IMAGE_ROWS)).status_code == 201
    assert ds.post("/api/v1/models/", {"name": "m"}, format="json").status_code == 201
    assert ds.post("/api/v1/models/m/versions/", {"version": "1"}, format="json").status_code == 201
    predictions = SimpleUploadedFile("p.jsonl", jsonl([{"id": r["id"], "output": "cat"} for r in IMAGE_ROWS]))
    response = ds.post(
        "/api/v1/models/m/versions/1/predictions/",
        {"dataset": "qa", "dataset_version": 1, "file": predictions},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert Prediction.objects.count() == len(IMAGE_ROWS)
    items = list(Item.objects.order_by("external_id"))
    assert [item.image.name for item in items] == s3_bucket.object_keys("items/")
    assert s3_bucket.read(items[0].image.name) == base64.b64decode(IMAGE_ROWS[0]["input"]["image"])

    from datasets import tasks

    assert tasks.make_thumbnails(DatasetVersion.objects.get().pk) == len(IMAGE_ROWS)
    thumbnail = Item.objects.get(pk=items[0].pk).thumbnail.name
    assert thumbnail in s3_bucket.object_keys() and s3_bucket.read(thumbnail).startswith(b"\xff\xd8")  # a JPEG

    client.force_login(users["ds"])  # the image view checks who may see the item, then streams it from the bucket
    served = client.get(f"/items/{items[0].pk}/image")
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == s3_bucket.read(items[0].image.name)
    thumb = client.get(f"/items/{items[0].pk}/image?size=thumb")
    assert b"".join(thumb.streaming_content) == s3_bucket.read(thumbnail)
    assert media_files(settings.MEDIA_ROOT) == []


def test_resumable_parts_are_objects_in_the_bucket_and_go_once_the_version_lands(api, dataset, s3_bucket, settings):
    ds = api["ds"]
    content = jsonl(TEXT_ROWS)
    url = create(ds, length=len(content))["Location"]
    cuts = [0, 1000, 5000, len(content)]
    with mock.patch("datasets.upload_kinds.UploadKind.enqueue"):
        for start, end in itertools.pairwise(cuts):
            assert patch(ds, url, start, content[start:end]).status_code == 204
    upload = Upload.objects.get()
    parts = list(UploadPart.objects.order_by("offset").values_list("name", flat=True))
    assert parts == s3_bucket.object_keys(f"uploads/resumable/{upload.pk}/") and len(parts) == 3
    assert b"".join(s3_bucket.read(name) for name in parts) == content

    from datasets import tasks

    tasks.ingest_dataset_upload(upload.pk)
    assert ds.get(url).json()["status"] == "ready" and Item.objects.count() == len(TEXT_ROWS)
    assert s3_bucket.object_keys("uploads/") == [] and not UploadPart.objects.exists()
    assert media_files(settings.MEDIA_ROOT) == []


def test_a_gold_version_copies_its_images_within_the_bucket(api, users, s3_bucket, settings):
    from reviews.services.gold import gold_version_create

    campaign = labeling_campaign(api, users, "pics", items=3)
    body = gold_version_create(campaign=campaign, actor=users["ds"])
    assert body["created"] and body["items"] == 3
    gold = Item.objects.filter(version__number=body["version"]).order_by("external_id")
    source = Item.objects.filter(version__number=1).order_by("external_id")
    for copy, original in zip(gold, source, strict=True):
        assert copy.image.name != original.image.name and copy.image.name in s3_bucket.object_keys("items/")
        assert s3_bucket.read(copy.image.name) == s3_bucket.read(original.image.name)
    assert media_files(settings.MEDIA_ROOT) == []


def test_a_background_upload_is_kept_in_the_bucket_and_ingested_from_it(api, dataset, settings, s3_bucket):
    """The worker's task, run here: a real worker process on the bucket is tests/test_two_nodes.py's (PostgreSQL and
    Redis), which keeps this run's time down."""
    settings.SIGNOFF_SYNC_UPLOAD_MAX_BYTES = 1024
    ds = api["ds"]
    response = post_version(ds, jsonl(TEXT_ROWS))
    assert response.status_code == 202  # kept for the worker
    upload = Upload.objects.get()
    assert upload.file.name in s3_bucket.object_keys("uploads/")
    from datasets import tasks

    tasks.ingest_dataset_upload(upload.pk)
    assert Upload.objects.get().status == Upload.Status.READY, Upload.objects.get().error
    assert DatasetVersion.objects.get().item_count == len(TEXT_ROWS)
    assert s3_bucket.object_keys("uploads/") == [] and media_files(settings.MEDIA_ROOT) == []


def test_a_zip_sent_resumably_in_parts_is_read_back_with_seeks_across_them(api, dataset, s3_bucket, settings):
    """A ZIP's directory is at its end: the worker seeks across parts in the bucket to read it."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        manifest = []
        for n in range(3):
            archive.writestr(f"images/{n}.png", base64.b64decode(png_base64((n * 50, 0, 0))))
            manifest.append({"id": f"z{n}", "input": f"picture {n}", "image": f"images/{n}.png"})
        archive.writestr("manifest.jsonl", jsonl(manifest))
    content = buffer.getvalue()
    ds = api["ds"]
    response = ds.post(
        "/api/v1/uploads/",
        HTTP_TUS_RESUMABLE="1.0.0",
        HTTP_UPLOAD_LENGTH=str(len(content)),
        HTTP_UPLOAD_METADATA=metadata(kind="dataset_version", dataset="qa", filename="pics.zip"),
    )
    url = response["Location"]
    half = len(content) // 2
    with mock.patch("datasets.upload_kinds.UploadKind.enqueue"):
        assert patch(ds, url, 0, content[:half]).status_code == 204
        assert patch(ds, url, half, content[half:]).status_code == 204
    from datasets import tasks

    tasks.ingest_dataset_upload(Upload.objects.get().pk)
    assert ds.get(url).json()["status"] == "ready", ds.get(url).json()
    assert Item.objects.exclude(image="").count() == 3
    assert media_files(settings.MEDIA_ROOT) == []
