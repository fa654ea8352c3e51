"""E-mail tasks: thin wrappers over the services."""

from celery import shared_task

from notifications.selectors import notifications_due
from notifications.services import notification_send


@shared_task(ignore_result=True)
def send_notification(notification_id: int) -> None:
    delay = notification_send(notification_id=notification_id)
    if delay is not None:
        send_notification.apply_async((notification_id,), countdown=delay)


@shared_task(ignore_result=True)
def notifications_dispatch_due() -> int:
    """Beat's sweep of the outbox: a message whose task was lost, or whose retry is due, goes out."""
    due = notifications_due()
    for notification_id in due:
        send_notification.delay(notification_id)
    return len(due)
