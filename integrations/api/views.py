"""MLflow's model-registry webhooks: no user or token, the request's HMAC signature is its credential."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.mlflow.signature import DELIVERY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from integrations.services.mlflow_in import mlflow_webhook_receive

_RESULT = inline_serializer(
    "MlflowWebhookResult",
    fields={
        "status": serializers.ChoiceField(choices=["created", "exists", "ignored"]),
        "model": serializers.CharField(required=False),
        "version": serializers.CharField(required=False),
        "event": serializers.CharField(required=False, help_text="The event ignored, as entity.action"),
    },
)
_EVENT = inline_serializer(
    "MlflowWebhookEvent",
    fields={
        "entity": serializers.CharField(help_text="model_version"),
        "action": serializers.CharField(help_text="created"),
        "timestamp": serializers.CharField(),
        "data": inline_serializer(
            "MlflowModelVersionCreated",
            fields={
                "name": serializers.CharField(),
                "version": serializers.CharField(),
                "source": serializers.CharField(required=False),
                "run_id": serializers.CharField(required=False, allow_null=True),
            },
        ),
    },
)


class MlflowWebhookView(APIView):
    authentication_classes: list = []  # MLflow has no Signoff token; the signature is checked instead
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="mlflow_webhook",
        summary="Receive an MLflow model-registry webhook",
        description=(
            f"MLflow's own webhook (event `model_version.created`), signed by MLflow: headers `{DELIVERY_ID_HEADER}`, "
            f"`{TIMESTAMP_HEADER}` and `{SIGNATURE_HEADER}` (`v1,<base64 HMAC-SHA256>` of "
            "`<delivery id>.<timestamp>.<body>` with SIGNOFF_MLFLOW_WEBHOOK_SECRET). The version becomes a candidate of "
            "the model of the same name; the same version again changes nothing. Other events are answered and ignored. "
            "404 while the integration is off."
        ),
        request=_EVENT,
        responses={
            200: _RESULT,
            400: OpenApiResponse(description="The body is not an MLflow event."),
            401: OpenApiResponse(description="Missing, stale or wrong signature."),
            403: OpenApiResponse(description="No webhook secret is configured."),
            404: OpenApiResponse(description="The MLflow integration is off."),
            422: OpenApiResponse(description="MLflow refused to describe the version, or its name is no slug."),
            503: OpenApiResponse(
                description="MLflow could not be reached; MLflow retries, and the reconcile catches up."
            ),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        # the signature is over the bytes as sent: read them raw, never through a parser
        return Response(mlflow_webhook_receive(headers=request.headers, body=request.body))
