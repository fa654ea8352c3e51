"""A person's own account: why a login is refused (locked out), and their API tokens."""

import math
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.tokens import token_create, token_is_expired, token_revoke, tokens_of_user


def client_ip(request) -> str:
    """The caller's address for login lockouts: REMOTE_ADDR, or behind SIGNOFF_PROXY_COUNT proxies the address
    the outermost of them saw (the rightmost entries of X-Forwarded-For are the proxies' own; the left may be forged)."""
    proxies = settings.SIGNOFF_PROXY_COUNT
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if proxies and forwarded:
        return forwarded[-min(proxies, len(forwarded))]
    return request.META.get("REMOTE_ADDR", "")


def login_locked_out(request, original_response=None, credentials=None):
    """django-axes' answer once an account or an address has too many failed logins: the login page, 429."""
    cool_off = settings.AXES_COOLOFF_TIME
    minutes = max(1, math.ceil(cool_off / timedelta(minutes=1))) if cool_off else None
    form = AuthenticationForm(request)  # unbound: validating it would try the password once more
    return render(
        request, "registration/login.html", {"form": form, "locked_out": True, "lockout_minutes": minutes}, status=429
    )


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="What it is for, e.g. the CI job that uses it.")
    expires_in_days = forms.TypedChoiceField(
        label="Expires in",
        coerce=int,
        choices=[(7, "7 days"), (30, "30 days"), (90, "90 days"), (365, "1 year")],
        initial=90,
    )


@login_required
def account_tokens(request):
    """Each person's API tokens: list, create (the key shown once, in this answer only), revoke."""
    created = key = None
    form = TokenCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        created, key = token_create(
            user=request.user,
            name=form.cleaned_data["name"],
            expires_in=timedelta(days=form.cleaned_data["expires_in_days"]),
        )
        form = TokenCreateForm()
    tokens = [(label, token_is_expired(label.token)) for label in tokens_of_user(user=request.user)]
    response = render(request, "core/tokens.html", {"form": form, "tokens": tokens, "created": created, "key": key})
    if key:
        response["Cache-Control"] = "no-store"  # the key must not be kept by the browser's cache
    return response


@require_POST
@login_required
def account_token_revoke(request, pk: int):
    token_revoke(user=request.user, token_id=pk)
    return redirect("account-tokens")
