"""Input no column can hold, or no parser expected, answers 4xx with the error shape, never a 500."""

import io
import struct
import time
import zipfile
import zlib
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter
from PIL import Image
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


@pytest.fixture
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def _post_csv(client, path: str, content: bytes, **data):
    file = SimpleUploadedFile("items.csv", content, content_type="text/csv")
    return client.post(path, {"file": file, **data}, format="multipart")


def _second_column(header: str, columns: tuple[str, str]) -> int:
    names = header.split(",")
    return names.index(columns[1], names.index(columns[0]) + 1) + 1


@pytest.mark.parametrize(
    "header,row,columns",
    [
        ("id,input,input.k", "a,x,y", ("input", "input.k")),
        ("id,input.k,input", "a,y,x", ("input.k", "input")),
        ("id,input:json,input.k", 'a,"[1]",y', ("input:json", "input.k")),
        ("id,input,reference,reference:json", "a,x,r,1", ("reference", "reference:json")),
        ("id,input,input", "a,x,y", ("input", "input")),
        ("id,id,input", "a,b,x", ("id", "id")),
        ("id,input.k,input.k:json", 'a,x,"1"', ("input.k", "input.k:json")),
    ],
)
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
    response = _post_csv(
        ds, "/api/v1/models/m/versions/1/predictions/", b"id,output,output.x\nq0,a,b\n", dataset="qa", dataset_version=1
    )
    assert response.status_code == 400, response.content
    error = response.json()["extra"]["errors"][0]
    assert error["line"] == 1 and "'output'" in error["message"] and "'output.x'" in error["message"]


def test_nested_keys_stay_one_flat_key(api, media_in_tmp):
    from datasets.models import Item

    assert api["ds"].post("/api/v1/datasets/", {"name": "qa"}, format="json").status_code == 201
    response = _post_csv(api["ds"], "/api/v1/datasets/qa/versions/", b"id,input.a.b,input.a\nq0,x,y\n")
    assert response.status_code == 201, response.json()
    assert Item.objects.get().input == {"a.b": "x", "a": "y"}


# --- ZIPs: damaged members, and work bounded before any decompression ---------------------------------------


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def _zip(files: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytearray:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return bytearray(out.getvalue())


def _central(content: bytearray, name: str) -> int:
    """Offset of the central directory entry of `name`."""
    return next(i for i in _all(content, b"PK\x01\x02") if content[i + 46 : i + 46 + len(name)] == name.encode())


def _all(content: bytearray, needle: bytes):
    start = content.find(needle)
    while start != -1:
        yield start
        start = content.find(needle, start + 1)


def _damaged(kind: str) -> bytearray:
    png = _png()
    if kind == "stored member with a changed byte":
        content = _zip({"a.png": png, "b.png": png}, zipfile.ZIP_STORED)
        content[content.index(png) + 100] ^= 0xFF
        return content
    content = _zip({"a.png": png, "b.png": png})
    entry = _central(content, "a.png")
    if kind == "false CRC":
        struct.pack_into("<I", content, entry + 16, 12345)
    elif kind == "declared size too small":
        struct.pack_into("<I", content, entry + 24, len(png) - 10)
    elif kind == "declared size too large":
        struct.pack_into("<I", content, entry + 24, len(png) + 10)
    elif kind == "corrupt deflate data":
        content[30 + len("a.png") + 2 : 30 + len("a.png") + 12] = b"\xff" * 10
    elif kind == "encrypted":
        content[entry + 8] |= 1
        content[6] |= 1
    elif kind == "unknown compression":
        struct.pack_into("<H", content, entry + 10, 99)
        struct.pack_into("<H", content, 8, 99)
    return content


DAMAGE = [
    "stored member with a changed byte",
    "false CRC",
    "declared size too small",
    "declared size too large",
    "corrupt deflate data",
    "encrypted",
    "unknown compression",
]


@pytest.fixture
def pics(api, media_in_tmp):
    assert api["ds"].post("/api/v1/datasets/", {"name": "pics"}, format="json").status_code == 201


def _post_zip(client, content: bytes | bytearray, name: str = "pics.zip"):
    return client.post(
        "/api/v1/datasets/pics/versions/", {"file": SimpleUploadedFile(name, bytes(content))}, format="multipart"
    )


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_zip_with_a_damaged_member_is_a_400_naming_the_member(api, pics, kind):
    response = _post_zip(api["ds"], _damaged(kind))
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_upload" and body["extra"]["file"] == "pics.zip", body
    error = body["extra"]["errors"][0]
    assert "'a.png'" in error["message"] and error["field"] == "input.image", error


def test_a_damaged_manifest_is_a_400_naming_it(api, pics):
    manifest = b"".join(b'{"id": "a%d", "image": "a.png"}\n' % i for i in range(200))
    content = _zip({"manifest.jsonl": manifest, "a.png": _png()})
    struct.pack_into("<I", content, _central(content, "manifest.jsonl") + 16, 12345)
    response = _post_zip(api["ds"], content)
    assert response.status_code == 400, response.content
    assert "'manifest.jsonl' cannot be unpacked" in response.json()["message"]


def _zeros_archive(members: int, size: int) -> bytes:
    """A ZIP of `members` members of `size` zero bytes each, written by hand: compressing 3 GB once per test
    run would cost more than the refusal it tests."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = compressor.compress(b"\0" * size) + compressor.flush()
    crc = zlib.crc32(b"\0" * size)
    out, central = io.BytesIO(), io.BytesIO()
    for i in range(members):
        name = f"{i}.png".encode()
        offset = out.tell()
        out.write(struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(packed), size, len(name), 0))
        out.write(name + packed)
        central.write(
            struct.pack(
                "<4s6H3I5H2I",
                b"PK\x01\x02",
                20,
                20,
                0,
                8,
                0,
                0,
                crc,
                len(packed),
                size,
                len(name),
                0,
                0,
                0,
                0,
                0o100644 << 16,
                offset,
            )
        )
        central.write(name)
    start = out.tell()
    out.write(central.getvalue())
    out.write(struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, members, members, len(central.getvalue()), start, 0))
    return out.getvalue()


def test_3000_members_of_a_mebibyte_of_zeros_are_refused_without_unpacking_any(api, pics):
    content = _zeros_archive(3000, 1024 * 1024)
    assert len(content) < 5 * 1024 * 1024  # read in the request, as the report had it
    with mock.patch.object(zipfile.ZipFile, "open", side_effect=AssertionError("a member was opened")):
        started = time.monotonic()
        response = _post_zip(api["ds"], content)
        elapsed = time.monotonic() - started
    assert response.status_code == 400, response.content
    assert "more than the limit of 2147483648" in response.json()["message"]
    assert elapsed < 3, elapsed


def test_many_small_members_that_pass_alone_are_refused_as_a_bomb_in_all(api, pics):
    content = _zeros_archive(500, 1024 * 1024)  # 500 MiB in all: under the byte limit, but ~1000x its packing
    with mock.patch.object(zipfile.ZipFile, "open", side_effect=AssertionError("a member was opened")):
        response = _post_zip(api["ds"], content)
    assert response.status_code == 400 and "times larger than it is packed in all" in response.json()["message"]


def test_zip_limits_come_from_settings(api, pics, settings):
    settings.SIGNOFF_ZIP_MAX_MEMBERS = 2
    response = _post_zip(api["ds"], _zip({"a.png": _png(), "b.png": _png(), "c.png": _png()}))
    assert response.status_code == 400 and "holds 3 files, more than the limit of 2" in response.json()["message"]
    settings.SIGNOFF_ZIP_MAX_MEMBERS, settings.SIGNOFF_ZIP_MAX_BYTES = 10, 2 * len(_png())
    response = _post_zip(api["ds"], _zip({"a.png": _png(), "b.png": _png(), "c.png": _png()}))
    assert response.status_code == 400 and "in all, more than the limit" in response.json()["message"]


def test_limits_hold_for_the_pure_reader():
    from datasets.archives import ArchiveLimits, ImageArchive
    from datasets.readers import FileRejected

    content = bytes(_zip({"a.png": _png(), "b.png": _png()}))
    with pytest.raises(FileRejected, match="holds 2 files"):
        ImageArchive(io.BytesIO(content), "x.zip", ArchiveLimits(max_members=1))
    assert set(ImageArchive(io.BytesIO(content), "x.zip").members) == {"a.png", "b.png"}


# --- The schema declares the error statuses ------------------------------------------------------------------


def test_the_schema_declares_every_error_status_with_the_error_shape():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    ops = {
        (method.upper(), path): op
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method, op in item.items()
    }
    for (method, path), op in ops.items():
        codes = set(op["responses"])
        if op.get("security") and {} not in op["security"]:
            assert {"401", "403"} <= codes, (method, path, codes)
        if "{" in path:
            assert "404" in codes, (method, path, codes)
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            assert {"400", "409"} <= codes, (method, path, codes)
        if "requestBody" in op:
            assert "415" in codes, (method, path, codes)
        assert op["responses"].get("404", op["responses"].get("401", {})).get(
            "content", {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        )["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert {"412", "413", "415"} <= set(ops[("PATCH", "/api/v1/uploads/{id}/")]["responses"])
    assert "413" in ops[("POST", "/api/v1/datasets/{name}/imports/label-studio/")]["responses"]
    assert "409" in ops[("GET", "/api/v1/campaigns/{id}/next/")]["responses"]
