"""Who may see which webhook endpoint: its creator, and admins. Anyone else is told it does not exist."""

from django.db.models import QuerySet

from core.errors import NotFoundError
from core.models import User
from core.outbox import outbox_due
from webhooks.models import WebhookDelivery, WebhookEndpoint


def webhook_endpoints_visible(*, user: User) -> QuerySet[WebhookEndpoint]:
    endpoints = WebhookEndpoint.objects.order_by("-created_at", "-id")  # a stable order for pages
    return endpoints if user.has_role(User.Role.ADMIN) else endpoints.filter(created_by=user)


def webhook_endpoint_get(*, user: User, pk: int) -> WebhookEndpoint:
    endpoint = webhook_endpoints_visible(user=user).filter(pk=pk).first()
    if endpoint is None:
        raise NotFoundError("No such webhook endpoint.", code="webhook_not_found")
    return endpoint


def webhook_delivery_get(*, user: User, pk: int) -> WebhookDelivery:
    delivery = (
        WebhookDelivery.objects.filter(pk=pk, endpoint__in=webhook_endpoints_visible(user=user))
        .select_related("endpoint")
        .first()
    )
    if delivery is None:
        raise NotFoundError("No such delivery.", code="delivery_not_found")
    return delivery


def webhook_deliveries_due(*, limit: int = 500) -> list[int]:
    """The outbox rows due now and not leased, oldest first: what the beat sweep sends."""
    return outbox_due(WebhookDelivery, limit=limit)
