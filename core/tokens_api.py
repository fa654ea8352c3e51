"""/api/v1/tokens/: the caller's own API tokens. The key is returned once, by POST; never again."""

from datetime import timedelta

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_lists import PagedListView
from core.models import TokenLabel
from core.throttling import TokenEndpointsThrottle
from core.tokens import DEFAULT_TTL, token_create, token_is_expired, token_revoke, tokens_of_user


class TokenSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    created = serializers.DateTimeField(source="token.created")
    expiry = serializers.DateTimeField(source="token.expiry", allow_null=True, help_text="null: never expires")
    expired = serializers.SerializerMethodField()

    def get_expired(self, label: TokenLabel) -> bool:
        return token_is_expired(label.token)


class TokenCreatedSerializer(TokenSerializer):
    token = serializers.CharField(help_text="The key: shown in this answer only.")


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    expires_in_days = serializers.IntegerField(
        min_value=1, max_value=3650, required=False, help_text="Default: SIGNOFF_TOKEN_TTL_DAYS (90)."
    )


_ERRORS = {
    401: OpenApiResponse(description="Not authenticated"),
    429: OpenApiResponse(description="Too many requests (`throttled`)"),
}


class TokenListCreateView(PagedListView):
    throttle_classes = [TokenEndpointsThrottle]
    # JSON only: a form body that parses to nothing would otherwise make a token with every default (the fuzzer
    # sent a bare "True" as multipart and got one); a JSON body that is not an object is a 400
    parser_classes = [JSONParser]
    queryset = TokenLabel.objects.none()
    serializer_class = TokenCreateSerializer

    @extend_schema(responses={200: TokenSerializer(many=True), **_ERRORS})
    def get(self, request):
        return self.paged_response(tokens_of_user(user=request.user), TokenSerializer)

    @extend_schema(
        request=TokenCreateSerializer,
        responses={201: TokenCreatedSerializer, 400: OpenApiResponse(description="Invalid input"), **_ERRORS},
    )
    def post(self, request):
        data = TokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        days = data.validated_data.get("expires_in_days")
        label, key = token_create(
            user=request.user,
            name=data.validated_data["name"],
            expires_in=timedelta(days=days) if days else DEFAULT_TTL,
        )
        return Response({**TokenSerializer(label).data, "token": key}, status=status.HTTP_201_CREATED)


class TokenDetailView(APIView):
    throttle_classes = [TokenEndpointsThrottle]

    @extend_schema(responses={204: None, 404: OpenApiResponse(description="Not one of your tokens"), **_ERRORS})
    def delete(self, request, pk: int):
        token_revoke(user=request.user, token_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("tokens/", TokenListCreateView.as_view(), name="token-list"),
    path("tokens/<id:pk>/", TokenDetailView.as_view(), name="token-detail"),
]
