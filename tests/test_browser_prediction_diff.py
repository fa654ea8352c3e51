"""The prediction diff in a real Chromium: the version page's diff against production (counts, per tag, changed
items side by side with the review screen's neutral word diff, hostile outputs inert), picking another version;
and a diff-first campaign's review screen, blind as ever, serving only the changed items."""

import re

import pytest
from playwright.sync_api import expect

from models_app.models import ModelVersion
from reviews.models import Campaign
from tests.conftest import browser_login
from tests.factories import jsonl_file
from tests.support.screenshots import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = "<img src=x onerror=\"window.__pwned='diff'\"> the cat sat"
N = 8
# new against old: q0..q4 identical, q5..q7 changed (q7 hostile); "other" differs from "new" on q0 only
NEW = {f"q{i}": f"the answer is {i}" for i in range(N)} | {"q7": HOSTILE}
OLD = {f"q{i}": f"the answer is {i}" if i < 5 else f"the answer was {i + 1}" for i in range(N)}
OTHER = NEW | {"q0": "something else"}


@pytest.fixture
def diffed(api):
    ds = api["ds"]
    assert ds.post("/api/v1/datasets/", {"name": "qa"}, format="json").status_code == 201
    items = [{"id": f"q{i}", "input": f"question {i}", "tags": ["odd" if i % 2 else "even"]} for i in range(N)]
    assert ds.post("/api/v1/datasets/qa/versions/", {"file": jsonl_file(items)}, format="multipart").status_code == 201
    assert ds.post("/api/v1/models/", {"name": "qa-model"}, format="json").status_code == 201
    for version, outputs in (("new", NEW), ("old", OLD), ("other", OTHER)):
        assert ds.post("/api/v1/models/qa-model/versions/", {"version": version}, format="json").status_code == 201
        rows = [{"id": k, "output": v} for k, v in outputs.items()]
        response = ds.post(
            f"/api/v1/models/qa-model/versions/{version}/predictions/",
            {"dataset": "qa", "dataset_version": 1, "file": jsonl_file(rows)},
            format="multipart",
        )
        assert response.status_code == 201, response.json()
    ModelVersion.objects.filter(version="old").update(stage=ModelVersion.Stage.PRODUCTION)
    return api


def test_version_page_diffs_against_production_with_the_neutral_word_diff(diffed, live_server, new_page):
    page = new_page()
    browser_login(page, live_server, "ds")
    page.goto(f"{live_server.url}/models/qa-model/new/")
    page.click("#prediction-diff-link")
    page.wait_for_selector("#diff-counts")
    assert "against old" in page.inner_text("h2")
    counts = [page.inner_text(f"#count-{c}") for c in ("identical", "changed", "missing")]
    assert counts == ["5", "3", "0"]
    assert "Changed items (1–3)" in page.inner_text("#diff-changed h2")
    assert page.locator("#diff-by-tag tbody tr").count() == 2
    rows = page.locator("tr.diff-row")
    assert [rows.nth(i).get_attribute("data-id") for i in range(rows.count())] == ["q5", "q6", "q7"]
    # both sides carry the same mark: neither output is styled as the right one
    first = rows.nth(0).locator("td").nth(1), rows.nth(0).locator("td").nth(2)
    assert first[0].locator("mark.diff-changed").inner_text() == "is 5"
    assert first[1].locator("mark.diff-changed").inner_text() == "was 6"
    assert page.locator("mark:not(.diff-changed)").count() == 0
    hostile = rows.nth(2).locator("td").nth(1)
    assert "<img" in hostile.inner_text() and hostile.locator("img").count() == 0
    assert page.evaluate("window.__pwned") is None
    screenshot(page, "prediction-diff.png", full_page=True)

    page.select_option("#diff-against", "other")
    page.click("#diff-form button[type=submit]")
    page.wait_for_url(re.compile(r"against=other"))
    assert [page.inner_text(f"#count-{c}") for c in ("identical", "changed", "missing")] == ["7", "1", "0"]


def test_a_reviewer_cannot_open_the_diff_page(diffed, live_server, new_page):
    page = new_page()
    browser_login(page, live_server, "rev")
    response = page.goto(f"{live_server.url}/models/qa-model/new/diff/")
    assert response is not None and response.status == 403


def test_a_diff_first_review_screen_is_blind_and_serves_only_changed_items(diffed, live_server, new_page):
    response = diffed["ds"].post(
        "/api/v1/campaigns/",
        {
            "name": "qa diff first",
            "kind": "pairwise",
            "dataset": "qa",
            "dataset_version": 1,
            "candidate": "qa-model:new",
            "baseline": "qa-model:old",
            "reviewers": ["rev"],
            "items": "changed",
            "gate": {"min_judgments": 1, "min_win_rate": 0.5, "stop_when_decided": False},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    campaign = response.json()
    assert (campaign["tasks"], campaign["identical_items"]) == (3, 5)
    page = new_page()
    browser_login(page, live_server, "rev")
    page.goto(f"{live_server.url}/campaigns/{campaign['id']}/review/")
    served = []
    for _ in range(3):
        page.wait_for_selector("#task:not([hidden])")
        served.append(page.inner_text("#item-id"))
        text = page.inner_text("body").lower()
        for hint in ("candidate", "baseline", "qa-model", "new", "old", "production"):
            assert hint not in text, f"the review screen says {hint!r}"
        page.keyboard.press("d")  # the word diff: one neutral mark on both sides
        marks_a = page.locator("#output-A mark").evaluate_all("ms => ms.map(m => m.className)")
        marks_b = page.locator("#output-B mark").evaluate_all("ms => ms.map(m => m.className)")
        assert marks_a and marks_b and set(marks_a) == set(marks_b) == {"diff-changed"}
        assert page.evaluate("window.__pwned") is None
        page.keyboard.press("3")  # tie
        if len(served) < 3:
            expect(page.locator("#item-id")).not_to_have_text(served[-1])
    page.wait_for_selector("#done:not([hidden])")
    assert sorted(served) == ["q5", "q6", "q7"]
    assert diffed["reviewer"].get(f"/api/v1/campaigns/{campaign['id']}/next/").status_code == 204  # nothing more


def test_the_campaign_form_offers_diff_first_and_counts_identical_and_changed_items(
    diffed, users, live_server, new_page
):
    page = new_page()
    browser_login(page, live_server, "ds")
    page.goto(f"{live_server.url}/campaigns/new/")
    page.fill("#id_name", "qa, the diff")
    page.select_option("#id_dataset_version", label="qa v1")
    page.wait_for_function("() => document.getElementById('versions-note').textContent !== ''")
    page.select_option("#id_candidate", label="qa-model:new")
    page.select_option("#id_baseline", label="qa-model:old")
    page.check(f"input[name=reviewers][value='{users['reviewer'].pk}']")
    page.fill("#id_min_judgments", "1")
    page.select_option("#id_items", "changed")
    page.wait_for_selector("#plan-diff-counts")
    assert page.inner_text("#plan-diff-counts").startswith("Only the 3 items whose outputs differ")
    assert "5 have identical outputs" in page.inner_text("#plan-diff-counts")
    assert page.inner_text("#plan-summary").startswith("3 items: power ")
    page.select_option("#id_kind", "rating")
    assert page.is_hidden("#id_items")  # diff-first is for pairwise campaigns
    page.select_option("#id_kind", "pairwise")
    page.click("button.primary")
    page.wait_for_url(re.compile(r"/campaigns/\d+/$"))
    campaign = Campaign.objects.get()
    assert (campaign.items, campaign.identical_items, campaign.tasks.ordinary().count()) == ("changed", 5, 3)
