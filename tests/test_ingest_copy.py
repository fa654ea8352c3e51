"""Predictions COPYed straight into their table (PostgreSQL): each lands on its own item, the fast row check never
takes what the validator refuses, a wrong row sends the upload the exact way with every error named, and nothing
half-written stays."""

import random
from typing import Any
from unittest import mock

import orjson
import pytest
from django.core.files.base import ContentFile
from django.db import connection

from core.errors import ApplicationError
from core.models import User
from datasets import item_index
from datasets.copyload import NotClean
from datasets.item_index import ItemIndex
from datasets.models import Item
from datasets.parsers import ErrorCollector, validate_prediction
from datasets.readers import ByteCounter
from datasets.services.datasets import dataset_create, dataset_version_ingest
from models_app.models import Prediction, PredictionSet
from models_app.services import prediction_copy, predictions
from models_app.services.registry import model_version_create, registered_model_create
from tests.factories import UserFactory, jsonl

ROWS = 20_000  # more than two COPY batches


@pytest.fixture
def postgres(db):
    if connection.vendor != "postgresql":
        pytest.skip("the COPY path is PostgreSQL's; SQLite always stages")


def make_version(ids: list[str], user: User):
    dataset = dataset_create(name=f"d{random.randrange(10**9)}", created_by=user)
    content = jsonl([{"id": item_id, "input": f"question {n}"} for n, item_id in enumerate(ids)])
    version, _ = dataset_version_ingest(
        dataset=dataset, file=ContentFile(content, name="items.jsonl"), source_name="items.jsonl", created_by=user
    )
    return version


@pytest.fixture
def setup(postgres):
    user = UserFactory.create(username="ds-copy", role=User.Role.DATA_SCIENTIST)
    ids = [f"it-{n}" for n in range(ROWS - 1)] + ["42"]
    version = make_version(ids, user)
    model = registered_model_create(name="copy-model", created_by=user)
    return {
        "user": user,
        "ids": ids,
        "version": version,
        "model_version": lambda name: model_version_create(model=model, version=name, created_by=user),
    }


def ingest(setup, content: bytes, name: str = "preds.jsonl"):
    return predictions.prediction_set_ingest(
        model_version=setup["model_version"](f"v{random.randrange(10**9)}"),
        dataset_version=setup["version"],
        file=ContentFile(content, name=name),
        source_name=name,
        created_by=setup["user"],
    )


@pytest.fixture
def copy_results(monkeypatch):
    """What each prediction_set_copy call returned: a set, or None when it handed over to the staging path."""
    results, real = [], prediction_copy.prediction_set_copy

    def spy(**kwargs):
        results.append(real(**kwargs))
        return results[-1]

    monkeypatch.setattr(predictions, "prediction_set_copy", spy)
    return results


def test_a_clean_upload_is_copied_and_every_prediction_lands_on_its_own_item(setup, copy_results):
    rows = [
        {"id": item_id, "output": {"echo": item_id, "text": f"tab\there, back\\slash, «{n}», \u2028"}, "score": n / 7}
        for n, item_id in enumerate(setup["ids"][:-1])
    ]
    rows.append({"id": 42, "output": "a plain string", "score": 3})  # an integer id names item "42"
    random.Random(5).shuffle(rows)
    content = jsonl(rows[:100]) + b"\n" + jsonl(rows[100:])  # a blank line is allowed

    prediction_set, created = ingest(setup, content)

    assert created and copy_results == [prediction_set] and prediction_set.prediction_count == ROWS
    stored = {
        p.item.external_id: p for p in Prediction.objects.filter(prediction_set=prediction_set).select_related("item")
    }
    assert len(stored) == ROWS
    for row in rows:
        item_id = str(row["id"])
        assert stored[item_id].output == row["output"] and stored[item_id].score == pytest.approx(row["score"], abs=0)
    assert stored["it-7"].item.version_id == setup["version"].pk


def test_a_wrong_row_after_the_copy_began_is_named_by_line_and_nothing_stays(setup, copy_results):
    rows = [{"id": item_id, "output": "fine"} for item_id in setup["ids"]]
    rows[14_999] = {"id": "no-such-item", "output": "x"}
    rows[15_999] = {"id": rows[2]["id"], "output": "again"}
    rows[16_999] = {"id": rows[16_999]["id"], "output": "x", "score": "high"}

    with pytest.raises(ApplicationError) as raised:
        ingest(setup, jsonl(rows))

    assert copy_results == [None]  # the COPY path gave up and the staging path explained
    errors = raised.value.extra["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [(15_000, "id"), (16_000, "id"), (17_000, "score")]
    assert "no item 'no-such-item'" in errors[0]["message"] and "from line 3" in errors[1]["message"]
    assert raised.value.extra["total"] == 3
    assert PredictionSet.objects.count() == 0 and Prediction.objects.count() == 0


def test_a_repeated_item_caught_by_the_unique_index_leaves_nothing(setup, copy_results):
    rows = [{"id": item_id, "output": "fine"} for item_id in setup["ids"]]
    rows[-1] = {"id": "it-0", "output": "twice"}  # found by the COPY itself, in its last batch

    with pytest.raises(ApplicationError) as raised:
        ingest(setup, jsonl(rows))

    assert copy_results == [None]
    assert (
        raised.value.extra["errors"][0]["line"] == ROWS
        and "duplicates id 'it-0' from line 1" in raised.value.extra["errors"][0]["message"]
    )
    assert PredictionSet.objects.count() == 0 and Prediction.objects.count() == 0


def test_a_csv_upload_is_copied_too(setup, copy_results):
    content = "id,output,score\n" + "".join(f"{item_id},answer {n},{n % 5}\n" for n, item_id in enumerate(setup["ids"]))
    prediction_set, _ = ingest(setup, content.encode(), name="preds.csv")
    assert copy_results == [prediction_set] and prediction_set.prediction_count == ROWS
    assert Prediction.objects.get(prediction_set=prediction_set, item__external_id="it-9").output == "answer 9"


def test_ids_that_share_a_hash_take_the_exact_path_and_still_land_right(setup, copy_results, monkeypatch):
    monkeypatch.setattr(item_index, "hash", len, raising=False)  # every id of one length collides
    assert ItemIndex.load(setup["version"].pk) is None

    rows = [{"id": item_id, "output": item_id} for item_id in reversed(setup["ids"])]
    prediction_set, created = ingest(setup, jsonl(rows))

    assert created and copy_results == [None] and prediction_set.prediction_count == ROWS
    for prediction in Prediction.objects.filter(prediction_set=prediction_set).select_related("item").iterator():
        assert prediction.output == prediction.item.external_id


def test_the_index_finds_each_item_and_refuses_any_other_id(setup):
    index = ItemIndex.load(setup["version"].pk, setup["version"].item_count)
    assert index is not None and len(index) == ROWS
    wanted = ["it-5", "42", "it-19998", "it-0"]
    expected = dict(
        Item.objects.filter(version=setup["version"], external_id__in=wanted).values_list("external_id", "pk")
    )
    assert index.lookup(wanted) == [expected[item_id] for item_id in wanted]
    assert index.lookup(["it-5", "it-20000"]) is None and index.lookup(["IT-5"]) is None


def test_an_id_holding_the_index_separator_takes_the_exact_path(postgres):
    user = UserFactory.create(username="ds-sep", role=User.Role.DATA_SCIENTIST)
    version = make_version(["plain", "unit\x1fseparator"], user)
    assert ItemIndex.load(version.pk) is None


# --- the fast row check against the validator ---------------------------------------------------------------

RECORDS = [
    {"id": "a", "output": "text"},
    {"id": "a", "output": {"k": [1, 2]}, "score": 0.25},
    {"id": 7, "output": [1]},
    {"id": "a", "output": "x", "score": 3},
    {"id": "a", "output": "x", "score": None},
    {"id": "a", "output": "x", "extra": 1},
    {"id": "é ü", "output": "back\\slash\ttab"},
    {"id": "a" * 255, "output": "x"},
    {"id": "a", "output": "x", "score": 2**60},  # may go either way: beyond 2**53 the fast check hands it over
    # refused by the validator: the fast check must hand each one over
    {"id": "", "output": "x"},
    {"id": "   ", "output": "x"},
    {"id": "a" * 256, "output": "x"},
    {"id": "a\u0000b", "output": "x"},
    {"id": True, "output": "x"},
    {"id": 1.5, "output": "x"},
    {"id": None, "output": "x"},
    {"output": "x"},
    {"id": "a"},
    {"id": "a", "output": ""},
    {"id": "a", "output": {}},
    {"id": "a", "output": []},
    {"id": "a", "output": 5},
    {"id": "a", "output": None},
    {"id": "a", "output": "nul \u0000 inside"},
    {"id": "a", "output": "x", "score": "1"},
    {"id": "a", "output": "x", "score": True},
    {"id": "a", "output": "x", "score": [1]},
]


@pytest.mark.parametrize("record", RECORDS, ids=range(len(RECORDS)))
def test_the_fast_row_check_never_takes_what_the_validator_refuses(record):
    line = orjson.dumps(record) + b"\n"
    try:
        fast = list(prediction_copy._jsonl_rows(ContentFile(line), ByteCounter()))
    except NotClean:
        fast = None
    exact = validate_prediction(1, record, ErrorCollector("f"))
    if exact is None:
        assert fast is None
    else:  # the validator's row, byte for byte (escaped for COPY), or handed over
        score = b"\\N" if exact.score is None else repr(exact.score).encode()
        text = b"%b\t%b\n" % (exact.output.encode().replace(b"\\", b"\\\\"), score)
        assert fast in (None, [(exact.item_id, text)])
    if RECORDS.index(record) < 8:  # the common shapes do take the fast way
        assert fast is not None


@pytest.mark.parametrize(
    "content",
    [
        b"[1, 2]\n",
        b"{not json\n",
        b'\xef\xbb\xbf{"id": "a", "output": "x"}\n',
        b"\xff\xfe{\x00\n",
        b'{"id": "a", "output": "\xe9"}\n',
    ],
)
def test_lines_the_readers_refuse_are_handed_over_too(content):
    with pytest.raises(NotClean):
        list(prediction_copy._jsonl_rows(ContentFile(content), ByteCounter()))


# --- dataset versions --------------------------------------------------------------------------------------


@pytest.fixture
def item_copy_results(monkeypatch):
    from datasets.services import datasets as dataset_services
    from datasets.services import item_copy

    results, real = [], item_copy.dataset_version_copy

    def spy(**kwargs):
        results.append(real(**kwargs))
        return results[-1]

    monkeypatch.setattr(dataset_services, "dataset_version_copy", spy)
    return results


def test_a_clean_dataset_is_copied_in_file_order_with_every_field(postgres, item_copy_results):
    user = UserFactory.create(username="ds-items", role=User.Role.DATA_SCIENTIST)
    rows: list[dict[str, Any]] = [
        {"id": f"x{n}", "input": {"text": f"back\\slash \t «{n}»", "n": n}, "tags": ["a", "b c"], "reference": [n]}
        for n in range(ROWS)
    ]
    rows[5] = {"id": 77, "input": "plain text"}  # integer id, no tags, no reference
    dataset = dataset_create(name="copied", created_by=user)
    version, created = dataset_version_ingest(
        dataset=dataset, file=ContentFile(jsonl(rows), name="i.jsonl"), source_name="i.jsonl", created_by=user
    )
    assert created and item_copy_results == [(version, True)] and version.item_count == ROWS and version.number == 1
    items = list(Item.objects.filter(version=version).order_by("pk"))
    assert [item.external_id for item in items] == [str(row["id"]) for row in rows]  # keys follow the file
    for item, row in zip(items, rows, strict=True):
        assert (item.input, item.reference, item.tags, item.image.name) == (
            row["input"],
            row.get("reference"),
            row.get("tags", []),
            "",
        )

    again, created = dataset_version_ingest(
        dataset=dataset, file=ContentFile(jsonl(rows), name="i.jsonl"), source_name="i.jsonl", created_by=user
    )
    assert (again, created) == (version, False)


def test_a_dataset_with_a_repeated_id_is_named_by_line_and_nothing_stays(postgres, item_copy_results):
    user = UserFactory.create(username="ds-items2", role=User.Role.DATA_SCIENTIST)
    rows = [{"id": f"x{n}", "input": "q"} for n in range(ROWS)]
    rows[-1] = {"id": "x3", "input": "again"}  # the unique index refuses it in the last batch
    dataset = dataset_create(name="repeated", created_by=user)
    with pytest.raises(ApplicationError) as raised:
        dataset_version_ingest(
            dataset=dataset, file=ContentFile(jsonl(rows), name="i.jsonl"), source_name="i.jsonl", created_by=user
        )
    assert item_copy_results == [None]
    assert (
        raised.value.extra["errors"][0]["line"] == ROWS and "from line 4" in raised.value.extra["errors"][0]["message"]
    )
    assert not dataset.versions.exists() and not Item.objects.exists()


def test_ids_copy_would_have_to_escape_take_the_staging_path_and_land_exactly(postgres, item_copy_results):
    user = UserFactory.create(username="ds-items3", role=User.Role.DATA_SCIENTIST)
    ids = ["tab\there", "back\\slash", "new\nline", "plain"]
    version = make_version(ids, user)
    assert item_copy_results == [None]
    assert sorted(Item.objects.filter(version=version).values_list("external_id", flat=True)) == sorted(ids)


ITEM_RECORDS = [
    {"id": "a", "input": "text"},
    {"id": "a", "input": {"k": "v"}, "tags": ["t"]},
    {"id": 5, "input": "x", "reference": "r"},
    {"id": "a", "input": "x", "tags": []},
    {"id": "a", "input": "x", "reference": {"deep": [1, None]}},
    {"id": "é", "input": "x"},
    # refused by the validator, or taken by the staging path only: the fast check hands each one over
    {"id": "", "input": "x"},
    {"id": "a\tb", "input": "x"},
    {"id": "a\\b", "input": "x"},
    {"id": True, "input": "x"},
    {"id": "a"},
    {"id": "a", "input": ""},
    {"id": "a", "input": {}},
    {"id": "a", "input": 3},
    {"id": "a", "input": ["l"]},
    {"id": "a", "input": {"image": "x.png"}},
    {"id": "a", "input": "x", "tags": "t"},
    {"id": "a", "input": "x", "tags": [""]},
    {"id": "a", "input": "x", "tags": [1]},
    {"id": "a", "input": "x", "tags": None},
    {"id": "a", "input": "nul \u0000"},
    {"id": "a", "input": "x", "reference": "nul \u0000"},
    {"id": "a", "input": "x", "tags": ["nul \u0000"]},
]


@pytest.mark.parametrize("record", ITEM_RECORDS, ids=range(len(ITEM_RECORDS)))
def test_the_fast_item_check_never_takes_what_the_validator_refuses(record):
    from datasets.parsers import validate_item
    from datasets.services import item_copy

    try:
        fast = list(item_copy._jsonl_rows(ContentFile(orjson.dumps(record) + b"\n"), ByteCounter()))
    except NotClean:
        fast = None
    exact = validate_item(1, record, ErrorCollector("f"), None)
    if exact is None:
        assert fast is None
    else:
        escape = lambda text: text.encode().replace(b"\\", b"\\\\")  # noqa: E731
        reference = b"\\N" if exact.reference is None else escape(exact.reference)
        text = b"%b\t%b\t%b\t%b\t\t\n" % (
            exact.external_id.encode(),
            escape(exact.input),
            reference,
            escape(exact.tags),
        )
        assert fast in (None, [text])
    if ITEM_RECORDS.index(record) < 6:
        assert fast is not None


# --- progress, seen from outside the COPY's transaction -----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_progress_and_heartbeat_are_written_while_the_copy_runs(api, settings):
    if connection.vendor != "postgresql":
        pytest.skip("the COPY path is PostgreSQL's")
    from django.core.files.uploadedfile import SimpleUploadedFile

    from datasets import tasks as dataset_tasks
    from datasets.models import Upload
    from datasets.services import ingest as ingest_module
    from models_app import tasks as model_tasks

    ds = api["ds"]
    settings.SIGNOFF_SYNC_UPLOAD_MAX_BYTES = 10
    ids = [f"q{n}" for n in range(ROWS)]
    outside = connection.get_new_connection(connection.get_connection_params())
    outside.autocommit = True
    real_call = ingest_module.Progress.__call__

    def ingest_watched(upload: Upload, task, table: str) -> list:
        seen = []

        def spy(self, phase, rows, bytes_done, force=False):
            real_call(self, phase, rows, bytes_done, force=True)
            seen.append(
                outside.execute("SELECT phase, rows_done FROM datasets_upload WHERE id = %s", [upload.pk]).fetchone()
            )
            # the rows themselves are not visible outside before the commit
            seen.append(("rows seen outside", outside.execute(f"SELECT count(*) FROM {table}").fetchone()[0]))

        with mock.patch.object(ingest_module.Progress, "__call__", spy):
            task(upload.pk)
        upload.refresh_from_db()
        assert upload.status == Upload.Status.READY, upload.error
        return seen

    try:
        assert ds.post("/api/v1/datasets/", {"name": "qa"}, format="json").status_code == 201
        items = SimpleUploadedFile("items.jsonl", jsonl([{"id": i, "input": "x"} for i in ids]))
        assert ds.post("/api/v1/datasets/qa/versions/", {"file": items}, format="multipart").status_code == 202
        seen = ingest_watched(
            Upload.objects.get(kind="dataset_version"), dataset_tasks.ingest_dataset_upload, "datasets_item"
        )
        assert ("reading", 8192) in seen and ("reading", 16384) in seen and ("saving", ROWS) in seen
        assert ("rows seen outside", 0) in seen and all(v == 0 for k, v in seen if k == "rows seen outside")
        assert Item.objects.count() == ROWS

        assert ds.post("/api/v1/models/", {"name": "m"}, format="json").status_code == 201
        assert ds.post("/api/v1/models/m/versions/", {"version": "1"}, format="json").status_code == 201
        preds = SimpleUploadedFile("preds.jsonl", jsonl([{"id": i, "output": "y"} for i in ids]))
        response = ds.post(
            "/api/v1/models/m/versions/1/predictions/",
            {"dataset": "qa", "dataset_version": 1, "file": preds},
            format="multipart",
        )
        assert response.status_code == 202
        seen = ingest_watched(
            Upload.objects.get(kind="prediction_set"), model_tasks.ingest_prediction_upload, "models_app_prediction"
        )
        assert ("reading", 8192) in seen and ("reading", 16384) in seen and ("saving", ROWS) in seen
        assert ("rows seen outside", 0) in seen and all(v == 0 for k, v in seen if k == "rows seen outside")
        assert Prediction.objects.count() == ROWS
    finally:
        outside.close()
