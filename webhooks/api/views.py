"""Webhook endpoints: register (secret shown once), list, deactivate or reactivate, see deliveries, redeliver.
A data scientist sees only the endpoints they registered (anyone else's answer 404); admins see all."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_lists import PagedListView
from core.permissions import IsDataScientist
from webhooks.api.serializers import (
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointCreateSerializer,
    WebhookEndpointSerializer,
    WebhookEndpointUpdateSerializer,
)
from webhooks.filters import WebhookEndpointFilter
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.selectors import webhook_delivery_get, webhook_endpoint_get, webhook_endpoints_visible
from webhooks.services import (
    webhook_delivery_redeliver,
    webhook_endpoint_create,
    webhook_endpoint_deactivate,
    webhook_endpoint_ping,
    webhook_endpoint_reactivate,
)


class WebhookListCreateView(PagedListView):
    permission_classes = [IsDataScientist]
    queryset = WebhookEndpoint.objects.none()  # the model, for the schema's filter parameters; get() checks who
    filterset_class = WebhookEndpointFilter
    serializer_class = WebhookEndpointCreateSerializer

    @extend_schema(responses=WebhookEndpointSerializer(many=True))
    def get(self, request):
        return self.paged_response(webhook_endpoints_visible(user=request.user), WebhookEndpointSerializer)

    @extend_schema(request=WebhookEndpointCreateSerializer, responses={201: WebhookEndpointCreatedSerializer})
    def post(self, request):
        data = WebhookEndpointCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = webhook_endpoint_create(created_by=request.user, **data.validated_data)
        return Response({**WebhookEndpointSerializer(endpoint).data, "secret": secret}, status=status.HTTP_201_CREATED)


class WebhookDetailView(APIView):
    permission_classes = [IsDataScientist]

    @extend_schema(responses=WebhookEndpointSerializer)
    def get(self, request, pk):
        return Response(WebhookEndpointSerializer(webhook_endpoint_get(user=request.user, pk=pk)).data)

    @extend_schema(request=WebhookEndpointUpdateSerializer, responses=WebhookEndpointSerializer)
    def patch(self, request, pk):
        """`{"is_active": false}` deactivates (as DELETE does); `true` reactivates, after checking the address again.
        Deliveries cancelled meanwhile stay cancelled until redelivered."""
        endpoint = webhook_endpoint_get(user=request.user, pk=pk)
        data = WebhookEndpointUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["is_active"]:
            webhook_endpoint_reactivate(endpoint=endpoint)
        else:
            webhook_endpoint_deactivate(endpoint=endpoint, by=request.user)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        """Deactivate: nothing more is sent, pending retries are cancelled; the delivery log stays."""
        webhook_endpoint_deactivate(endpoint=webhook_endpoint_get(user=request.user, pk=pk), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListView(PagedListView):
    permission_classes = [IsDataScientist]
    queryset = WebhookDelivery.objects.none()

    @extend_schema(responses=WebhookDeliverySerializer(many=True))
    def get(self, request, pk):
        deliveries = webhook_endpoint_get(user=request.user, pk=pk).deliveries.prefetch_related("attempts")
        return self.paged_response(deliveries, WebhookDeliverySerializer)


class WebhookRedeliverView(APIView):
    permission_classes = [IsDataScientist]

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    def post(self, request, pk):
        delivery = webhook_delivery_redeliver(delivery=webhook_delivery_get(user=request.user, pk=pk))
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookPingView(APIView):
    permission_classes = [IsDataScientist]

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    def post(self, request, pk):
        """Send a `ping` test event to this endpoint only (signed, retried and logged like any event); its
        attempts show in `GET …/deliveries/`. 409 `endpoint_inactive` while the endpoint is deactivated."""
        delivery = webhook_endpoint_ping(endpoint=webhook_endpoint_get(user=request.user, pk=pk), by=request.user)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
