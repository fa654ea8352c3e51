"""E-mail notifications: each person's opt-outs, and the outbox of messages written in the same transaction as the
event that causes them."""

from django.conf import settings
from django.db import models

from core.models import BaseModel


class NotificationPreference(BaseModel):
    """One row per person and kind they changed; no row means the kind is on (the default)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=50)
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="one_preference_per_user_and_kind")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}: {'on' if self.enabled else 'off'}"


class Notification(BaseModel):
    """One e-mail to one person: written with the event, sent by the worker until the mail server takes it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"  # gave up after SIGNOFF_EMAIL_MAX_ATTEMPTS; last_error says why

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=50)
    to_address = models.EmailField()  # the address when the event happened: a later change does not re-route it
    subject = models.CharField(max_length=255)
    message = models.TextField()  # plain text; the HTML part is rendered from it and the link when sent
    url = models.URLField(max_length=1000)  # absolute, to the page the message is about
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # a worker owns the message until then; a crashed worker's lease simply runs out and the sweep sends it
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # the sweeper: pending messages that are due
            models.Index(fields=["status", "next_attempt_at"], name="notification_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to_address}: {self.status}"
