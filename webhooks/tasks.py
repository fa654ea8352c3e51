"""Webhook delivery tasks: thin wrappers over the services."""

from celery import shared_task

from webhooks.selectors import webhook_deliveries_due
from webhooks.services import webhook_delivery_attempt


@shared_task(ignore_result=True)
def deliver_webhook(delivery_id: int) -> None:
    delay = webhook_delivery_attempt(delivery_id=delivery_id)
    if delay is not None:
        deliver_webhook.apply_async((delivery_id,), countdown=delay)


@shared_task(ignore_result=True)
def webhooks_dispatch_due() -> int:
    """Beat's sweep of the outbox: whatever is due and not leased goes out, so no lost message loses a delivery."""
    due = webhook_deliveries_due()
    for delivery_id in due:
        deliver_webhook.delay(delivery_id)
    return len(due)
