"""The OpenAPI schema declares every status an operation can answer, each with the one error shape."""

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The one error shape (core/api.py): every 4xx the API answers."""

    message = serializers.CharField()
    code = serializers.CharField()
    extra = serializers.DictField()


STATUS_DESCRIPTIONS = {
    400: "Invalid input: the message says which field and why",
    401: "No valid token (or session) was given",
    403: "The caller's role, or its relation to the object, does not allow this",
    404: "No such object, or one the caller may not see",
    409: "The object's state does not allow this now (e.g. already judged, closed, signed off)",
    412: "The request's protocol version (Tus-Resumable) is not the one spoken here",
    413: "The request body or upload is larger than the limit",
    415: "The request body's content type is not one this operation reads",
    429: "Too many requests: wait as long as Retry-After says",
}


class SignoffAutoSchema(AutoSchema):
    """Adds the error responses an operation can give: 400 and 409 where it changes something (services raise
    ApplicationError and ConflictError on nearly every write), 400 where it reads query parameters, 401/403 where
    it needs a token, 404 where its path names an object or it is paged (`?page=` past the last), 415 where it reads a body, 429 where it is throttled;
    and the statuses its view lists in `error_statuses` (a read that can conflict, 412/413 for uploads)."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None or not path.startswith("/api/v1/"):
            return operation
        parameters = operation.get("parameters", [])
        authenticated = bool(operation.get("security")) and {} not in operation["security"]
        statuses = set(getattr(self.view, "error_statuses", ()))
        if method.upper() in ("POST", "PUT", "PATCH", "DELETE"):
            statuses |= {400, 409}
        if any(p["in"] == "query" for p in parameters):
            statuses.add(400)
        if "requestBody" in operation:
            statuses.add(415)
        if authenticated:
            statuses |= {401, 403}
        if any(p["in"] == "path" for p in parameters) or any(p["name"] == "page" for p in parameters):
            statuses.add(404)  # no such object; or, for a paged list, a page past the last
        if self.view.get_throttles():
            statuses.add(429)
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        for status in sorted(statuses):
            operation["responses"].setdefault(
                str(status),
                {"content": {"application/json": {"schema": error}}, "description": STATUS_DESCRIPTIONS[status]},
            )
        return operation
