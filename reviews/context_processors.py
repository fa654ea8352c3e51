"""What every page shows approvers and admins: a broken verdict chain nobody has acknowledged yet."""

from django.utils.functional import SimpleLazyObject

from core.models import User
from reviews.services.chain import chain_blocking_check


def chain_alert(request) -> dict:
    """The newest chain check, if it is broken and unacknowledged. Lazy: its one query runs only on pages that
    render the banner, and never for reviewers and data scientists, who cannot act on it."""
    user = getattr(request, "user", None)
    if not (user and user.is_authenticated and user.has_role(User.Role.APPROVER)):
        return {}
    return {"chain_alert": SimpleLazyObject(chain_blocking_check)}
