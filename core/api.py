"""One error shape for the whole API: {"message", "code", "extra"}."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            inner = _first_message(value)
            return inner if field == "non_field_errors" else f"{field}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response({"message": exc.message, "code": exc.code, "extra": exc.extra}, status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body = {"message": _first_message(exc.detail), "code": "invalid", "extra": {"fields": exc.detail}}
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        body = {
            "message": _first_message(response.data.get("detail", response.data))
            if isinstance(response.data, dict)
            else str(response.data),
            "code": codes if isinstance(codes, str) else "error",
            "extra": {},
        }
        if isinstance(exc, exceptions.Throttled):
            wait = exc.wait  # type: ignore[attr-defined]  # set by Throttled.__init__; drf-stubs leave it out
            if wait is not None:
                body["extra"] = {"retry_after": int(wait)}  # seconds, as in the Retry-After header
    response.data = body
    return response
