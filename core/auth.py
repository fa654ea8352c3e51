"""API token authentication: knox's tokens and hashing, read in one hand-written statement.

get-next and submit are the reviewers' hottest requests, and knox's own lookup took two ORM queries (the token with its
user, then all the user's tokens to delete expired ones), a large share of such a request (figures:
docs/bench-next-task.md, "Figures the code's comments point to"). Here a request reads its own token with its user in
one statement, by the digest (the table's primary key: one index probe and one row, however many tokens share the key
prefix); the key prefix must match too, and the stored digest is still compared in constant time. No request writes:
knox's AUTO_REFRESH is off here (were it turned on, knox writes at most once per MIN_REFRESH_INTERVAL per token).

An expired token is refused with a message that says so (401 `token_expired`); unlike knox, its row is kept for
EXPIRED_TOKENS_KEPT, so a job that runs once a week is told its token expired rather than that it is invalid, and its
owner sees it on the tokens page; beat then sweeps it (`tokens_delete_expired`)."""

from datetime import datetime, timedelta
from functools import cache
from hmac import compare_digest

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from rest_framework import exceptions

from core.rawsql import columns, fetch_models

EXPIRED_TOKENS_KEPT = timedelta(days=30)


@cache  # written once per process: the models are fixed once the app is loaded
def _token_sql() -> str:
    user, token = get_user_model()._meta, get_token_model()._meta
    return (
        f"SELECT {columns(get_user_model(), 'u')}, t.digest, t.created, t.expiry "
        f"FROM {token.db_table} t JOIN {user.db_table} u ON u.{user.pk.column} = t.user_id "
        "WHERE t.digest = %s AND t.token_key = %s"
    )


def _db_datetime(value: datetime | str | None) -> datetime | None:
    """An extra column of a raw query is not converted by a model field: SQLite gives naive UTC (or text)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, connection.timezone)
    return value


class TokenAuthentication(KnoxTokenAuthentication):
    def authenticate_credentials(self, token: bytes):
        try:
            text = token.decode("utf-8")
            digest = hash_token(text)
        except (TypeError, ValueError):
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        key = text[: CONSTANTS.TOKEN_KEY_LENGTH]
        for user in fetch_models(
            get_user_model(), _token_sql(), [digest, key], extra=("token_digest", "token_created", "token_expiry")
        ):
            if not compare_digest(digest, user.token_digest):
                continue
            auth_token = get_token_model()(
                digest=user.token_digest,
                token_key=key,
                user=user,
                created=_db_datetime(user.token_created),
                expiry=_db_datetime(user.token_expiry),
            )
            auth_token._state.adding = False
            if auth_token.expiry is not None and auth_token.expiry < timezone.now():
                raise exceptions.AuthenticationFailed(
                    f"This token expired at {auth_token.expiry:%Y-%m-%d %H:%M} UTC; create a new one "
                    "(the API tokens page, or manage.py createtoken).",
                    code="token_expired",
                )
            if knox_settings.AUTO_REFRESH and auth_token.expiry:
                self.renew_token(auth_token)
            return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed("Invalid token.")


def tokens_delete_expired() -> int:
    """Beat: remove tokens that expired more than EXPIRED_TOKENS_KEPT ago (their labels go with them)."""
    expired = get_token_model().objects.filter(expiry__lt=timezone.now() - EXPIRED_TOKENS_KEPT)
    return expired.delete()[1].get(get_token_model()._meta.label, 0)


class TokenScheme(KnoxTokenScheme):
    """The OpenAPI security scheme: knox's, for this subclass (drf-spectacular matches exact classes)."""

    target_class = "core.auth.TokenAuthentication"
