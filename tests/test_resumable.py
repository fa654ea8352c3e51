"""Resumable uploads (tus 1.0.0): create, send in chunks, resume after a cut, and land like any upload."""

import base64
import io
from unittest import mock

import pytest

from core.errors import ConflictError
from datasets.models import DatasetVersion, Item, Upload, UploadPart
from datasets.services.resumable import resumable_append
from models_app.models import Prediction
from tests.factories import jsonl

ROWS = [{"id": f"i{n}", "input": f"question {n}"} for n in range(200)]
CONTENT = jsonl(ROWS)


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def dataset(api):
    assert api["ds"].post("/api/v1/datasets/", {"name": "qa"}, format="json").status_code == 201


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def create(client, length: int = len(CONTENT), **meta):
    meta = meta or {"kind": "dataset_version", "dataset": "qa", "filename": "items.jsonl"}
    return client.post(
        "/api/v1/uploads/",
        HTTP_TUS_RESUMABLE="1.0.0",
        HTTP_UPLOAD_LENGTH=str(length),
        HTTP_UPLOAD_METADATA=metadata(**meta),
    )


def patch(client, url: str, offset: int, data: bytes):
    return client.generic(
        "PATCH",
        url,
        data,
        content_type="application/offset+octet-stream",
        HTTP_TUS_RESUMABLE="1.0.0",
        HTTP_UPLOAD_OFFSET=str(offset),
    )


def offset_of(client, url: str) -> int:
    response = client.head(url, HTTP_TUS_RESUMABLE="1.0.0")
    assert response.status_code == 200 and response["Upload-Length"]
    return int(response["Upload-Offset"])


def test_options_announce_the_protocol(api):
    response = api["ds"].options("/api/v1/uploads/")
    assert response.status_code == 204
    assert (
        response["Tus-Version"] == "1.0.0"
        and "creation" in response["Tus-Extension"]
        and int(response["Tus-Max-Size"]) > 0
    )


def test_chunked_upload_lands_as_a_version(api, dataset, django_capture_on_commit_callbacks):
    ds = api["ds"]
    response = create(ds)
    assert response.status_code == 201 and response["Tus-Resumable"] == "1.0.0"
    url = response["Location"]
    assert Upload.objects.get().status == Upload.Status.RECEIVING and offset_of(ds, url) == 0
    cut = len(CONTENT) // 3
    first = patch(ds, url, 0, CONTENT[:cut])
    assert first.status_code == 204 and first["Upload-Offset"] == str(cut)
    assert ds.get(url).json()["status"] == "receiving"
    with (
        mock.patch("datasets.upload_kinds.UploadKind.enqueue") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        last = patch(ds, url, cut, CONTENT[cut:])
    assert last.status_code == 204 and last["Upload-Offset"] == str(len(CONTENT))
    upload = Upload.objects.get()
    enqueue.assert_called_once_with(upload.pk)
    from datasets import tasks

    tasks.ingest_dataset_upload(upload.pk)
    status = ds.get(url).json()
    assert status["status"] == "ready" and status["result"]["items"] == len(ROWS)
    assert Item.objects.count() == len(ROWS) and DatasetVersion.objects.get().source_name == "items.jsonl"


def test_a_patch_cut_short_keeps_what_arrived_and_resumes_from_there(api, dataset):
    ds = api["ds"]
    url = create(ds)["Location"]
    upload = Upload.objects.get()

    class DroppedConnection(io.BytesIO):
        def read(self, size=-1):
            if self.tell() >= 1000:
                raise OSError("connection reset by peer")
            return super().read(min(size, 1000 - self.tell()) if size and size > 0 else 1000)

    assert resumable_append(upload=upload, offset=0, stream=DroppedConnection(CONTENT)) == 1000
    assert offset_of(ds, url) == 1000
    stale = patch(ds, url, 0, CONTENT)  # a client that does not ask where to resume is told
    assert (
        stale.status_code == 409
        and stale.json()["code"] == "offset_mismatch"
        and stale.json()["extra"]["offset"] == 1000
    )
    with mock.patch("datasets.upload_kinds.UploadKind.enqueue"):
        assert patch(ds, url, 1000, CONTENT[1000:]).status_code == 204
    from datasets import tasks

    tasks.ingest_dataset_upload(upload.pk)
    assert Upload.objects.get().status == Upload.Status.READY
    assert list(Item.objects.order_by("id").values_list("external_id", flat=True)) == [r["id"] for r in ROWS]


def test_more_bytes_than_announced_are_refused_and_not_kept(api, dataset):
    ds = api["ds"]
    url = create(ds, length=10)["Location"]
    response = patch(ds, url, 0, b'{"id": "a", "input": "far too long"}\n')
    assert response.status_code == 400 and response.json()["code"] == "too_long"
    assert offset_of(ds, url) == 0


def test_a_complete_file_that_cannot_be_read_is_a_400_on_its_last_patch(api, dataset):
    ds = api["ds"]
    garbage = b"\x00\x01\x02" * 1000
    url = create(ds, length=len(garbage))["Location"]
    response = patch(ds, url, 0, garbage)
    assert response.status_code == 400 and "binary data" in response.json()["message"]
    assert ds.get(url).json()["status"] == "failed" and DatasetVersion.objects.count() == 0


def test_predictions_go_through_the_same_door(api, dataset, django_capture_on_commit_callbacks):
    ds = api["ds"]
    from tests.test_ingest_formats import post_version

    assert post_version(ds, CONTENT).status_code == 201
    assert ds.post("/api/v1/models/", {"name": "m"}, format="json").status_code == 201
    assert ds.post("/api/v1/models/m/versions/", {"version": "1"}, format="json").status_code == 201
    predictions = jsonl([{"id": r["id"], "output": "yes"} for r in ROWS])
    response = create(
        ds,
        length=len(predictions),
        kind="prediction_set",
        model="m",
        version="1",
        dataset="qa",
        dataset_version="1",
        filename="preds.jsonl",
    )
    assert response.status_code == 201, response.json()
    with (
        mock.patch("datasets.upload_kinds.UploadKind.enqueue") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert patch(ds, response["Location"], 0, predictions).status_code == 204
    from models_app import tasks

    tasks.ingest_prediction_upload(enqueue.call_args.args[0])
    assert Prediction.objects.count() == len(ROWS)


@pytest.mark.parametrize(
    "meta, code",
    [
        ({"kind": "nonsense"}, "invalid_metadata"),
        ({"kind": "dataset_version", "dataset": "nope"}, "dataset_not_found"),
        (
            {"kind": "prediction_set", "model": "ghost", "version": "1", "dataset": "qa", "dataset_version": "1"},
            "model_version_not_found",
        ),
    ],
)
def test_create_checks_its_target(api, dataset, meta, code):
    response = create(api["ds"], **meta)
    assert response.status_code in (400, 404) and response.json()["code"] == code


def test_only_data_scientists_create_and_only_the_owner_sends(api, users, dataset):
    assert create(api["reviewer"]).status_code == 403
    url = create(api["ds"])["Location"]
    from tests.conftest import token_client
    from tests.factories import UserFactory

    other = token_client(UserFactory.create(username="other-ds", role="data_scientist"))
    assert patch(other, url, 0, CONTENT).status_code == 404 and other.head(url).status_code == 404
    assert api["ds"].delete(url).status_code == 204 and Upload.objects.count() == 0


def test_an_upload_abandoned_for_a_day_is_deleted_with_its_bytes(api, dataset):
    from datetime import timedelta

    from django.core.files.storage import default_storage
    from django.utils import timezone

    from datasets import tasks

    ds = api["ds"]
    url = create(ds)["Location"]
    assert patch(ds, url, 0, CONTENT[:100]).status_code == 204
    (part,) = UploadPart.objects.values_list("name", flat=True)
    assert default_storage.exists(part)  # the bytes so far are stored
    assert tasks.requeue_stale_uploads() == 0 and Upload.objects.count() == 1  # a recent pause is kept
    Upload.objects.update(heartbeat_at=timezone.now() - timedelta(hours=25))
    upload_id = Upload.objects.get().pk
    orphan = default_storage.save(f"uploads/resumable/{upload_id}/000000000000100-dead.part", io.BytesIO(b"x"))
    tasks.requeue_stale_uploads()  # the orphan: a PATCH whose process died between storing and recording its part
    assert Upload.objects.count() == 0 and not UploadPart.objects.exists()
    assert not default_storage.exists(part) and not default_storage.exists(orphan)


def test_two_patches_racing_at_one_offset_store_one_part_and_the_other_is_told_to_resume(api, dataset):
    from django.core.files.storage import default_storage

    ds = api["ds"]
    create(ds)
    upload = Upload.objects.get()

    class RacedBody(io.BytesIO):
        """A slow PATCH at offset 0: while its body arrives, another request (another node) sends offset 0."""

        raced = False

        def read(self, size=-1):
            if not self.raced:
                self.raced = True
                assert resumable_append(upload=upload, offset=0, stream=io.BytesIO(CONTENT[:500])) == 500
            return super().read(size)

    with pytest.raises(ConflictError) as refused:
        resumable_append(upload=upload, offset=0, stream=RacedBody(CONTENT[:800]))
    assert refused.value.code == "offset_mismatch" and refused.value.extra == {"offset": 500}
    (part,) = UploadPart.objects.all()
    assert (part.offset, part.size) == (0, 500)
    assert default_storage.listdir(f"uploads/resumable/{upload.pk}")[1] == [part.name.rsplit("/", 1)[1]]


def test_parts_read_back_as_one_seekable_file(api, dataset):
    from datasets.services.upload_files import upload_open

    ds = api["ds"]
    url = create(ds)["Location"]
    for start, end in ((0, 7), (7, 4000), (4000, 4001)):
        assert patch(ds, url, start, CONTENT[start:end]).status_code == 204
    upload = Upload.objects.get()
    assert UploadPart.objects.count() == 3
    with upload_open(upload=upload) as file:
        assert file.read() == CONTENT[:4001]
        file.seek(5)
        assert file.read(10) == CONTENT[5:15]
        file.seek(-3, io.SEEK_END)
        assert file.read() == CONTENT[3998:4001]
