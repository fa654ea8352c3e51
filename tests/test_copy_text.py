"""COPY's text format, written by one function (datasets.copyload.copy_text): what it escapes, that its JSON shortcut
is the full escaping whenever the value is JSON, that PostgreSQL's COPY reads back exactly what was written, and
that the COPY ingest of items and predictions stores what the staging path stores, on the same files."""

import json
import random
from typing import Any

import orjson
import pytest
from django.core.files.base import ContentFile
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from core.models import User
from datasets.copyload import COPY_NULL, NotClean, copy_rows, copy_text, json_bytes
from datasets.models import Item
from datasets.services import datasets as dataset_services
from datasets.services.datasets import dataset_create, dataset_version_ingest
from models_app.models import Prediction
from models_app.services import predictions
from models_app.services.registry import model_version_create, registered_model_create
from tests.factories import UserFactory, jsonl

# What a column may hold: each character COPY treats specially, text that looks like its NULL or its end marker,
# characters outside the Basic Multilingual Plane, and line separators JSON leaves as they are.
AWKWARD = [
    "",
    "plain",
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "crlf\r\n",
    "back\\slash",
    "\\",
    "\\\\",
    "\\N",
    "N",
    "\\.",
    "\\t not a tab",
    "trailing backslash\\",
    "non-BMP 𝄞 😀 🇫🇷",
    "line\u2028separator\u2029",
    "control \x01\x1f\x7f",
    "\t\n\r\\",
    "é ü ß «»",
]


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("plain", b"plain"),
        ("tab\there", b"tab\\there"),
        ("new\nline", b"new\\nline"),
        ("carriage\rreturn", b"carriage\\rreturn"),
        ("back\\slash", b"back\\\\slash"),
        ("\\N", b"\\\\N"),  # the text \N, not NULL
        ("\\t", b"\\\\t"),  # a backslash and a t, not a tab
        ("𝄞", "𝄞".encode()),  # four UTF-8 bytes, untouched
        ("\t\n\r\\", b"\\t\\n\\r\\\\"),
    ],
)
def test_copy_text_escapes_what_copy_reads_specially_and_nothing_else(value, escaped):
    assert copy_text(value.encode()) == escaped


def test_copy_text_refuses_nul_which_no_postgresql_text_holds():
    with pytest.raises(NotClean):
        copy_text(b"nul \x00 inside")


def test_json_with_a_nul_escape_is_refused_for_jsonb():
    with pytest.raises(NotClean):
        json_bytes({"text": "nul \u0000 inside"})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_the_json_shortcut_is_the_full_escaping_of_any_json_text(value):
    for text in (orjson.dumps(value), json.dumps(value, ensure_ascii=False).encode()):
        if b"\x00" not in text:
            assert copy_text(text, is_json=True) == copy_text(text)


@pytest.fixture
def postgres(db):
    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")


def test_every_awkward_value_comes_back_from_postgresql_copy_as_it_was_written(postgres):
    rng = random.Random(13)
    alphabet = "ab\t\n\r\\N.é𝄞😀\u2028\x01 "
    values = AWKWARD + ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 30))) for _ in range(500)]
    documents = [{"text": value, "list": [value, None, 1.5]} for value in values]
    rows: list[tuple[int, str | None, dict[str, Any] | None]] = [
        (n, value, document) for n, (value, document) in enumerate(zip(values, documents, strict=True))
    ]
    rows.append((len(rows), None, None))  # NULL in both columns

    def to_text(batch: list) -> bytes:
        return b"".join(
            b"%d\t%b\t%b\n"
            % (
                n,
                COPY_NULL if value is None else copy_text(value.encode()),
                COPY_NULL if document is None else json_bytes(document),
            )
            for n, value, document in batch
        )

    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE copy_round_trip (n integer, t text, j jsonb)")
        assert copy_rows("copy_round_trip", ("n", "t", "j"), iter(rows), to_text, lambda done: None) == len(rows)
        cursor.execute("SELECT n, t, j::text FROM copy_round_trip ORDER BY n")
        back = [(n, t, None if j is None else json.loads(j)) for n, t, j in cursor.fetchall()]
    assert back == rows


# --- the COPY ingest against the staging path, on the same files ---------------------------------------------

ITEMS: list[dict[str, Any]] = [
    {"id": f"item-{n}", "input": {"text": value, "n": n}, "reference": value or None, "tags": ["t", value or "x"]}
    for n, value in enumerate(AWKWARD)
] + [
    {"id": 9001, "input": "an integer id, no tags, no reference"},
    {"id": "plain-string-input", "input": "tab\there \\N 𝄞", "reference": {"deep": ["\\", None]}},
]
PREDICTIONS: list[dict[str, Any]] = [
    {"id": str(item["id"]), "output": {"echo": item["input"], "n": n}, "score": [None, 3, 0.25, -1e-300][n % 4]}
    for n, item in enumerate(ITEMS)
]
PREDICTIONS[-1]["output"] = "a string output \t\\ 😀"
CSV_ITEMS = "id,input,reference\n" + "".join(
    f'csv-{n},"{value}",ref {n}\n' for n, value in enumerate(["plain", "back\\slash", "𝄞", "\\N"])
)


@pytest.fixture(params=["copy", "staging"])
def ingest_path(request, db, monkeypatch):
    """The PostgreSQL COPY path, or the staging path every database has (forced on PostgreSQL by handing over)."""
    if request.param == "copy":
        if connection.vendor != "postgresql":
            pytest.skip("COPY is PostgreSQL's; SQLite always stages")
        taken = []
        for module, name in ((dataset_services, "dataset_version_copy"), (predictions, "prediction_set_copy")):
            real = getattr(module, name)

            def spy(real=real, **kwargs):
                taken.append(real(**kwargs))
                return taken[-1]

            monkeypatch.setattr(module, name, spy)
        return taken
    for module, name in ((dataset_services, "dataset_version_copy"), (predictions, "prediction_set_copy")):
        monkeypatch.setattr(module, name, lambda **kwargs: None)
    return None


def _stored_items(version) -> list[tuple]:
    return list(
        Item.objects.filter(version=version).order_by("pk").values_list("external_id", "input", "reference", "tags")
    )


@pytest.mark.parametrize(
    ("filename", "content"), [("items.jsonl", jsonl(ITEMS)), ("items.csv", CSV_ITEMS.encode())], ids=["jsonl", "csv"]
)
def test_items_land_the_same_by_copy_and_by_staging(ingest_path, filename, content):
    user = UserFactory.create(username="copy-items", role=User.Role.DATA_SCIENTIST)
    version, created = dataset_version_ingest(
        dataset=dataset_create(name="awkward", created_by=user),
        file=ContentFile(content, name=filename),
        source_name=filename,
        created_by=user,
    )
    assert created
    if ingest_path is not None:
        assert ingest_path == [(version, True)]  # COPYed, not handed over
    if filename.endswith(".jsonl"):
        expected = [(str(r["id"]), r["input"], r.get("reference"), r.get("tags", [])) for r in ITEMS]
    else:
        expected = [(f"csv-{n}", value, f"ref {n}", []) for n, value in enumerate(["plain", "back\\slash", "𝄞", "\\N"])]
    assert _stored_items(version) == expected


def test_predictions_land_the_same_by_copy_and_by_staging(ingest_path):
    user = UserFactory.create(username="copy-preds", role=User.Role.DATA_SCIENTIST)
    version, _ = dataset_version_ingest(
        dataset=dataset_create(name="awkward-preds", created_by=user),
        file=ContentFile(jsonl(ITEMS), name="items.jsonl"),
        source_name="items.jsonl",
        created_by=user,
    )
    model = registered_model_create(name="awkward-model", created_by=user)
    shuffled = PREDICTIONS[:]
    random.Random(3).shuffle(shuffled)
    prediction_set, created = predictions.prediction_set_ingest(
        model_version=model_version_create(model=model, version="1", created_by=user),
        dataset_version=version,
        file=ContentFile(jsonl(shuffled), name="preds.jsonl"),
        source_name="preds.jsonl",
        created_by=user,
    )
    assert created
    if ingest_path is not None:
        assert ingest_path[-1] == prediction_set  # COPYed, not handed over
    stored = {
        p.item.external_id: (p.output, p.score)
        for p in Prediction.objects.filter(prediction_set=prediction_set).select_related("item")
    }
    assert stored == {p["id"]: (p["output"], None if p["score"] is None else float(p["score"])) for p in PREDICTIONS}
