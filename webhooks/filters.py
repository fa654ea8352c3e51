"""Webhook endpoint list filters, shared by the API list and the webhooks page (django-filter)."""

from django_filters import rest_framework as filters

from core.filters import YesNoFilter
from webhooks.models import WebhookEndpoint


class WebhookEndpointFilter(filters.FilterSet):
    # the description, not the URL: a URL may hold credentials (older endpoints) that a search must not probe
    search = filters.CharFilter(
        field_name="description", lookup_expr="icontains", label="Search", help_text="part of the description"
    )
    active = YesNoFilter(field_name="is_active", label="Active")

    class Meta:
        model = WebhookEndpoint
        fields: list[str] = []
