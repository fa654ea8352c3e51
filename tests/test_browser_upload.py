"""A data scientist uploads a large file in the browser and watches it land, or sees exactly what is wrong."""

import pytest
from django.db import connection

from datasets.models import DatasetVersion, Item
from tests.conftest import browser_login
from tests.factories import jsonl
from tests.support.worker import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECORD_STATES = """() => {
  window.__states = [];
  const form = document.querySelector("form.upload");
  new MutationObserver(() => window.__states.push([form.dataset.state, form.querySelector("progress").value,
    form.querySelector("[data-upload-status]").textContent])).observe(form, {subtree: true, childList: true, attributes: true, characterData: true});
}"""


@pytest.fixture
def dataset_page(api, live_server, new_page, settings):
    settings.SIGNOFF_SYNC_UPLOAD_MAX_BYTES = 1024  # anything bigger goes to the worker
    assert api["ds"].post("/api/v1/datasets/", {"name": "big"}, format="json").status_code == 201
    page = new_page()
    browser_login(page, live_server, "ds")
    page.goto(f"{live_server.url}/datasets/big/")
    page.evaluate(RECORD_STATES)
    return page


def test_progress_bar_follows_a_background_upload_to_100_percent(dataset_page, tmp_path):
    # long enough for several of the page's polls (every 0.4 s) while the worker reads: PostgreSQL's COPY path
    # reads ~300,000 rows a second here, SQLite's staging path about a third of that
    rows = 800_000 if connection.vendor == "postgresql" else 150_000
    path = tmp_path / "items.jsonl"
    path.write_bytes(jsonl([{"id": f"i{n}", "input": f"question {n}"} for n in range(rows)]))
    page = dataset_page
    with celery_worker():
        page.set_input_files("form.upload input[type=file]", str(path))
        page.click("form.upload button[type=submit]")
        page.wait_for_selector('form.upload[data-state="ready"]', timeout=120_000)
    assert page.eval_on_selector("form.upload progress", "bar => bar.value") == 1
    assert f"Version 1 ready: {rows:,} rows" in page.inner_text("[data-upload-status]")
    states = page.evaluate("window.__states")
    reading = [s for s in states if s[0] == "processing" and "rows/s" in s[2]]
    assert reading, states  # the bar moved while the worker read: rows, pace and time left were shown
    assert all(0 <= s[1] <= 1 for s in states) and [s[1] for s in reading] == sorted(s[1] for s in reading)
    assert DatasetVersion.objects.get().item_count == rows == Item.objects.count()
    page.click("text=Show it")
    page.wait_for_selector("text=Items of v1")


def test_a_bad_upload_lists_its_errors_as_text_and_stores_nothing(dataset_page, tmp_path):
    path = tmp_path / "bad.jsonl"
    good = [{"id": f"i{n}", "input": "fine"} for n in range(100)]
    path.write_bytes(jsonl(good) + b'{"id": "<img src=x onerror=alert(1)>", "tags": "x"}\n' + jsonl(good[:1]))
    page = dataset_page
    dialogs = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    with celery_worker():
        page.set_input_files("form.upload input[type=file]", str(path))
        page.click("form.upload button[type=submit]")
        page.wait_for_selector('form.upload[data-state="failed"]', timeout=60_000)
    errors = page.locator("form.upload [data-upload-errors] li").all_inner_texts()
    assert errors, page.inner_text("[data-upload-status]")
    assert errors[0].startswith("line 101, field “input”: is required")
    assert errors[1] == "line 102, field “id”: duplicates id 'i0' from line 1"
    assert "Nothing was stored" in page.inner_text("[data-upload-status]")
    assert page.locator("form.upload img").count() == 0 and dialogs == []
    assert DatasetVersion.objects.count() == 0 and Item.objects.count() == 0


def test_predictions_upload_from_the_model_version_page(api, live_server, new_page):
    ds = api["ds"]
    assert ds.post("/api/v1/datasets/", {"name": "qa"}, format="json").status_code == 201
    items = [{"id": f"q{n}", "input": f"question {n}"} for n in range(20)]
    from tests.factories import jsonl_file

    assert ds.post("/api/v1/datasets/qa/versions/", {"file": jsonl_file(items)}, format="multipart").status_code == 201
    assert ds.post("/api/v1/models/", {"name": "m"}, format="json").status_code == 201
    assert ds.post("/api/v1/models/m/versions/", {"version": "1"}, format="json").status_code == 201
    page = new_page()
    browser_login(page, live_server, "ds")
    page.goto(f"{live_server.url}/models/m/1/")
    page.set_input_files(
        "form.upload input[type=file]",
        files=[
            {
                "name": "preds.csv",
                "mimeType": "text/csv",
                "buffer": ("id,output,score\n" + "".join(f"q{n},answer {n},0.5\n" for n in range(20))).encode(),
            }
        ],
    )
    page.select_option("form.upload select", "qa:1")
    page.click("form.upload button[type=submit]")
    page.wait_for_selector('form.upload[data-state="ready"]')
    assert "Predictions ready: 20 rows" in page.inner_text("[data-upload-status]")
    from models_app.models import Prediction

    assert Prediction.objects.filter(prediction_set__dataset_version__dataset__name="qa").count() == 20
