"""API token authentication: knox's, without its per-request sweep of the user's other tokens."""
from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.models import get_token_model


class TokenAuthentication(KnoxTokenAuthentication):
    """knox reads all of the user's tokens on every request to delete the expired ones: a second query
    on the hottest path (get-next, submit). Here a request looks only at its own token, which knox still
    refuses and deletes once expired; the others are swept by beat (`tokens_delete_expired`)."""

    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


def tokens_delete_expired() -> int:
    return get_token_model().objects.filter(expiry__lt=timezone.now()).delete()[0]


class TokenScheme(KnoxTokenScheme):
    """The OpenAPI security scheme: knox's, for this subclass (drf-spectacular matches exact classes)."""

    target_class = "core.auth.TokenAuthentication"
