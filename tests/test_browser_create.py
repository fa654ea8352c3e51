"""Everything a data scientist creates, done in a real Chromium: a dataset and its first version dropped on the
upload form, a model and a version (with its JSON checked), its predictions, and a campaign from a form that adapts
to its kind, offers only the versions with predictions, states the plan and previews the first task blind; the
campaign form also works with the keyboard alone."""

import re
from collections.abc import Callable

import pytest

from datasets.models import DatasetVersion, Item
from models_app.models import ModelVersion, Prediction
from reviews.models import Campaign
from tests.conftest import browser_login
from tests.factories import jsonl, jsonl_file
from tests.support.screenshots import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CAMPAIGN_PAGE = re.compile(r".*/campaigns/\d+/$")  # the created campaign's page (not /campaigns/new/)

# A file dropped from the desktop: a DataTransfer holding it, dispatched as the drag's events would be.
DROP = """([selector, name, text]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([text], name, { type: "application/octet-stream" }));
  const target = document.querySelector(selector);
  for (const type of ["dragenter", "dragover", "drop"]) {
    target.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }
}"""


def drop_file(page, name: str, content: bytes) -> None:
    page.evaluate(DROP, ["form.upload", name, content.decode()])


def test_a_dataset_created_in_the_browser_takes_its_first_version_by_drag_and_drop(users, live_server, new_page):
    page = new_page()
    browser_login(page, live_server, "ds")
    page.goto(f"{live_server.url}/datasets/")
    page.click("text=New dataset")
    page.fill("#id_name", "questions")
    page.fill("#id_description", "What people ask")
    page.click("button.primary")
    page.wait_for_url(f"{live_server.url}/datasets/questions/")
    assert "upload its first version" in page.inner_text(".messages")
    rows = [{"id": f"q{n}", "input": {"question": f"what is {n}?"}, "tags": ["t"]} for n in range(1200)]
    drop_file(page, "questions.jsonl", jsonl(rows))
    page.wait_for_selector('form.upload[data-state="ready"]')
    assert page.eval_on_selector("form.upload progress", "bar => bar.value") == 1
    assert "Version 1 ready: 1,200 rows" in page.inner_text("[data-upload-status]")
    version = DatasetVersion.objects.get(dataset__name="questions")
    assert version.item_count == 1200 == Item.objects.filter(version=version).count()
    assert version.source_name == "questions.jsonl" and version.created_by == users["ds"]
    assert set(Item.objects.filter(version=version).values_list("external_id", flat=True)) == {r["id"] for r in rows}
    screenshot(page, "dataset-new.png", full_page=False)
    page.click("text=Show it")
    page.wait_for_selector("text=Items of v1")


# The gap between an error line's start and its text: where its number is drawn, and the room that number needs.
NUMBER_ROOM = """() => {
  const list = document.querySelector("form.upload [data-upload-errors]");
  const box = list.getBoundingClientRect();
  const canvas = document.createElement("canvas").getContext("2d");
  return Array.from(list.children).map((li, index) => {
    const style = getComputedStyle(li);
    canvas.font = `${style.fontSize} ${style.fontFamily}`;
    const range = document.createRange();
    range.selectNodeContents(li);
    const text = range.getClientRects()[0];
    return { needed: canvas.measureText(`${index + 1}. `).width, room: text.left - Math.max(box.left, li.getBoundingClientRect().left),
             liLeft: li.getBoundingClientRect().left - box.left };
  });
}"""


def test_a_bad_dropped_file_names_file_and_lines_with_every_number_visible(users, live_server, new_page, api):
    assert api["ds"].post("/api/v1/datasets/", {"name": "broken"}, format="json").status_code == 201
    page = new_page()
    browser_login(page, live_server, "ds")
    page.goto(f"{live_server.url}/datasets/broken/")
    bad = jsonl([{"id": f"b{n}", "tags": "not a list"} for n in range(150)])  # every row lacks its input
    drop_file(page, "broken-rows.jsonl", bad)
    page.wait_for_selector('form.upload[data-state="failed"]')
    status = page.inner_text("[data-upload-status]")
    assert "Nothing was stored" in status and "broken-rows.jsonl line 1" in status
    assert "Showing the first 100 of " in status
    errors = page.locator("form.upload [data-upload-errors] li").all_inner_texts()
    assert len(errors) == 100 and errors[0].startswith("line 1, field “input”")
    assert errors[99].startswith("line 100, ")
    page.eval_on_selector("form.upload [data-upload-errors]", "list => { list.scrollTop = list.scrollHeight; }")
    for index, room in enumerate(page.evaluate(NUMBER_ROOM)):
        # the list's own left edge clips anything drawn before it: each number must fit between it and the text
        assert room["liLeft"] >= 0 and room["room"] >= room["needed"] - 0.5, (index + 1, room)
    assert not DatasetVersion.objects.exists()


def test_a_model_and_its_version_created_in_the_browser_then_its_predictions_dropped(users, api, live_server, new_page):
    ds = api["ds"]
    assert ds.post("/api/v1/datasets/", {"name": "qa"}, format="json").status_code == 201
    items = [{"id": f"q{n}", "input": f"question {n}"} for n in range(20)]
    assert ds.post("/api/v1/datasets/qa/versions/", {"file": jsonl_file(items)}, format="multipart").status_code == 201
    page = new_page()
    browser_login(page, live_server, "ds")
    page.goto(f"{live_server.url}/models/")
    page.click("text=New model")
    page.fill("#id_name", "answerer")
    page.click("button.primary")
    page.wait_for_url(f"{live_server.url}/models/answerer/versions/new/")
    page.fill("#id_version", "1")
    page.fill("#id_git_sha", "4f2a9c1")
    page.fill("#id_params", '{\n  "lr": 0.001\n  "layers": 12\n}')
    page.fill("#id_metrics", '{"accuracy": "high"}')
    page.click("button.primary")
    page.wait_for_selector(".has-error")
    assert "Not valid JSON: Expecting ',' delimiter at line 3, column 3." in page.inner_text("#model-version-form")
    assert "Every metric must be a finite number; not: accuracy." in page.inner_text("#model-version-form")
    assert page.input_value("#id_params").startswith('{\n  "lr": 0.001')  # what was typed stays, to be fixed
    screenshot(page, "model-version-new.png", full_page=True)
    page.fill("#id_params", '{\n  "lr": 0.001,\n  "layers": 12\n}')
    page.fill("#id_metrics", '{"accuracy": 0.91}')
    page.click("button.primary")
    page.wait_for_url(f"{live_server.url}/models/answerer/1/")
    version = ModelVersion.objects.get(model__name="answerer")
    assert version.params == {"lr": 0.001, "layers": 12} and version.metrics == {"accuracy": 0.91}
    page.select_option("form.upload select", "qa:1")
    drop_file(page, "preds.csv", ("id,output\n" + "".join(f"q{n},answer {n}\n" for n in range(20))).encode())
    page.wait_for_selector('form.upload[data-state="ready"]')
    assert "Predictions ready: 20 rows" in page.inner_text("[data-upload-status]")
    assert Prediction.objects.filter(prediction_set__model_version=version).count() == 20


# --- the new-campaign form ----------------------------------------------------------------------------------------


def campaign_data(api, users) -> None:
    """A dataset version with three versions' predictions (one's first output is hostile markdown), and a fourth
    version with predictions on another dataset only."""
    ds = api["ds"]
    for name in ("sums", "other"):
        assert ds.post("/api/v1/datasets/", {"name": name}, format="json").status_code == 201
    items = [{"id": f"item-{i}", "input": f"What is {i} + {i}?"} for i in range(12)]
    for name in ("sums", "other"):
        response = ds.post(f"/api/v1/datasets/{name}/versions/", {"file": jsonl_file(items)}, format="multipart")
        assert response.status_code == 201
    assert ds.post("/api/v1/models/", {"name": "adder"}, format="json").status_code == 201
    outputs: dict[str, Callable[[int], str]] = {
        "2": lambda i: str(2 * i),
        "1": lambda i: str(2 * i + 1),
        "md": lambda i: "**bold** <img src=x onerror=alert(1)>" if i == 0 else str(i),
        "elsewhere": str,
    }
    for version, output in outputs.items():
        assert ds.post("/api/v1/models/adder/versions/", {"version": version}, format="json").status_code == 201
        rows = [{"id": f"item-{i}", "output": output(i)} for i in range(12)]
        response = ds.post(
            f"/api/v1/models/adder/versions/{version}/predictions/",
            {"dataset": "other" if version == "elsewhere" else "sums", "dataset_version": 1, "file": jsonl_file(rows)},
            format="multipart",
        )
        assert response.status_code == 201, response.json()


def visible_fields(page) -> set[str]:
    return set(
        page.eval_on_selector_all(
            "#campaign-form [data-kinds]", "inputs => inputs.filter(i => !i.closest('.field').hidden).map(i => i.name)"
        )
    )


def offered(page, select: str) -> list[str]:
    return page.eval_on_selector_all(
        f"{select} option", "options => options.filter(o => o.value && !o.disabled && !o.hidden).map(o => o.text)"
    )


def test_campaign_form_adapts_to_kind_and_dataset_previews_blind_and_creates(users, api, live_server, new_page):
    campaign_data(api, users)
    page = new_page()
    dialogs = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    browser_login(page, live_server, "ds")
    page.goto(f"{live_server.url}/campaigns/new/")
    assert visible_fields(page) == {"baseline", "items"}  # pairwise, the first kind
    page.select_option("#id_kind", "labeling")
    assert visible_fields(page) == {"labels", "multi_label"}
    page.select_option("#id_kind", "rating")
    assert visible_fields(page) == {"baseline", "others", "rubric"}
    page.select_option("#id_kind", "ranking")
    assert visible_fields(page) == {"baseline", "others"}
    page.select_option("#id_kind", "pairwise")
    assert (
        visible_fields(page) == {"baseline", "items"} and page.is_hidden("#id_rubric") and page.is_hidden("#id_labels")
    )

    assert len(offered(page, "#id_candidate")) == 4  # before a dataset version is chosen: every version
    page.select_option("#id_dataset_version", label="sums v1")
    page.wait_for_function("() => document.getElementById('versions-note').textContent.includes('3 model versions')")
    for select in ("#id_candidate", "#id_baseline", "#id_others"):
        assert sorted(offered(page, select)) == ["adder:1", "adder:2", "adder:md"], select

    page.fill("#id_name", "sums, blind")
    page.select_option("#id_content_format", "markdown")
    page.select_option("#id_candidate", label="adder:2")
    page.select_option("#id_baseline", label="adder:md")
    page.check(f"input[name=reviewers][value='{users['reviewer'].pk}']")
    page.fill("#id_min_judgments", "5")
    page.dispatch_event("#id_min_judgments", "change")
    page.wait_for_selector("#plan-summary")
    assert page.inner_text("#plan-summary").startswith("12 items: power ")
    page.wait_for_selector("#task-preview-body .outputs")
    preview = page.inner_text("#task-preview")
    assert "What is 0 + 0?" in preview and "item-0" in preview
    assert "adder" not in preview and ":2" not in preview  # blind: no model named
    slots = page.eval_on_selector_all("#task-preview-body .output h3", "hs => hs.map(h => h.textContent)")
    assert slots == ["A", "B"]
    contents = {page.inner_text("#preview-output-A").strip(), page.inner_text("#preview-output-B").strip()}
    assert contents == {"0", "bold"}
    assert page.locator("#task-preview-body strong").inner_text() == "bold"  # markdown drawn, as on the review screen
    assert page.locator("#task-preview-body img").count() == 0 and dialogs == []  # the hostile image was removed
    page.locator("#task-preview").scroll_into_view_if_needed()
    screenshot(page, "campaign-new-preview.png", full_page=True)
    assert not Campaign.objects.exists()

    page.click("button.primary")
    page.wait_for_url(CAMPAIGN_PAGE)
    campaign = Campaign.objects.get()
    assert campaign.kind == "pairwise" and campaign.name == "sums, blind" and campaign.baseline is not None
    assert {campaign.candidate.version, campaign.baseline.version} == {"2", "md"}
    assert campaign.tasks.ordinary().count() == 12 and campaign.content_format == "markdown"


def test_switching_kind_drops_the_other_kinds_fields(users, api, live_server, new_page):
    campaign_data(api, users)
    page = new_page()
    browser_login(page, live_server, "ds")
    page.goto(f"{live_server.url}/campaigns/new/")
    page.fill("#id_name", "labels after all")
    page.select_option("#id_dataset_version", label="sums v1")
    page.wait_for_function("() => document.getElementById('versions-note').textContent !== ''")
    page.select_option("#id_candidate", label="adder:2")
    page.select_option("#id_baseline", label="adder:1")  # chosen, then hidden by the change of kind
    page.select_option("#id_kind", "labeling")
    page.fill("#id_labels", "right, wrong")
    page.check(f"input[name=reviewers][value='{users['reviewer'].pk}']")
    page.wait_for_selector("#task-preview-body .card")
    assert "The model's suggestion" in page.inner_text("#task-preview") and "right · wrong" in page.inner_text(
        "#task-preview"
    )
    page.click("button.primary")
    page.wait_for_url(CAMPAIGN_PAGE)
    campaign = Campaign.objects.get()
    assert campaign.kind == "labeling" and campaign.baseline is None and campaign.labels == ["right", "wrong"]


def tab_to(page, selector: str, limit: int = 80) -> None:
    """Press Tab (keyboard only) until the focus is on `selector`."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_a_campaign_is_created_with_the_keyboard_alone(users, api, live_server, new_page):
    campaign_data(api, users)
    page = new_page()
    browser_login(page, live_server, "ds")
    page.goto(f"{live_server.url}/campaigns/new/")
    tab_to(page, "#id_name")
    page.keyboard.type("by keyboard")
    tab_to(page, "#id_kind")  # pairwise is already chosen
    tab_to(page, "#id_dataset_version")
    page.keyboard.type("sums")  # a select's type-ahead
    page.wait_for_function("() => document.getElementById('versions-note').textContent.includes('3 model versions')")
    tab_to(page, "#id_candidate")
    page.keyboard.type("adder:2")
    tab_to(page, "#id_baseline")
    page.keyboard.type("adder:1")
    tab_to(page, f"input[name=reviewers][value='{users['reviewer'].pk}']")
    page.keyboard.press("Space")
    tab_to(page, "#id_min_judgments")
    page.keyboard.press("Control+A")
    page.keyboard.type("5")
    page.keyboard.press("Tab")  # leaving the field sends its change: the plan and the preview follow
    page.wait_for_selector("#plan-summary")
    page.wait_for_selector("#task-preview-body .outputs")
    assert page.input_value("#id_candidate") == str(ModelVersion.objects.get(version="2").pk)
    tab_to(page, "button.primary")
    page.keyboard.press("Enter")
    page.wait_for_url(CAMPAIGN_PAGE)
    campaign = Campaign.objects.get()
    assert campaign.name == "by keyboard" and campaign.kind == "pairwise" and campaign.baseline is not None
    assert (campaign.candidate.version, campaign.baseline.version) == ("2", "1")
    assert list(campaign.reviewers.all()) == [users["reviewer"]] and campaign.tasks.ordinary().count() == 12
