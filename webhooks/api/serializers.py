from rest_framework import serializers

from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class WebhookEndpointCreateSerializer(serializers.Serializer):
    # Checked by the service (webhooks/netguard.py), so a refused address says why however the URL spells it.
    url = serializers.CharField(max_length=1000)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEndpoint.Event.choices), allow_empty=False
    )
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    is_active = serializers.BooleanField()


class WebhookEndpointSerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="display_url", read_only=True, help_text="credentials in the URL are masked")

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "description", "is_active", "created_at"]


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(help_text="whsec_...; shown once, store it in your receiver")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookAttemptSerializer(serializers.ModelSerializer):
    request_body = serializers.CharField(
        read_only=True, help_text="the exact body signed and sent (empty when nothing was sent, e.g. a refused address)"
    )
    response_excerpt = serializers.CharField(
        read_only=True, help_text="the first 4 KB of the receiver's answer (invalid UTF-8 replaced); untrusted text"
    )

    class Meta:
        model = WebhookAttempt
        fields = ["attempted_at", "status_code", "error", "response_excerpt", "duration_ms", "request_body"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    attempts = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "message_id",
            "status",
            "attempt_count",
            "next_attempt_at",
            "delivered_at",
            "created_at",
            "payload",
            "attempts",
        ]
