"""Webhook endpoints: register (secret shown once), list, deactivate, see deliveries, redeliver."""
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFoundError
from core.permissions import IsDataScientist
from webhooks.api.serializers import (
    WebhookDeliverySerializer, WebhookEndpointCreatedSerializer, WebhookEndpointCreateSerializer, WebhookEndpointSerializer,
)
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_delivery_redeliver, webhook_endpoint_create


def _endpoint(pk: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=pk).first()
    if endpoint is None:
        raise NotFoundError("No such webhook endpoint.", code="webhook_not_found")
    return endpoint


class WebhookListCreateView(APIView):
    permission_classes = [IsDataScientist]

    @extend_schema(responses=WebhookEndpointSerializer(many=True))
    def get(self, request):
        return Response(WebhookEndpointSerializer(WebhookEndpoint.objects.all(), many=True).data)

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
        return Response(WebhookEndpointSerializer(_endpoint(pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        """Deactivate: nothing more is sent; the delivery log stays."""
        endpoint = _endpoint(pk)
        endpoint.is_active = False
        endpoint.save(update_fields=["is_active", "updated_at"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListView(APIView):
    permission_classes = [IsDataScientist]

    @extend_schema(responses=WebhookDeliverySerializer(many=True))
    def get(self, request, pk):
        deliveries = _endpoint(pk).deliveries.prefetch_related("attempts")[:200]
        return Response(WebhookDeliverySerializer(deliveries, many=True).data)


class WebhookRedeliverView(APIView):
    permission_classes = [IsDataScientist]

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    def post(self, request, pk):
        delivery = WebhookDelivery.objects.filter(pk=pk).first()
        if delivery is None:
            raise NotFoundError("No such delivery.", code="delivery_not_found")
        delivery = webhook_delivery_redeliver(delivery=delivery)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
