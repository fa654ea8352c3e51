"""The model registry: models, versions with an audited stage, and their prediction sets."""

from django.conf import settings
from django.db import models

from core.models import BaseModel
from datasets.models import DatasetVersion, Item


class RegisteredModel(BaseModel):
    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ModelVersion(BaseModel):
    class Stage(models.TextChoices):
        CANDIDATE = "candidate"
        APPROVED = "approved"
        REJECTED = "rejected"
        PRODUCTION = "production"

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=100)
    # Changed only through registry.model_version_set_stage, which writes a StageTransition.
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.CANDIDATE)
    git_sha = models.CharField(max_length=64, blank=True)
    params = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    artifact_uri = models.CharField(max_length=1000, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["model", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="model_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.model.name}:{self.version}"


class StageTransition(models.Model):
    """Append-only history of a version's stage."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="transitions")
    from_stage = models.CharField(max_length=20, choices=ModelVersion.Stage.choices)
    to_stage = models.CharField(max_length=20, choices=ModelVersion.Stage.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)
    # A reference to what caused it, e.g. "verdict:12"; a string so the registry never imports reviews.
    cause = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model_version", "created_at", "id"]

    def __str__(self) -> str:
        return f"model version {self.model_version_id}: {self.from_stage} → {self.to_stage}"


class PredictionSet(BaseModel):
    """One model version's outputs on one dataset version."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="prediction_sets")
    dataset_version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="prediction_sets")
    sha256 = models.CharField(max_length=64)
    prediction_count = models.PositiveIntegerField(default=0)
    source_name = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "dataset_version"], name="one_prediction_set_per_version_pair"
            ),
        ]


class Prediction(models.Model):
    """A bulk table (a million rows an upload): the ingest's publisher is its only writer and checks what the
    database would. Per-row foreign-key checks at commit and an item index took ~70 % of a 1M-row ingest
    (bench/ingest.py), so neither exists: the publish joins every row to an item of the set's dataset version,
    sets are created in the same transaction, and the ORM still cascades a set's deletion. Items cannot go
    while a prediction set protects their dataset version."""

    prediction_set = models.ForeignKey(
        PredictionSet, on_delete=models.CASCADE, related_name="predictions", db_index=False, db_constraint=False
    )  # the unique index leads with it
    item = models.ForeignKey(Item, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False)
    output = models.JSONField()
    score = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prediction_set", "item"], name="one_prediction_per_item"),
        ]

    def __str__(self) -> str:
        return f"prediction for item {self.item_id} in set {self.prediction_set_id}"
