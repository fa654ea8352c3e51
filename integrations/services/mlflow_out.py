"""Signoff -> MLflow: a signed verdict's tags and the production alias, written to an outbox in the transaction of the
sign-off or stage change, then sent with the webhooks' backoff and lease. MLflow being down delays them; it never
blocks a sign-off."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from core.errors import ConflictError
from core.outbox import outbox_claim
from core.queue import task_enqueue_on_commit
from integrations.mlflow.rest import MlflowError, MlflowRest
from integrations.models import MlflowSync, MlflowVersionLink
from integrations.services.mlflow_in import mlflow_enabled
from models_app.models import ModelVersion, StageTransition
from reviews.models import Verdict
from webhooks.services import LEASE, retry_delay_seconds

DELIVER_TASK = "integrations.tasks.mlflow_sync_deliver"
VERDICT_CAUSE = "verdict:"
DECISIONS = {ModelVersion.Stage.APPROVED: "approved", ModelVersion.Stage.REJECTED: "rejected"}


def mlflow_stage_changed(transition: StageTransition) -> None:
    """The registry's stage hook: queue what MLflow should learn of this change, if the version came from MLflow."""
    if not mlflow_enabled():
        return
    link = MlflowVersionLink.objects.filter(model_version_id=transition.model_version_id).first()
    if link is None:
        return
    if transition.cause.startswith(VERDICT_CAUSE) and transition.to_stage in DECISIONS:
        verdict = Verdict.objects.get(pk=int(transition.cause.removeprefix(VERDICT_CAUSE)))
        path = reverse("verdict-detail", args=[verdict.pk])
        tags = {
            "signoff.decision": DECISIONS[ModelVersion.Stage(transition.to_stage)],
            "signoff.verdict_hash": verdict.hash,
            "signoff.verdict_url": settings.SIGNOFF_BASE_URL.rstrip("/") + path,
        }
        mlflow_sync_enqueue(link=link, kind=MlflowSync.Kind.TAGS, payload={"tags": tags})
    elif transition.to_stage == ModelVersion.Stage.PRODUCTION:
        mlflow_sync_enqueue(link=link, kind=MlflowSync.Kind.ALIAS, payload={"alias": settings.SIGNOFF_MLFLOW_ALIAS})


def mlflow_sync_enqueue(*, link: MlflowVersionLink, kind: str, payload: dict) -> MlflowSync:
    """One outbox row in the caller's transaction; sent once it commits (and by the sweep if that message is lost)."""
    sync = MlflowSync.objects.create(link=link, kind=kind, payload=payload, next_attempt_at=timezone.now())
    task_enqueue_on_commit(DELIVER_TASK, args=[sync.pk])
    return sync


def _claim(sync_id: int) -> MlflowSync | None:
    """Take the lease on a due row; None if another worker holds it or it is not due (webhooks' _claim, same rules)."""
    if not outbox_claim(MlflowSync, sync_id, lease=LEASE):
        return None
    return MlflowSync.objects.select_related("link").get(pk=sync_id)


def _send(sync: MlflowSync, rest: MlflowRest) -> None:
    link = sync.link
    if sync.kind == MlflowSync.Kind.TAGS:
        # each tag is set by value: sending all three again after a partial failure is harmless
        for key, value in sync.payload["tags"].items():
            rest.set_version_tag(name=link.mlflow_name, version=link.mlflow_version, key=key, value=value)
    else:
        rest.set_alias(name=link.mlflow_name, alias=sync.payload["alias"], version=link.mlflow_version)


def mlflow_sync_attempt(*, sync_id: int, rest: MlflowRest) -> int | None:
    """Try one outbox row. Returns seconds until the next try, or None when there is nothing more to do."""
    sync = _claim(sync_id)
    if sync is None:
        return None
    error: MlflowError | None = None
    try:
        _send(sync, rest)
    except MlflowError as exc:
        error = exc
    with transaction.atomic():
        sync.attempt_count += 1
        sync.lease_until = None
        delay = None
        if error is None:
            sync.status, sync.delivered_at, sync.last_error = MlflowSync.Status.DELIVERED, timezone.now(), ""
        else:
            sync.last_error = error.message[:2000]
            # a 4xx (the version deleted in MLflow, a bad token) will not mend by itself: a person sees it at once
            if not error.transient or sync.attempt_count >= settings.SIGNOFF_WEBHOOK_MAX_ATTEMPTS:
                sync.status = MlflowSync.Status.FAILED
            else:
                delay = retry_delay_seconds(sync.attempt_count)
                sync.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        sync.save(
            update_fields=[
                "attempt_count",
                "lease_until",
                "status",
                "delivered_at",
                "last_error",
                "next_attempt_at",
                "updated_at",
            ]
        )
    return delay


@transaction.atomic
def mlflow_sync_retry(*, sync: MlflowSync) -> MlflowSync:
    """Send a failed or waiting write again now, with a fresh set of retries (the button on the version's page). One in
    flight right now is left to finish its attempt."""
    now = timezone.now()
    updated = (
        MlflowSync.objects.filter(pk=sync.pk)
        .exclude(status=MlflowSync.Status.DELIVERED)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(status=MlflowSync.Status.PENDING, next_attempt_at=now, attempt_count=0, updated_at=now)
    )
    if not updated:
        raise ConflictError("This write was delivered or is being sent right now.", code="sync_not_retryable")
    task_enqueue_on_commit(DELIVER_TASK, args=[sync.pk])
    sync.refresh_from_db()
    return sync
