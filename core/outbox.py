"""The lease rules every outbox shares (webhook deliveries, e-mails, MLflow writes): a row is due when it is
pending, its next attempt is now or past, and no worker holds an unexpired lease on it. A worker takes the lease
with one conditional UPDATE, so two workers never send the same row at once, and a crashed worker's lease simply
runs out. Each outbox model has `status` (with Status.PENDING), `next_attempt_at` and `lease_until`."""

from datetime import datetime, timedelta

from django.db.models import Model, Q, QuerySet
from django.utils import timezone


def _due(model: type[Model], now: datetime) -> QuerySet:
    return model._default_manager.filter(
        status=model.Status.PENDING,  # type: ignore[attr-defined]  # every outbox model has its Status
        next_attempt_at__lte=now,
    ).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))


def outbox_due(model: type[Model], *, limit: int = 500) -> list[int]:
    """The ids of the rows due now and not leased, oldest first: what a beat sweep sends."""
    return list(_due(model, timezone.now()).order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def outbox_claim(model: type[Model], pk: int, *, lease: timedelta) -> bool:
    """Take the lease on one due row for `lease`; False when another worker holds it or it is not due."""
    now = timezone.now()
    return bool(_due(model, now).filter(pk=pk).update(lease_until=now + lease))
