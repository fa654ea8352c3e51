"""API tokens a person manages: create one (its key shown once), list them, revoke one. knox stores only digests."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken

from core.errors import NotFoundError
from core.models import TokenLabel, User

DEFAULT_TTL = object()  # "the deployment's default", as opposed to None, "never expires"


def token_default_ttl() -> timedelta | None:
    days = settings.SIGNOFF_TOKEN_TTL_DAYS
    return timedelta(days=days) if days else None


@transaction.atomic
def token_create(
    *, user: User, name: str = "", expires_in: timedelta | object | None = DEFAULT_TTL
) -> tuple[TokenLabel, str]:
    """A new token for `user`; returns its label and the key, which exists nowhere else from now on."""
    ttl = token_default_ttl() if expires_in is DEFAULT_TTL else expires_in
    token, key = AuthToken.objects.create(user=user, expiry=ttl)
    return TokenLabel.objects.create(token=token, name=name), key


def tokens_of_user(*, user: User) -> list[TokenLabel]:
    """The user's tokens, newest first. A token made by knox directly (a test, a script) or before labels
    existed has no label, hence no id to revoke it by: it is given an unnamed one here."""
    unlabelled = AuthToken.objects.filter(user=user, label__isnull=True)
    TokenLabel.objects.bulk_create([TokenLabel(token=token) for token in unlabelled], ignore_conflicts=True)
    return list(TokenLabel.objects.filter(token__user=user).select_related("token").order_by("-token__created", "-pk"))


def token_revoke(*, user: User, token_id: int) -> None:
    """Delete one of the user's own tokens; someone else's is "not found", as a missing one is."""
    deleted, _ = AuthToken.objects.filter(user=user, label__pk=token_id).delete()
    if not deleted:
        raise NotFoundError("No such token.", code="token_not_found")


def token_is_expired(token: AuthToken) -> bool:
    return token.expiry is not None and token.expiry <= timezone.now()
