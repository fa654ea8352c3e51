"""Webhook verbs: register, deactivate and reactivate an endpoint, publish an event into the outbox, attempt a delivery,
redeliver."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from core.crypto import decrypt, encrypt
from core.errors import ApplicationError, ConflictError
from core.models import User
from core.outbox import outbox_claim
from core.queue import task_enqueue_on_commit
from notifications.services import notification_publish
from webhooks.models import PING_EVENT, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.netguard import refuse_credentials, resolve_allowed
from webhooks.sender import new_secret, send

LEASE = timedelta(seconds=60)
DELIVER_TASK = "webhooks.tasks.deliver_webhook"
FAILING_NOTIFICATION = "webhook_failing"  # registered in webhooks/apps.py


def retry_delay_seconds(attempt_count: int) -> int:
    """Exponential backoff: 10 s, 20 s, 40 s ... capped at one hour."""
    return min(10 * 2 ** max(attempt_count - 1, 0), 3600)


def webhook_endpoint_create(
    *, url: str, events: list[str], created_by: User, description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """Returns the endpoint and its secret, which is shown this once and stored only encrypted."""
    unknown = sorted(set(events) - set(WebhookEndpoint.Event.values))
    if not events or unknown:
        raise ApplicationError(
            f"events must be a non-empty list of {', '.join(WebhookEndpoint.Event.values)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
            code="invalid_events",
            extra={"field": "events"},
        )
    refuse_credentials(url)
    resolve_allowed(url)  # first, so a refused address is named as such however the URL spells it
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ApplicationError(
            "This is not a valid URL.", code="invalid_webhook_url", extra={"field": "url", "url": url}
        ) from None
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        url=url,
        events=sorted(set(events)),
        secret_encrypted=encrypt(secret),
        created_by=created_by,
        description=description,
    )
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_deactivate(*, endpoint: WebhookEndpoint, by: User) -> int:
    """Stop sending to an endpoint: its pending deliveries are cancelled, each with a log line saying why (none is
    dropped: they stay in the delivery log and can be redelivered once it is reactivated). One in flight right now
    finishes its attempt; the delivery task cancels it before any retry. Returns how many were cancelled."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False, updated_at=timezone.now())
    endpoint.is_active = False
    now = timezone.now()
    # the rows are locked, so a worker's claim (an UPDATE on the same rows) waits and then finds them cancelled
    idle = list(
        WebhookDelivery.objects.select_for_update()
        .filter(endpoint=endpoint, status=WebhookDelivery.Status.PENDING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .values_list("pk", flat=True)
    )
    WebhookDelivery.objects.filter(pk__in=idle).update(
        status=WebhookDelivery.Status.CANCELLED, lease_until=None, updated_at=now
    )
    WebhookAttempt.objects.bulk_create(
        WebhookAttempt(delivery_id=pk, error=f"Not sent: the endpoint was deactivated by {by.username}.") for pk in idle
    )
    return len(idle)


def webhook_endpoint_reactivate(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Send to the endpoint again from the next event on; its address is checked again first. Deliveries cancelled
    while it was inactive stay cancelled until someone redelivers them."""
    resolve_allowed(endpoint.url)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=True, updated_at=timezone.now())
    endpoint.refresh_from_db()
    return endpoint


def webhook_endpoint_secret(*, endpoint: WebhookEndpoint) -> str:
    return decrypt(endpoint.secret_encrypted)


def _outbox_write(*, endpoint: WebhookEndpoint, event: str, payload: dict) -> WebhookDelivery:
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event=event,
        message_id=f"msg_{secrets.token_urlsafe(18)}",
        payload={"type": event, "timestamp": now.isoformat(), "data": payload},
        next_attempt_at=now,
    )
    task_enqueue_on_commit(DELIVER_TASK, args=[delivery.pk])
    return delivery


def webhook_event_publish(*, event: str, payload: dict) -> list[WebhookDelivery]:
    """Write one outbox row per subscribed endpoint, in the caller's transaction; send them once it commits."""
    return [
        _outbox_write(endpoint=endpoint, event=event, payload=payload)
        for endpoint in WebhookEndpoint.objects.filter(is_active=True)
        if event in endpoint.events
    ]


@transaction.atomic
def webhook_endpoint_ping(*, endpoint: WebhookEndpoint, by: User) -> WebhookDelivery:
    """A test event for this endpoint only, whatever it subscribes to: the same outbox, signing, retries and log as a
    real event, so what the receiver and the log show is what a real event would meet."""
    if not WebhookEndpoint.objects.filter(pk=endpoint.pk, is_active=True).exists():
        raise ConflictError("This endpoint is deactivated; reactivate it first.", code="endpoint_inactive")
    payload = {
        "endpoint": endpoint.pk,
        "events": endpoint.events,
        "requested_by": by.username,
        "message": "A test event from Signoff. Answer 2xx to show it arrived.",
    }
    return _outbox_write(endpoint=endpoint, event=PING_EVENT, payload=payload)


def _failure_streak_record(*, endpoint: WebhookEndpoint, ok: bool, gave_up: bool) -> None:
    """Count failed attempts in a row on the endpoint; e-mail its owner once per streak, when the streak reaches
    SIGNOFF_WEBHOOK_FAILURE_NOTIFY_AFTER or a delivery is given up, whichever comes first. In the attempt's
    transaction, so the count and the mail go together. Conditional updates: two workers failing at once send one."""
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint.pk)
    if ok:
        endpoints.filter(Q(failure_streak__gt=0) | Q(failure_notified=True)).update(
            failure_streak=0, failure_notified=False
        )
        return
    endpoints.update(failure_streak=F("failure_streak") + 1)
    first_of_streak = endpoints.filter(failure_notified=False)
    if not gave_up:
        first_of_streak = first_of_streak.filter(failure_streak__gte=settings.SIGNOFF_WEBHOOK_FAILURE_NOTIFY_AFTER)
    if not first_of_streak.update(failure_notified=True):
        return
    streak = endpoints.values_list("failure_streak", flat=True).get()
    notification_publish(
        kind=FAILING_NOTIFICATION,
        users=[endpoint.created_by],
        subject=f"Webhook deliveries to {endpoint.display_url} are failing",
        message=(
            f"The last {streak} attempt{'s' if streak != 1 else ''} to deliver to your webhook endpoint "
            f"{endpoint.display_url} failed"
            + (", and a delivery was given up after its last retry" if gave_up else "")
            + ". The delivery log shows each attempt's answer; a delivery can be sent again from there. "
            "You are told once until a delivery succeeds again."
        ),
        path=reverse("webhook-detail", kwargs={"pk": endpoint.pk}),
    )


def _claim(delivery_id: int) -> WebhookDelivery | None:
    """Take the lease on a due delivery; None if another worker holds it or it is not due."""
    if not outbox_claim(WebhookDelivery, delivery_id, lease=LEASE):
        return None
    return WebhookDelivery.objects.select_related("endpoint__created_by").get(pk=delivery_id)


def webhook_delivery_attempt(*, delivery_id: int) -> int | None:
    """Try to send one delivery. Returns seconds until the next try, or None when there is nothing more to do."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        with transaction.atomic():
            WebhookAttempt.objects.create(delivery=delivery, error="Not sent: the endpoint is deactivated.")
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                status=WebhookDelivery.Status.CANCELLED, lease_until=None, updated_at=timezone.now()
            )
        return None
    result = send(
        url=endpoint.url,
        secret=webhook_endpoint_secret(endpoint=endpoint),
        message_id=delivery.message_id,
        payload=delivery.payload,
    )
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            status_code=result.status_code,
            error=result.error,
            request_body=result.request_body,
            response_excerpt=result.response_excerpt,
            duration_ms=result.duration_ms,
        )
        delivery.attempt_count += 1
        delivery.lease_until = None
        delay = None
        if result.ok:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.delivered_at = timezone.now()
        elif delivery.attempt_count >= settings.SIGNOFF_WEBHOOK_MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED  # shown on the delivery log; a person can redeliver
        else:
            delay = retry_delay_seconds(delivery.attempt_count)
            delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        delivery.save(
            update_fields=["attempt_count", "lease_until", "status", "delivered_at", "next_attempt_at", "updated_at"]
        )
        gave_up = delivery.status == WebhookDelivery.Status.FAILED
        _failure_streak_record(endpoint=endpoint, ok=result.ok, gave_up=gave_up)
    return delay


@transaction.atomic
def webhook_delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send the same message (same webhook-id, so receivers can deduplicate) again now, with a fresh set of retries.
    The attempt log keeps every earlier try."""
    if not WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, is_active=True).exists():
        raise ConflictError("This endpoint is deactivated; reactivate it first.", code="endpoint_inactive")
    now = timezone.now()
    updated = (
        WebhookDelivery.objects.filter(pk=delivery.pk)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(status=WebhookDelivery.Status.PENDING, next_attempt_at=now, attempt_count=0, updated_at=now)
    )
    if not updated:
        raise ConflictError("This delivery is being sent right now; try again in a minute.", code="delivery_in_flight")
    task_enqueue_on_commit(DELIVER_TASK, args=[delivery.pk])
    delivery.refresh_from_db()
    return delivery
