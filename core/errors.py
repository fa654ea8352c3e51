"""The one exception services raise for a rule a caller broke; views turn it into the error shape."""

from typing import Any


class ApplicationError(Exception):
    status_code = 400

    def __init__(
        self, message: str, *, code: str = "invalid", extra: dict[str, Any] | None = None, status: int | None = None
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.extra = extra or {}
        if status is not None:
            self.status_code = status


class NotFoundError(ApplicationError):
    status_code = 404

    def __init__(self, message: str = "Not found.", **kwargs: Any):
        kwargs.setdefault("code", "not_found")
        super().__init__(message, **kwargs)


class ForbiddenError(ApplicationError):
    status_code = 403

    def __init__(self, message: str = "You may not do this.", **kwargs: Any):
        kwargs.setdefault("code", "permission_denied")
        super().__init__(message, **kwargs)


class ConflictError(ApplicationError):
    status_code = 409

    def __init__(self, message: str, **kwargs: Any):
        kwargs.setdefault("code", "conflict")
        super().__init__(message, **kwargs)
