"""Reads of the integrations' state: the outbox rows due, and what a version's page shows of its MLflow sync."""

from typing import Any

from core.outbox import outbox_due
from integrations.models import MlflowSync, MlflowVersionLink
from models_app.models import ModelVersion


def mlflow_syncs_due(*, limit: int = 500) -> list[int]:
    """Pending rows due now and not leased, oldest first: what the beat sweep sends."""
    return outbox_due(MlflowSync, limit=limit)


def mlflow_version_panel(version: ModelVersion) -> dict[str, Any] | None:
    """The card on a version's page: which MLflow version it mirrors and each write back, failures first."""
    link = MlflowVersionLink.objects.filter(model_version=version).first()
    if link is None:
        return None
    syncs = list(link.syncs.order_by("-created_at", "-id")[:20])
    return {
        "template": "integrations/mlflow_version_panel.html",
        "link": link,
        "syncs": syncs,
        "failing": [s for s in syncs if s.last_error and s.status != MlflowSync.Status.DELIVERED],
    }
