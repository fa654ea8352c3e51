"""What every page shares: the role check, and the health checks."""

from functools import wraps

from celery import current_app as celery_app
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import JsonResponse
from django.views import defaults

from core.heartbeat import heartbeat_health


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


def _database_check() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"


def healthz(request):
    """The whole application: database, broker, and a worker and beat whose heartbeats are fresh. 503 names what
    is not (and how long ago it was last seen): a dead worker stalls uploads, webhooks and gate checks."""
    checks = {"database": _database_check()}
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"error: {exc.__class__.__name__}"
    heartbeats = {}
    if checks["database"] == "ok":
        for name, health in heartbeat_health().items():
            checks[name] = health.describe()
            heartbeats[name] = {
                "seen_at": health.seen_at,
                "age_seconds": health.age_seconds and round(health.age_seconds, 1),
                "pid": health.pid,
            }
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks, "heartbeats": heartbeats}, status=200 if healthy else 503
    )


def livez(request):
    """This web process answers and reaches the database: for a load balancer or a container's health check,
    which must not take web servers out of rotation because a worker died (that is /healthz's news)."""
    database = _database_check()
    return JsonResponse({"status": database, "database": database}, status=200 if database == "ok" else 503)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception):
    """API clients get the one error shape even for a URL that matches nothing."""
    if _is_api(request):
        return JsonResponse(
            {"message": f"No endpoint at {request.path}.", "code": "not_found", "extra": {}}, status=404
        )
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse(
            {"message": "Internal error; it has been logged.", "code": "internal_error", "extra": {}}, status=500
        )
    return defaults.server_error(request)
