"""Webhook pages: endpoints (the secret is shown once, on creation) and each endpoint's delivery log."""
from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.errors import ApplicationError
from core.models import User
from core.views import role_required
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_delivery_redeliver, webhook_endpoint_create


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(max_length=1000, assume_scheme="https")
    events = forms.MultipleChoiceField(choices=WebhookEndpoint.Event.choices, widget=forms.CheckboxSelectMultiple,
                                       initial=WebhookEndpoint.Event.values)
    description = forms.CharField(max_length=255, required=False)


@role_required(User.Role.DATA_SCIENTIST)
def webhook_list(request):
    form = WebhookEndpointForm(request.POST or None)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = webhook_endpoint_create(created_by=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error("url" if exc.code.startswith("webhook") else None, exc.message)
        else:
            form = WebhookEndpointForm()
    endpoints = WebhookEndpoint.objects.all()
    return render(request, "webhooks/list.html", {"form": form, "endpoints": endpoints, "created": created, "secret": secret})


@role_required(User.Role.DATA_SCIENTIST)
def webhook_detail(request, pk):
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    deliveries = endpoint.deliveries.prefetch_related("attempts")[:100]
    return render(request, "webhooks/detail.html", {"endpoint": endpoint, "deliveries": deliveries})


@require_POST
@role_required(User.Role.DATA_SCIENTIST)
def webhook_deactivate(request, pk):
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    endpoint.is_active = False
    endpoint.save(update_fields=["is_active", "updated_at"])
    messages.success(request, "Endpoint deactivated: nothing more will be sent to it.")
    return redirect("webhook-detail", pk=pk)


@require_POST
@role_required(User.Role.DATA_SCIENTIST)
def delivery_redeliver(request, pk):
    delivery = get_object_or_404(WebhookDelivery, pk=pk)
    try:
        webhook_delivery_redeliver(delivery=delivery)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Delivery {delivery.message_id} queued again.")
    return redirect("webhook-detail", pk=delivery.endpoint_id)
