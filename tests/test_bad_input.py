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


# --- CSV headers where two columns set one field -----------------------------------------------------------

from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402


@pytest.fixture
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def _post_csv(client, path: str, content: bytes, **data):
    file = SimpleUploadedFile("items.csv", content, content_type="text/csv")
    return client.post(path, {"file": file, **data}, format="multipart")


def _second_column(header: str, columns: tuple[str, str]) -> int:
    names = header.split(",")
    return names.index(columns[1], names.index(columns[0]) + 1) + 1


@pytest.mark.parametrize("header,row,columns", [
    ("id,input,input.k", "a,x,y", ("input", "input.k")),
    ("id,input.k,input", "a,y,x", ("input.k", "input")),
    ("id,input:json,input.k", 'a,"[1]",y', ("input:json", "input.k")),
    ("id,input,reference,reference:json", "a,x,r,1", ("reference", "reference:json")),
    ("id,input,input", "a,x,y", ("input", "input")),
    ("id,id,input", "a,b,x", ("id", "id")),
    ("id,input.k,input.k:json", 'a,x,"1"', ("input.k", "input.k:json")),
])
def test_a_csv_header_with_two_columns_for_one_field_is_refused_at_line_1(api, media_in_tmp, header, row, columns):
    assert api["ds"].post("/api/v1/datasets/", {"name": "qa"}, format="json").status_code == 201
    response = _post_csv(api["ds"], "/api/v1/datasets/qa/versions/", f"{header}\n{row}\n".encode())
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_upload" and body["extra"]["file"] == "items.csv", body
    error = body["extra"]["errors"][0]
    assert error["line"] == 1 and error["column"] == _second_column(header, columns), error
    assert all(repr(name) in error["message"] for name in columns), error


def test_a_csv_header_with_an_empty_key_is_refused(api, media_in_tmp):
    assert api["ds"].post("/api/v1/datasets/", {"name": "qa"}, format="json").status_code == 201
    response = _post_csv(api["ds"], "/api/v1/datasets/qa/versions/", b"id,input.\na,x\n")
    assert response.status_code == 400
    error = response.json()["extra"]["errors"][0]
    assert (error["line"], error["column"]) == (1, 2) and "empty key" in error["message"]


def test_a_csv_of_predictions_with_output_and_output_key_is_refused(api, media_in_tmp):
    ds = api["ds"]
    assert ds.post("/api/v1/datasets/", {"name": "qa"}, format="json").status_code == 201
    assert _post_csv(ds, "/api/v1/datasets/qa/versions/", b"id,input\nq0,x\n").status_code == 201
    assert ds.post("/api/v1/models/", {"name": "m"}, format="json").status_code == 201
    assert ds.post("/api/v1/models/m/versions/", {"version": "1"}, format="json").status_code == 201
    response = _post_csv(ds, "/api/v1/models/m/versions/1/predictions/", b"id,output,output.x\nq0,a,b\n",
                         dataset="qa", dataset_version=1)
    assert response.status_code == 400, response.content
    error = response.json()["extra"]["errors"][0]
    assert error["line"] == 1 and "'output'" in error["message"] and "'output.x'" in error["message"]


def test_nested_keys_stay_one_flat_key(api, media_in_tmp):
    from datasets.models import Item

    assert api["ds"].post("/api/v1/datasets/", {"name": "qa"}, format="json").status_code == 201
    response = _post_csv(api["ds"], "/api/v1/datasets/qa/versions/", b"id,input.a.b,input.a\nq0,x,y\n")
    assert response.status_code == 201, response.json()
    assert Item.objects.get().input == {"a.b": "x", "a": "y"}
