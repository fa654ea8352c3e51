"""Outgoing webhooks: endpoints, the transactional outbox of deliveries, and every attempt made."""

from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import models

from core.models import BaseModel


class WebhookEndpoint(BaseModel):
    class Event(models.TextChoices):
        VERDICT_SIGNED = "verdict.signed"
        STAGE_CHANGED = "model_version.stage_changed"
        CAMPAIGN_DECIDED = "campaign.decided"
        INSPECTION_ALERT = "inspection.alert"  # inspections/: a production period's quality dropped

    url = models.URLField(max_length=1000)
    events = models.JSONField(default=list)
    # The signing secret, Fernet-encrypted: it has to be read back to sign, so it cannot be a one-way hash.
    secret_encrypted = models.TextField()
    description = models.CharField(max_length=255, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Failed attempts in a row, across deliveries (a success resets it), and whether the owner has been e-mailed
    # about this streak: once per streak, not once per attempt.
    failure_streak = models.PositiveIntegerField(default=0)
    failure_notified = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.display_url

    @property
    def display_url(self) -> str:
        """The URL as listings and pages show it: credentials from before they were refused are masked."""
        parts = urlsplit(self.url)
        if "@" not in parts.netloc:
            return self.url
        return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


# The test event: sent to one endpoint on its owner's request, through the outbox and signing like any event. Not a
# subscribable Event: every endpoint takes it.
PING_EVENT = "ping"


class WebhookDelivery(BaseModel):
    """One event for one endpoint: written in the same transaction as the event, then sent until it lands."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"
        CANCELLED = "cancelled"  # the endpoint was deactivated; still in the log, and redeliverable once reactivated

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=100)
    message_id = models.CharField(max_length=64, unique=True)  # the webhook-id header: receivers deduplicate on it
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # A worker owns the delivery until then; a crashed worker's lease simply runs out.
    lease_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # the sweeper: pending deliveries that are due
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due_idx"),
        ]


class WebhookAttempt(models.Model):
    """Append-only log of each try."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    # the exact bytes signed and sent (empty when nothing was sent), so a receiver's complaint can be checked
    request_body = models.TextField(blank=True)
    # the receiver's answer, its first RESPONSE_BODY_LIMIT bytes (decoded, invalid UTF-8 replaced): untrusted text
    response_excerpt = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"attempt {self.pk} of delivery {self.delivery_id}: {self.status_code or self.error or 'no answer'}"
