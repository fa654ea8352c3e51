"""Pages get the same answers as the API when a service refuses: not found, forbidden, or a clear 400."""

from django.http import HttpResponseBadRequest
from django.views import defaults

from core.errors import ApplicationError, ForbiddenError, NotFoundError


class ApplicationErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, ApplicationError) or request.path.startswith("/api/"):
            return None  # the API's exception handler answers in its own shape
        if isinstance(exception, NotFoundError):
            return defaults.page_not_found(request, exception)
        if isinstance(exception, ForbiddenError):
            return defaults.permission_denied(request, exception)
        return HttpResponseBadRequest(exception.message)
