"""Input no column can hold, or no parser expected, answers 4xx with the error shape, never a 500."""
import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter
from rest_framework.test import APIClient

from core.converters import IdConverter

HUGE_IDS = [2**64, 2**63]
METHODS = ["get", "post", "put", "patch", "delete"]


def _routes(resolver: URLResolver, prefix: str = "", converters: dict | None = None):
    """Every (route template, converters) in the URL configuration, includes flattened."""
    for entry in resolver.url_patterns:
        pattern = entry.pattern
        merged = {**(converters or {}), **getattr(pattern, "converters", {})}
        route = prefix + str(pattern)
        if isinstance(entry, URLResolver):
            yield from _routes(entry, route, merged)
        elif isinstance(entry, URLPattern):
            yield route, merged


def _id_routes():
    routes = []
    for route, converters in _routes(get_resolver()):
        ids = [name for name, conv in converters.items() if isinstance(conv, (IdConverter, IntConverter))]
        if ids:
            routes.append((route, converters, ids))
    return routes


def _url(route: str, converters: dict, id_value: int) -> str:
    url = route
    for name, conv in converters.items():
        value = id_value if isinstance(conv, (IdConverter, IntConverter)) else "x"
        for kind in ("id", "int", "slug", "str", "path"):
            url = url.replace(f"<{kind}:{name}>", str(value))
    return "/" + url.lstrip("^").rstrip("$")


ID_ROUTES = _id_routes()


def test_id_routes_are_found():
    assert len(ID_ROUTES) >= 30, ID_ROUTES


@pytest.mark.parametrize("route,converters,ids", ID_ROUTES, ids=[r[0] for r in ID_ROUTES])
def test_a_huge_id_is_not_found_never_a_server_error(users, route, converters, ids):
    client = APIClient(raise_request_exception=False)
    client.force_login(users["admin"])
    for id_value in HUGE_IDS:
        url = _url(route, converters, id_value)
        for method in METHODS:
            response = getattr(client, method)(url)
            assert response.status_code in (404, 405), (method, url, response.status_code)
            if url.startswith("/api/") and response.status_code == 404:
                body = response.json()
                assert set(body) == {"message", "code", "extra"}, body


def test_a_zero_or_negative_id_is_not_a_route():
    converter = IdConverter()
    for text in ("0", "00", str(2**63)):
        with pytest.raises(ValueError):
            converter.to_python(text)
    assert converter.to_python(str(2**63 - 1)) == 2**63 - 1
