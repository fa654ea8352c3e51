"""Datasets, their immutable versions and items, and uploads being ingested in the background."""

from django.conf import settings
from django.db import models

from core.models import BaseModel


class Dataset(BaseModel):
    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DatasetVersion(BaseModel):
    """Immutable once ready: its items never change, and sha256 is the hash of the uploaded bytes."""

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    item_count = models.PositiveIntegerField(default=0)
    source_name = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="dataset_version_number_unique"),
            # the same bytes uploaded twice return the existing version
            models.UniqueConstraint(fields=["dataset", "sha256"], name="dataset_version_content_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.number}"


def item_image_path(item: "Item", filename: str) -> str:
    return f"items/{item.version_id}/{filename}"


class Item(models.Model):
    # A bulk table written only by the ingest's publisher, which creates the version in the same transaction:
    # no per-row foreign-key check at commit (a fifth of a 1M-row ingest). The ORM still cascades deletion, and
    # the unique (version, external_id) index serves lookups by version.
    version = models.ForeignKey(
        DatasetVersion, on_delete=models.CASCADE, related_name="items", db_index=False, db_constraint=False
    )
    external_id = models.CharField(max_length=255)
    input = models.JSONField()
    image = models.FileField(upload_to=item_image_path, blank=True)
    # made in the background after the version lands; pages fall back to the image until then
    thumbnail = models.FileField(upload_to=item_image_path, blank=True)
    reference = models.JSONField(null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "external_id"], name="item_external_id_unique_in_version"),
        ]

    def __str__(self) -> str:
        return self.external_id


class Upload(BaseModel):
    """A large upload handed to the worker; the API's status_url reads this row."""

    class Kind(models.TextChoices):
        DATASET_VERSION = "dataset_version"
        PREDICTION_SET = "prediction_set"
        # production logs (inspections/); the value is stored, and listed in the upload status' schema enum
        LOG_BATCH = "log_batch"

    class Status(models.TextChoices):
        RECEIVING = "receiving"  # a resumable upload whose bytes are still arriving
        QUEUED = "queued"
        PROCESSING = "processing"
        READY = "ready"
        FAILED = "failed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    file = models.FileField(upload_to="uploads/%Y/%m/%d/")
    source_name = models.CharField(max_length=255, blank=True)
    # What the upload is for, e.g. {"dataset": "digits"} or {"model": "m", "version": "1", ...}
    target = models.JSONField(default=dict)
    # how far the worker has got, written as it reads; the status endpoint turns it into rows/s and time left
    phase = models.CharField(max_length=20, blank=True)
    rows_done = models.PositiveBigIntegerField(default=0)
    bytes_done = models.PositiveBigIntegerField(default=0)
    bytes_total = models.PositiveBigIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")


class UploadPart(BaseModel):
    """The bytes of one PATCH of a resumable upload, kept as an object of their own in storage.

    Parts as objects (not one file appended to, not S3 multipart): any web node can take the next PATCH, since
    nothing lives on a node's disk; tus chunks of any size fit (S3 multipart wants 5 MB parts but the last); and a
    PATCH cut short keeps what arrived as a shorter part. The worker reads the parts in order as one file."""

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="parts")
    offset = models.PositiveBigIntegerField()
    size = models.PositiveBigIntegerField()
    name = models.CharField(max_length=255)  # in the default storage

    class Meta:
        constraints = [
            # also the index the worker reads the parts in order by
            models.UniqueConstraint(fields=["upload", "offset"], name="one_part_per_upload_offset"),
        ]

    def __str__(self) -> str:
        return f"part of upload {self.upload_id} at byte {self.offset} ({self.size} bytes)"
