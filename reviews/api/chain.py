"""Verdict chain endpoints: run a check (and compare with what a client saw before), acknowledge a broken one, and
hand out the chain itself so a client can recompute every hash without trusting the server's own check."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_lists import PagedListView
from core.models import User
from core.permissions import IsAdmin, IsApprover
from reviews.api.serializers import VerdictSerializer
from reviews.models import ChainCheck, Verdict
from reviews.services.chain import chain_check_acknowledge, verdict_chain_in_order, verdict_chain_report


class ChainVerifyQuerySerializer(serializers.Serializer):
    head = serializers.RegexField(
        r"^[0-9a-f]{64}$",
        required=False,
        error_messages={"invalid": "head must be a verdict hash: 64 lowercase hex digits."},
    )
    count = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs):
        if ("head" in attrs) != ("count" in attrs):
            raise serializers.ValidationError(
                "Give head and count together: the chain of count verdicts ending in head."
            )
        return attrs


class ChainVerifySerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    count = serializers.IntegerField(help_text="verdicts in the server's chain")
    head = serializers.CharField(help_text="hash of the newest verdict (empty when there is none)")
    broken_at = serializers.IntegerField(allow_null=True, help_text="the first verdict id that does not hold, if any")
    reason = serializers.CharField(help_text="what is wrong and where, in words; empty when ok")


class ChainAcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(help_text="what the admin found and did")


class ChainCheckSerializer(serializers.ModelSerializer):
    acknowledged_by: "serializers.SlugRelatedField[User]" = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = ChainCheck
        fields = [
            "id",
            "checked_at",
            "trigger",
            "ok",
            "count",
            "head",
            "broken_at",
            "reason",
            "acknowledged_by",
            "acknowledged_at",
            "acknowledgment_note",
        ]


class ChainVerifyView(APIView):
    permission_classes = [IsApprover]

    @extend_schema(
        parameters=[
            OpenApiParameter("head", str, description="with count: the head a client saw before (e.g. CI's last run)"),
            OpenApiParameter("count", int, description="with head: how many verdicts the chain had then"),
        ],
        responses=ChainVerifySerializer,
        description="Walk the verdict hash chain now and record the check. With head and count, also check that the "
        "chain of count verdicts ending in head is still the start of (or all of) the server's chain.",
    )
    def get(self, request):
        query = ChainVerifyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(verdict_chain_report(trigger=ChainCheck.Trigger.DEMAND, **query.validated_data))


class ChainAcknowledgeView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        request=ChainAcknowledgeSerializer,
        responses=ChainCheckSerializer,
        description="Acknowledge the newest, broken check: sign-offs work again; 409 if there is none.",
    )
    def post(self, request):
        data = ChainAcknowledgeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        check = chain_check_acknowledge(admin=request.user, note=data.validated_data["note"])
        return Response(ChainCheckSerializer(check).data)


class VerdictChainView(PagedListView):
    """Every verdict in chain order with each field its hash covers: `signoff chain verify` recomputes the hashes and
    follows the links on the client, so a server that lies about its own check is still caught."""

    permission_classes = [IsApprover]  # as the check: evidence holds each campaign's results
    queryset = Verdict.objects.none()

    @extend_schema(
        responses=VerdictSerializer(many=True),
        summary="The verdict chain, oldest first, with everything each hash covers",
        description="Each verdict's `hash` is SHA-256 over the UTF-8 JSON (keys sorted, no spaces, non-ASCII escaped) "
        "of {campaign, decision, rationale, signer, signed_at (ISO 8601 in UTC, `+00:00`), evidence, previous_hash}; "
        "the first verdict's `previous_hash` is 64 zeros, every other's is the `hash` of the one before it.",
    )
    def get(self, request):
        return self.paged_response(verdict_chain_in_order(), VerdictSerializer)
