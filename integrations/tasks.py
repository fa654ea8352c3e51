"""MLflow tasks: thin wrappers over the services; each does nothing while the integration is off."""

import logging

from celery import shared_task

from integrations.selectors import mlflow_syncs_due
from integrations.services.mlflow_in import mlflow_enabled, mlflow_reconcile, mlflow_rest
from integrations.services.mlflow_out import mlflow_sync_attempt

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def mlflow_sync_deliver(sync_id: int) -> None:
    if not mlflow_enabled():
        return
    delay = mlflow_sync_attempt(sync_id=sync_id, rest=mlflow_rest())
    if delay is not None:
        mlflow_sync_deliver.apply_async((sync_id,), countdown=delay)


@shared_task(ignore_result=True)
def mlflow_outbox_dispatch_due() -> int:
    """Beat's sweep of the outbox: whatever is due and not leased goes out, so no lost message loses a write."""
    if not mlflow_enabled():
        return 0
    due = mlflow_syncs_due()
    for sync_id in due:
        mlflow_sync_deliver.delay(sync_id)
    return len(due)


@shared_task(ignore_result=True)
def mlflow_reconcile_task() -> int:
    if not mlflow_enabled():
        return 0
    result = mlflow_reconcile(rest=mlflow_rest())
    for label, why in result.skipped.items():
        logger.warning("MLflow %s not mirrored: %s", label, why)
    return len(result.imported)
