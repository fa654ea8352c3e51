"""The review page in a real Chromium: keyboard-only labeling, the help overlay, and hostile model outputs."""

import pytest

from reviews.models import Judgment
from tests.conftest import browser_login
from tests.factories import jsonl_file

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS_OUTPUTS = [
    '<script>window.__pwned = "script"</script>',
    "<img src=x onerror=\"window.__pwned = 'onerror'\">",
    "<a href=\"javascript:window.__pwned='link'\">click</a>",
]


def upload(api, *, model: str, version: str, outputs: list, dataset: str = "hostile"):
    ds = api["ds"]
    if ds.get(f"/api/v1/models/{model}/versions/").status_code == 404:
        ds.post("/api/v1/models/", {"name": model}, format="json")
    ds.post(f"/api/v1/models/{model}/versions/", {"version": version}, format="json")
    rows = [{"id": f"i{n}", "output": out} for n, out in enumerate(outputs)]
    response = ds.post(
        f"/api/v1/models/{model}/versions/{version}/predictions/",
        {"dataset": dataset, "dataset_version": 1, "file": jsonl_file(rows)},
        format="multipart",
    )
    assert response.status_code == 201, response.json()


def test_hostile_outputs_are_shown_as_inert_text(api, live_server, new_page):
    ds = api["ds"]
    ds.post("/api/v1/datasets/", {"name": "hostile"}, format="json")
    items = [
        {"id": f"i{n}", "input": "<img src=x onerror=\"window.__pwned='input'\">"} for n in range(len(XSS_OUTPUTS))
    ]
    assert (
        ds.post("/api/v1/datasets/hostile/versions/", {"file": jsonl_file(items)}, format="multipart").status_code
        == 201
    )
    upload(api, model="m", version="2", outputs=XSS_OUTPUTS)
    upload(api, model="m", version="1", outputs=[{"html": out} for out in XSS_OUTPUTS])
    campaign = ds.post(
        "/api/v1/campaigns/",
        {
            "name": "hostile",
            "kind": "pairwise",
            "dataset": "hostile",
            "dataset_version": 1,
            "candidate": "m:2",
            "baseline": "m:1",
            "reviewers": ["rev"],
            "overlap": 1,
            "gate": {"min_judgments": 1, "min_win_rate": 0.5},
        },
        format="json",
    ).json()

    page = new_page()
    dialogs = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    browser_login(page, live_server, "rev")
    page.goto(f"{live_server.url}/campaigns/{campaign['id']}/review/")
    for _ in XSS_OUTPUTS:
        page.wait_for_selector("#task:not([hidden])")
        shown = page.inner_text("#output-A") + page.inner_text("#output-B")
        assert "<" in shown, "the payload is shown as text"
        assert page.locator("#task img:not(#item-image), #task script, #task a").count() == 0, (
            "no element was created from it"
        )
        page.click("#output-A")  # clicking where a link would be does nothing
        assert page.evaluate("window.__pwned") is None
        item = page.inner_text("#item-id")
        page.keyboard.press("3")
        page.wait_for_function(
            "id => document.getElementById('item-id').textContent !== id || !document.getElementById('done').hidden",
            arg=item,
        )
    page.wait_for_selector("#done:not([hidden])")
    assert page.evaluate("window.__pwned") is None and dialogs == []
    assert Judgment.objects.filter(choice="tie").count() == len(XSS_OUTPUTS)


def test_labeling_by_keyboard_alone_with_help_and_suggestion(api, live_server, new_page):
    ds = api["ds"]
    ds.post("/api/v1/datasets/", {"name": "animals"}, format="json")
    items = [{"id": f"i{n}", "input": text} for n, text in enumerate(["It barks.", "It meows.", "It barks and meows."])]
    ds.post("/api/v1/datasets/animals/versions/", {"file": jsonl_file(items)}, format="multipart")
    upload(api, model="tagger", version="1", outputs=["dog", "dog", "cat"], dataset="animals")
    campaign = ds.post(
        "/api/v1/campaigns/",
        {
            "name": "animals",
            "kind": "labeling",
            "dataset": "animals",
            "dataset_version": 1,
            "candidate": "tagger:1",
            "labels": ["dog", "cat"],
            "multi_label": True,
            "reviewers": ["rev"],
            "overlap": 1,
            "gate": {"min_judgments": 1, "min_win_rate": 0.5},
        },
        format="json",
    ).json()

    page = new_page()
    browser_login(page, live_server, "rev")
    page.goto(f"{live_server.url}/campaigns/{campaign['id']}/review/")
    page.wait_for_selector("#task:not([hidden])")
    page.keyboard.press("?")
    assert page.is_visible("#help")
    page.keyboard.press("Escape")
    assert not page.is_visible("#help")

    wanted = {"It barks.": "a", "It meows.": "2", "It barks and meows.": "12"}  # 'a' accepts the suggestion "dog"
    while True:
        page.wait_for_selector("#task:not([hidden]), #done:not([hidden])")
        if page.is_visible("#done"):
            break
        text = page.inner_text("#item-input").strip()
        item = page.inner_text("#item-id")
        for key in wanted[text]:
            page.keyboard.press(key)
        page.keyboard.press("c")
        page.keyboard.type("checked by ear")
        page.keyboard.press("Enter")  # leaves the comment box, back to the keys
        page.keyboard.press("Enter")
        page.wait_for_function(
            "id => document.getElementById('item-id').textContent !== id || !document.getElementById('done').hidden",
            arg=item,
        )
    labels = {j.task.item.input: j.labels for j in Judgment.objects.select_related("task__item")}
    assert labels == {"It barks.": ["dog"], "It meows.": ["cat"], "It barks and meows.": ["dog", "cat"]}
    assert set(Judgment.objects.values_list("rationale", flat=True)) == {"checked by ear"}
    assert all(j.duration_ms and j.duration_ms > 0 for j in Judgment.objects.all())
