"""What every page shows admins: background processes whose heartbeat has gone stale."""

from django.utils.functional import SimpleLazyObject

from core.heartbeat import heartbeat_health
from core.models import User


def _stale_components() -> list:
    return [health for health in heartbeat_health().values() if not health.alive]


def background_alert(request) -> dict:
    """Stale heartbeats, for admins only (they are the ones who can restart a worker). Lazy: its one query runs
    only when base.html renders the banner."""
    user = getattr(request, "user", None)
    if not (user and user.is_authenticated and user.has_role(User.Role.ADMIN)):
        return {}
    return {"background_alert": SimpleLazyObject(_stale_components)}
