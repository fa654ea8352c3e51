"""What the integrations keep: which Signoff model version is which MLflow version, and the outbox of what Signoff
writes back to MLflow (tags on a verdict, the alias on production), retried like webhooks."""

from django.db import models

from core.models import BaseModel
from models_app.models import ModelVersion


class MlflowVersionLink(BaseModel):
    """A Signoff model version that mirrors a version in MLflow's model registry."""

    model_version = models.OneToOneField(ModelVersion, on_delete=models.CASCADE, related_name="mlflow_link")
    mlflow_name = models.CharField(max_length=256)
    mlflow_version = models.CharField(max_length=100)
    run_id = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=1000, blank=True)

    class Meta:
        constraints = [
            # a webhook and the reconcile (or two webhook retries) racing on one version make one link, not two
            models.UniqueConstraint(fields=["mlflow_name", "mlflow_version"], name="mlflow_version_linked_once"),
        ]

    def __str__(self) -> str:
        return f"MLflow {self.mlflow_name} v{self.mlflow_version}"


class MlflowSync(BaseModel):
    """One write to MLflow: stored in the transaction of the sign-off or stage change, then sent until it lands."""

    class Kind(models.TextChoices):
        TAGS = "tags"  # payload: {"tags": {key: value}}
        ALIAS = "alias"  # payload: {"alias": name}

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    link = models.ForeignKey(MlflowVersionLink, on_delete=models.CASCADE, related_name="syncs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # A worker owns the row until then; a crashed worker's lease simply runs out (as webhooks' deliveries).
    lease_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)  # shown on the version's page

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # the sweeper: pending rows that are due
            models.Index(fields=["status", "next_attempt_at"], name="mlflow_sync_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.link}: {self.status}"
