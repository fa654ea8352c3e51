"""Reads: what is due to be sent, and a person's preferences as the form shows them."""

from core.models import User
from core.outbox import outbox_due
from notifications.kinds import NotificationKind, all_kinds
from notifications.models import Notification, NotificationPreference


def notifications_due(*, limit: int = 500) -> list[int]:
    """Pending messages due now and not leased, oldest first: what beat's sweep sends."""
    return outbox_due(Notification, limit=limit)


def notification_preferences(*, user: User) -> list[tuple[NotificationKind, bool]]:
    """Every registered kind with whether this person gets it (on unless they turned it off)."""
    off = set(NotificationPreference.objects.filter(user=user, enabled=False).values_list("kind", flat=True))
    return [(kind, kind.name not in off) for kind in all_kinds()]
