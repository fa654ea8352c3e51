"""Webhook pages: endpoints (the secret is shown once, on creation) and each endpoint's delivery log.
A data scientist sees only the endpoints they registered; admins see all."""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.errors import ApplicationError
from core.models import User
from core.pagination import page_of
from core.views import role_required
from webhooks.filters import WebhookEndpointFilter
from webhooks.models import WebhookEndpoint
from webhooks.selectors import webhook_delivery_get, webhook_endpoint_get, webhook_endpoints_visible
from webhooks.services import (
    webhook_delivery_redeliver,
    webhook_endpoint_create,
    webhook_endpoint_deactivate,
    webhook_endpoint_ping,
    webhook_endpoint_reactivate,
)


class WebhookEndpointForm(forms.Form):
    # a plain field: the service checks the URL, so a refused address is named as such however it is spelt
    url = forms.CharField(max_length=1000, label="URL", widget=forms.URLInput)
    events = forms.MultipleChoiceField(
        choices=WebhookEndpoint.Event.choices, widget=forms.CheckboxSelectMultiple, initial=WebhookEndpoint.Event.values
    )
    description = forms.CharField(max_length=255, required=False)


@role_required(User.Role.DATA_SCIENTIST)
def webhook_list(request):
    form = WebhookEndpointForm(request.POST or None)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = webhook_endpoint_create(created_by=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(
                "url" if exc.code.startswith("webhook") or exc.code == "invalid_webhook_url" else None, exc.message
            )
        else:
            form = WebhookEndpointForm()
    endpoints = webhook_endpoints_visible(user=request.user).select_related("created_by")
    found = WebhookEndpointFilter(request.GET, queryset=endpoints, request=request)
    context = {"form": form, "filter": found, "page": page_of(request, found.qs), "created": created, "secret": secret}
    return render(request, "webhooks/list.html", context)


@role_required(User.Role.DATA_SCIENTIST)
def webhook_detail(request, pk):
    endpoint = webhook_endpoint_get(user=request.user, pk=pk)
    deliveries = endpoint.deliveries.prefetch_related("attempts")[:100]
    return render(request, "webhooks/detail.html", {"endpoint": endpoint, "deliveries": deliveries})


@require_POST
@role_required(User.Role.DATA_SCIENTIST)
def webhook_deactivate(request, pk):
    cancelled = webhook_endpoint_deactivate(endpoint=webhook_endpoint_get(user=request.user, pk=pk), by=request.user)
    messages.success(
        request,
        "Endpoint deactivated: nothing more will be sent to it"
        + (
            f"; {cancelled} pending {'delivery was' if cancelled == 1 else 'deliveries were'} cancelled."
            if cancelled
            else "."
        ),
    )
    return redirect("webhook-detail", pk=pk)


@require_POST
@role_required(User.Role.DATA_SCIENTIST)
def webhook_reactivate(request, pk):
    try:
        webhook_endpoint_reactivate(endpoint=webhook_endpoint_get(user=request.user, pk=pk))
    except ApplicationError as exc:
        if exc.status_code == 404:
            raise
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            "Endpoint reactivated: new events will be sent to it. Cancelled deliveries can be redelivered below.",
        )
    return redirect("webhook-detail", pk=pk)


@require_POST
@role_required(User.Role.DATA_SCIENTIST)
def delivery_redeliver(request, pk):
    delivery = webhook_delivery_get(user=request.user, pk=pk)
    try:
        webhook_delivery_redeliver(delivery=delivery)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Delivery {delivery.message_id} queued again.")
    return redirect("webhook-detail", pk=delivery.endpoint_id)


@require_POST
@role_required(User.Role.DATA_SCIENTIST)
def webhook_ping(request, pk):
    endpoint = webhook_endpoint_get(user=request.user, pk=pk)
    try:
        delivery = webhook_endpoint_ping(endpoint=endpoint, by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Test event {delivery.message_id} queued: its attempts show below.")
    return redirect("webhook-detail", pk=pk)
