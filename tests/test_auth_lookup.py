"""Token authentication on the hot path: one read by the token's digest, no write, and only the exact key admits."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework import exceptions

from core.auth import TokenAuthentication


@pytest.fixture
def reviewer_key(users) -> str:
    return AuthToken.objects.create(user=users["reviewer"], expiry=None)[1]


def test_a_token_is_found_by_its_digest_in_one_read_that_writes_nothing(users, reviewer_key):
    with CaptureQueriesContext(connection) as queries:
        user, _ = TokenAuthentication().authenticate_credentials(reviewer_key.encode())
    assert user == users["reviewer"]
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["SELECT"]
    assert hash_token(reviewer_key) in queries.captured_queries[0]["sql"]  # looked up by the digest, the primary key


def test_a_key_with_the_right_prefix_and_a_wrong_secret_is_refused(reviewer_key):
    last = "0" if reviewer_key[-1] != "0" else "1"
    with pytest.raises(exceptions.AuthenticationFailed):
        TokenAuthentication().authenticate_credentials((reviewer_key[:-1] + last).encode())


def test_a_digest_stored_under_another_key_prefix_does_not_admit(users, reviewer_key):
    """The key's prefix must match the row's too: a row whose token_key was changed no longer answers to the key."""
    AuthToken.objects.filter(user=users["reviewer"]).update(token_key="so_zzzzzzzzzzzz")
    with pytest.raises(exceptions.AuthenticationFailed):
        TokenAuthentication().authenticate_credentials(reviewer_key.encode())


def test_each_of_a_users_many_tokens_admits_as_that_user(users):
    keys = [AuthToken.objects.create(user=users["reviewer"], expiry=None)[1] for _ in range(5)]
    for key in keys:
        user, token = TokenAuthentication().authenticate_credentials(key.encode())
        assert user == users["reviewer"] and key.startswith(token.token_key)
