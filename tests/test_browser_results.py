"""The results page in a real Chromium: every chart draws, the decision banner shows, hostile tags stay text."""

import pytest

from reviews.services.decisions import campaign_gate_check
from tests.conftest import browser_login
from tests.factories import jsonl_file

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_every_chart_renders_and_the_decision_is_announced(api, live_server, new_page):
    ds = api["ds"]
    ds.post("/api/v1/datasets/", {"name": "sums"}, format="json")
    items = [
        {"id": f"q{i}", "input": f"{i} + {i}?", "tags": ["<img src=x onerror=window.__pwned=1>" if i % 2 else "even"]}
        for i in range(12)
    ]
    ds.post("/api/v1/datasets/sums/versions/", {"file": jsonl_file(items)}, format="multipart")
    ds.post("/api/v1/models/", {"name": "adder"}, format="json")
    for version, offset in (("2", 0), ("1", 1)):
        ds.post("/api/v1/models/adder/versions/", {"version": version}, format="json")
        rows = [{"id": f"q{i}", "output": str(2 * i + offset)} for i in range(12)]
        ds.post(
            f"/api/v1/models/adder/versions/{version}/predictions/",
            {"dataset": "sums", "dataset_version": 1, "file": jsonl_file(rows)},
            format="multipart",
        )
    campaign = ds.post(
        "/api/v1/campaigns/",
        {
            "name": "sums",
            "kind": "pairwise",
            "dataset": "sums",
            "dataset_version": 1,
            "candidate": "adder:2",
            "baseline": "adder:1",
            "reviewers": ["rev", "rev2"],
            "overlap": 2,
            "gate": {"min_judgments": 10, "alternative": 0.95, "stop_when_decided": False},
        },
        format="json",
    ).json()
    for role in ("reviewer", "reviewer2"):
        client = api[role]
        while (task := client.get(f"/api/v1/campaigns/{campaign['id']}/next/")).status_code == 200:
            body = task.json()
            right = str(2 * int(body["item"][1:]))
            slot = next(o["slot"] for o in body["outputs"] if o["output"] == right)
            client.post(f"/api/v1/tasks/{body['task']}/judgments/", {"choice": slot}, format="json")
    assert campaign_gate_check(campaign_id=campaign["id"]) == "pass"

    page = new_page()
    browser_login(page, live_server, "approver")
    page.goto(f"{live_server.url}/campaigns/{campaign['id']}/")
    for chart in ("win-rate-chart", "sequence-chart", "slices-chart", "agreement-chart", "position-bias-chart"):
        page.wait_for_selector(f"#{chart} .main-svg", timeout=10_000)
    assert "pass" in page.inner_text("#decided-banner")
    assert page.inner_text("#gate-status").strip() == "pass"
    assert page.locator("img[src=x]").count() == 0 and page.evaluate("window.__pwned") is None
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
