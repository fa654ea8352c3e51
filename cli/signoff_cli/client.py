"""A small JSON-over-HTTP client for the Signoff API, on urllib3 alone."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode, urljoin

import urllib3


class ApiError(Exception):
    """The server refused: every API error has the shape {"message", "code", "extra"}."""

    def __init__(self, status: int | None, message: str, code: str = "error", extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra or {}


class TransportError(Exception):
    """No usable answer: the server is unreachable, timed out, or is not a Signoff API."""


def api_path(*parts: Any) -> str:
    """/api/v1/a/b/ with each part quoted, so a model version like "1.0+rc/2" cannot change the route."""
    return "/api/v1/" + "".join(quote(str(part), safe="") + "/" for part in parts)


class Client:
    def __init__(self, base_url: str, token: str, timeout: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        # No automatic retries or redirects: whether an error is worth retrying is the command's call
        # (`gate wait` retries, a push must not silently upload twice).
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=10.0, read=timeout))

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """Call an API path (/api/v1/...) under the base URL, keeping any prefix it has (https://host/signoff)."""
        return self._send(method, self.base_url + path, **kwargs)

    def follow(self, url: str) -> tuple[int, Any]:
        """GET a URL the server handed back (a status_url): usually an absolute path, already prefixed."""
        return self._send("GET", urljoin(self.base_url + "/", url))

    def list_all(self, path: str, page_size: int = 500, **filters: Any) -> list[Any]:
        """Every row of a list endpoint: its pages are `{count, next, previous, results}`; `next` is followed
        (by default the largest page the server allows, so few requests) until it is null."""
        query = urlencode({**{k: v for k, v in filters.items() if v not in (None, "")}, "page_size": page_size})
        rows: list[Any] = []
        _, page = self.request("GET", f"{path}?{query}")
        while True:
            rows.extend(page["results"])
            if not page.get("next"):
                return rows
            _, page = self.follow(page["next"])

    def _send(
        self, method: str, url: str, *, body: Any = None, fields: dict | None = None, timeout: float | None = None
    ) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {}
        if fields is not None:
            kwargs["fields"] = fields  # urllib3 encodes multipart/form-data; (name, bytes, type) tuples are files
        elif body is not None:
            kwargs["json"] = body
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            response = self.http.request(method, url, headers=self.headers, **kwargs)
        except urllib3.exceptions.HTTPError as exc:
            raise TransportError(f"cannot reach {url}: {exc}") from None
        try:
            data = json.loads(response.data) if response.data else None
        except ValueError:
            data = None
        if response.status >= 300:
            if isinstance(data, dict) and "message" in data:
                raise ApiError(
                    response.status, str(data["message"]), str(data.get("code") or "error"), data.get("extra")
                )
            # Not the API's error shape: a proxy, a redirect, or SIGNOFF_URL pointing somewhere else.
            raise ApiError(response.status, f"HTTP {response.status} from {url}", "http_error")
        if response.data and data is None:
            raise TransportError(
                f"{url} answered {response.status} with something that is not JSON; is SIGNOFF_URL right?"
            )
        return response.status, data


def raw_request(
    client: Client,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None = None,
    timeout: float | None = None,
) -> urllib3.BaseHTTPResponse:
    """A request whose answer is in its headers (tus HEAD/PATCH): errors raised as for JSON calls."""
    url = urljoin(client.base_url + "/", url)
    try:
        options: dict[str, Any] = {"timeout": timeout} if timeout else {}  # else urllib3's default, not "none"
        response = client.http.request(method, url, headers={**client.headers, **headers}, body=body, **options)
    except urllib3.exceptions.HTTPError as exc:
        raise TransportError(f"cannot reach {url}: {exc}") from None
    if response.status >= 300:
        try:
            data = json.loads(response.data) if response.data else None
        except ValueError:
            data = None
        if isinstance(data, dict) and "message" in data:
            raise ApiError(response.status, str(data["message"]), str(data.get("code") or "error"), data.get("extra"))
        raise ApiError(response.status, f"HTTP {response.status} from {url}", "http_error")
    return response
