"""Role checks for API views; object rules live in the selectors that fetch the object."""

from rest_framework.permissions import BasePermission

from core.models import User


def role_required(*roles: str) -> type[BasePermission]:
    class HasRole(BasePermission):
        message = f"This needs the role {' or '.join(roles)}."

        def has_permission(self, request, view) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and user.has_role(*roles))

    HasRole.__name__ = "HasRole_" + "_".join(roles)
    return HasRole


IsDataScientist = role_required(User.Role.DATA_SCIENTIST)
IsReviewer = role_required(User.Role.REVIEWER)
IsApprover = role_required(User.Role.APPROVER)
CanSeeResults = role_required(User.Role.DATA_SCIENTIST, User.Role.APPROVER)
IsAdmin = role_required(User.Role.ADMIN)
