"""Notification verbs: publish (write outbox rows for the people who want this kind), send one, set preferences.

Why an outbox table rather than transaction.on_commit + a Celery task with retries: the row is written in the
transaction of the event that causes it, so a sign-off that commits has its mail recorded and one that rolls back
has none; a message whose task was lost (broker down at commit, a worker killed mid-send) is still due and beat's
sweep sends it; and an SMTP server that is down only delays the mail, never the sign-off. The same pattern as
webhooks/ (one way of doing this in the code base, not two)."""

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.utils import timezone

from core.models import User
from core.outbox import outbox_claim
from core.queue import task_enqueue_on_commit
from notifications.kinds import all_kinds, registered
from notifications.models import Notification, NotificationPreference

SEND_TASK = "notifications.tasks.send_notification"
LEASE = timedelta(seconds=120)


def absolute_url(path: str) -> str:
    """A link for a message read outside the browser: SIGNOFF_BASE_URL (where people reach this server) + path."""
    return settings.SIGNOFF_BASE_URL.rstrip("/") + "/" + path.lstrip("/")


def retry_delay_seconds(attempt_count: int) -> int:
    """Backoff while the mail server is away: 30 s, 60 s, 120 s ... capped at an hour."""
    return min(30 * 2 ** max(attempt_count - 1, 0), 3600)


def notification_publish(*, kind: str, users: Iterable[User], subject: str, message: str, path: str) -> int:
    """Write one outbox row per person who has an address, is active and has not turned `kind` off, in the caller's
    transaction; send each once it commits. Returns how many were written."""
    registered(kind)  # a kind no app registered is a bug in the caller
    wanted = {u.pk: u for u in users if u.is_active and u.email}
    if not wanted:
        return 0
    opted_out = set(
        NotificationPreference.objects.filter(user_id__in=wanted, kind=kind, enabled=False).values_list(
            "user_id", flat=True
        )
    )
    now = timezone.now()
    rows = [
        Notification(
            recipient=user,
            kind=kind,
            to_address=user.email,
            subject=" ".join(subject.split())[:255],  # one line: a campaign's name may hold a newline
            message=message,
            url=absolute_url(path),
            next_attempt_at=now,
        )
        for pk, user in sorted(wanted.items())
        if pk not in opted_out
    ]
    for row in rows:
        row.save()  # one by one: bulk_create returns no ids on every database, and these are few
        task_enqueue_on_commit(SEND_TASK, args=[row.pk])
    return len(rows)


def notification_preferences_set(*, user: User, enabled: set[str]) -> None:
    """Each registered kind on if it is in `enabled`, off otherwise."""
    for kind in all_kinds():
        NotificationPreference.objects.update_or_create(
            user=user, kind=kind.name, defaults={"enabled": kind.name in enabled}
        )


def _claim(notification_id: int) -> Notification | None:
    return (
        Notification.objects.get(pk=notification_id)
        if outbox_claim(Notification, notification_id, lease=LEASE)
        else None
    )


def email_for(notification: Notification) -> EmailMultiAlternatives:
    """Plain text, with a simple HTML alternative: both say the same and link the page."""
    context = {"subject": notification.subject, "message": notification.message, "url": notification.url}
    mail = EmailMultiAlternatives(
        subject=notification.subject,
        body=render_to_string("notifications/email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.to_address],
    )
    mail.attach_alternative(render_to_string("notifications/email.html", context), "text/html")
    return mail


def notification_send(*, notification_id: int) -> int | None:
    """Hand one message to the mail server. Returns seconds until the next try, or None when done (sent, given up,
    or another worker has it). Delivery is at least once: a worker killed between the server's answer and the
    update below sends the message again once its lease runs out."""
    notification = _claim(notification_id)
    if notification is None:
        return None
    error = ""
    try:
        with get_connection(fail_silently=False) as connection:
            connection.send_messages([email_for(notification)])
    except Exception as exc:  # SMTP refusals, a server that is down, DNS: all are worth another try
        error = f"{exc.__class__.__name__}: {exc}"[:1000]
    notification.attempt_count += 1
    notification.lease_until = None
    notification.last_error = error
    delay = None
    if not error:
        notification.status = Notification.Status.SENT
        notification.sent_at = timezone.now()
    elif notification.attempt_count >= settings.SIGNOFF_EMAIL_MAX_ATTEMPTS:
        notification.status = Notification.Status.FAILED
    else:
        delay = retry_delay_seconds(notification.attempt_count)
        notification.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    notification.save(
        update_fields=[
            "attempt_count",
            "lease_until",
            "last_error",
            "status",
            "sent_at",
            "next_attempt_at",
            "updated_at",
        ]
    )
    return delay
