"""What every page shares: the role check, and the health check."""
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import JsonResponse
from django.views import defaults

from config.celery import app as celery_app



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
