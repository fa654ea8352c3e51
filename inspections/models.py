"""Inspecting what shipped: production logs per model version, inspection schedules, their runs and alerts."""

from django.conf import settings
from django.db import models

from core.models import BaseModel
from models_app.models import ModelVersion, RegisteredModel


class LogBatch(BaseModel):
    """One uploaded file of production logs. The same bytes for the same version are one batch (content hash)."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="log_batches")
    sha256 = models.CharField(max_length=64)
    log_count = models.PositiveIntegerField()
    source_name = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_version", "sha256"], name="one_log_batch_per_content"),
        ]

    def __str__(self) -> str:
        return f"log batch {self.pk} of model version {self.model_version_id}"


class ProductionLog(models.Model):
    batch = models.ForeignKey(LogBatch, on_delete=models.CASCADE, related_name="logs")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    external_id = models.CharField(max_length=255, blank=True)  # the caller's id, when it sent one
    input = models.JSONField()
    output = models.JSONField()
    tags = models.JSONField(default=list, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # a period's logs of one version (sampling), and the export in time order
            models.Index(fields=["model_version", "at"], name="log_version_at_idx"),
        ]

    def __str__(self) -> str:
        return f"log {self.external_id or self.pk} at {self.at:%Y-%m-%d %H:%M:%S}"


class InspectionSchedule(BaseModel):
    class Kind(models.TextChoices):
        RATING = "rating"
        LABELING = "labeling"

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="+")
    # null: whichever version is in production when a period runs
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    every_seconds = models.PositiveIntegerField()
    sample = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    rubric = models.JSONField(default=list, blank=True)
    labels = models.JSONField(default=list, blank=True)
    reviewers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+")
    stratify_by = models.CharField(max_length=100, blank=True)  # a tag prefix, e.g. "lang" for "lang:fr"
    floor = models.FloatField(null=True, blank=True)  # quality below this alerts, whatever the trend says
    # periods are [anchor + k * every, anchor + (k + 1) * every): the anchor is the schedule's creation
    anchor = models.DateTimeField()
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(every_seconds__gte=1), name="inspection_every_positive"),
            models.CheckConstraint(condition=models.Q(sample__gte=1), name="inspection_sample_positive"),
        ]

    def __str__(self) -> str:
        return f"inspection {self.pk} of {self.model}"


class InspectionRun(models.Model):
    """One period of a schedule: the campaign it made, or why it made none. Append-only history."""

    class Trigger(models.TextChoices):
        BEAT = "beat"
        MANUAL = "manual"

    schedule = models.ForeignKey(InspectionSchedule, on_delete=models.CASCADE, related_name="runs")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+", null=True)
    campaign = models.ForeignKey("reviews.Campaign", on_delete=models.PROTECT, related_name="+", null=True)
    logs_in_period = models.PositiveIntegerField(default=0)
    tasks = models.PositiveIntegerField(default=0)
    note = models.TextField(blank=True)  # why nothing was created, in words
    alert = models.JSONField(null=True, blank=True)  # the alert fired for this period, once
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["schedule", "period_start"]
        constraints = [
            # beat, a second beat or a retried task cannot run one period twice
            models.UniqueConstraint(fields=["schedule", "period_start"], name="one_run_per_period"),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of inspection {self.schedule_id} from {self.period_start:%Y-%m-%d %H:%M:%S}"
