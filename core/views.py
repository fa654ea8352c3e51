"""What every page shares: the role check, the health check, login lockouts, and each person's API tokens."""
import math
from datetime import timedelta
from functools import wraps

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views import defaults
from django.views.decorators.http import require_POST

from config.celery import app as celery_app
from core.tokens import token_create, token_is_expired, token_revoke, tokens_of_user


def role_required(*roles: str):
    """Page decorator: log in first, then the role (admins pass every check)."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.has_role(*roles):
                raise PermissionDenied(f"This page needs the role {' or '.join(roles)}.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def healthz(request):
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy, and says why
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["broker"] = f"error: {exc.__class__.__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503)




def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception):
    """API clients get the one error shape even for a URL that matches nothing."""
    if _is_api(request):
        return JsonResponse({"message": f"No endpoint at {request.path}.", "code": "not_found", "extra": {}}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse({"message": "Internal error; it has been logged.", "code": "internal_error", "extra": {}}, status=500)
    return defaults.server_error(request)


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
    return render(request, "registration/login.html", {"form": form, "locked_out": True, "lockout_minutes": minutes},
                  status=429)


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="What it is for, e.g. the CI job that uses it.")
    expires_in_days = forms.TypedChoiceField(
        label="Expires in", coerce=int,
        choices=[(7, "7 days"), (30, "30 days"), (90, "90 days"), (365, "1 year")], initial=90)


@login_required
def account_tokens(request):
    """Each person's API tokens: list, create (the key shown once, in this answer only), revoke."""
    created = key = None
    form = TokenCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        created, key = token_create(user=request.user, name=form.cleaned_data["name"],
                                    expires_in=timedelta(days=form.cleaned_data["expires_in_days"]))
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
