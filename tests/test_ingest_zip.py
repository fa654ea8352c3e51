"""A ZIP of images as a dataset version: class folders or a manifest, verified images, thumbnails, bombs refused."""

import io
import time
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from datasets.models import DatasetVersion, Item
from datasets.services.thumbnails import version_thumbnails_make


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def dataset(api):
    assert api["ds"].post("/api/v1/datasets/", {"name": "pics"}, format="json").status_code == 201


def png(color=(200, 30, 30), size=(40, 30), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format="PNG")
    return out.getvalue()


def archive(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def post(client, content: bytes, name: str = "pics.zip"):
    return client.post(
        "/api/v1/datasets/pics/versions/", {"file": SimpleUploadedFile(name, content)}, format="multipart"
    )


def test_class_folders_become_items_tagged_with_their_folder(api, dataset, client, users):
    content = archive(
        {"cats/1.png": png(), "cats/2.png": png((0, 0, 0)), "dogs/1.jpg": _jpeg(), "notes.txt": b"ignored"}
    )
    response = post(api["ds"], content)
    assert response.status_code == 201, response.json()
    items = {i.external_id: i for i in Item.objects.all()}
    assert set(items) == {"cats/1", "cats/2", "dogs/1"}
    assert items["cats/1"].tags == ["cats"] and items["dogs/1"].tags == ["dogs"]
    dog_image = items["dogs/1"].image.name
    assert dog_image is not None and dog_image.endswith(".jpg") and items["cats/1"].image.read() == png()

    assert version_thumbnails_make(version_id=DatasetVersion.objects.get().pk) == 3
    assert version_thumbnails_make(version_id=DatasetVersion.objects.get().pk) == 0  # made once
    client.force_login(users["ds"])
    thumb = client.get(f"/items/{items['cats/1'].pk}/image?size=thumb")
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(b"".join(thumb.streaming_content))) as image:
        assert image.format == "JPEG" and image.size == (40, 30)


def test_manifest_rows_name_their_images_and_errors_name_the_manifest_line(api, dataset):
    manifest = (
        b'{"id": "a", "image": "img/a.png", "input": "what is shown?", "reference": "red"}\n'
        b'{"id": "b", "image": "img/missing.png"}\n'
        b'{"id": "c", "image": "img/c.png", "tags": ["x"]}\n'
    )
    response = post(api["ds"], archive({"manifest.jsonl": manifest, "img/a.png": png(), "img/c.png": b"not an image"}))
    assert response.status_code == 400
    body = response.json()
    assert body["extra"]["file"] == "pics.zip:manifest.jsonl"
    assert [(e["line"], e["field"]) for e in body["extra"]["errors"]] == [(2, "input.image"), (3, "input.image")]
    assert "no file 'img/missing.png' in the archive" in body["extra"]["errors"][0]["message"]
    assert "not a readable PNG or JPEG" in body["extra"]["errors"][1]["message"]
    assert DatasetVersion.objects.count() == 0 and Item.objects.count() == 0


def test_csv_manifest(api, dataset):
    manifest = b"id,image,input,tags\na,a.png,the red one,warm\nb,b.png,,cold\n"
    response = post(api["ds"], archive({"manifest.csv": manifest, "a.png": png(), "b.png": png((0, 0, 200))}))
    assert response.status_code == 201, response.json()
    a, b = Item.objects.order_by("external_id")
    assert a.input == {"text": "the red one"} and a.tags == ["warm"] and a.image
    assert b.input == {} and b.tags == ["cold"] and b.image


def test_zip_bomb_is_refused_before_unpacking(api, dataset):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf, zf.open("bomb.png", "w") as member:
        for _ in range(20):
            member.write(b"\0" * (1024 * 1024))
    started = time.monotonic()
    response = post(api["ds"], out.getvalue())
    assert response.status_code == 400 and time.monotonic() - started < 5
    assert "ZIP bomb" in response.json()["message"]


def test_decompression_bomb_image_is_refused_by_its_pixel_count(api, dataset):
    huge = png(color=0, size=(10_000, 5_000), mode="1")  # 50 megapixels in a few kilobytes
    response = post(api["ds"], archive({"big.png": huge}))
    assert response.status_code == 400
    assert "10000x5000 pixels, more than the limit" in response.json()["extra"]["errors"][0]["message"]


def test_a_file_named_zip_that_is_not_one_and_a_zip_of_predictions_are_refused(api, dataset):
    response = post(api["ds"], b"PK\x03\x04 not really a zip at all")
    assert response.status_code == 400 and "not a readable ZIP archive" in response.json()["message"]
    response = post(api["ds"], archive({"notes.txt": b"hello"}))
    assert response.status_code == 400 and "no PNG or JPEG images" in response.json()["message"]


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (10, 200, 10)).save(out, format="JPEG")
    return out.getvalue()
