"""In Chromium: the registry's comparison of versions, the verdict page's evidence, and the defects issue 15 listed
elsewhere (past tenses, a refused sign-off's rationale, dataset items as JSON, the decided state, the discard's
return, nested guideline lists, the evidence chart's axis)."""

import json

import pytest
from django.core.cache import cache

from core.models import User
from reviews.models import Judgment
from reviews.services.decisions import campaign_gate_check
from reviews.services.demo import PAIRWISE_GUIDELINES
from tests.conftest import browser_login, token_client
from tests.factories import UserFactory, jsonl_file
from tests.support.screenshots import screenshot
from tests.test_gate_flow import judge
from tests.test_registry_compare import describe_versions, signed_pass

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def campaign(api, loop_data, **body) -> int:
    response = api["ds"].post(
        "/api/v1/campaigns/",
        {
            "name": "calc 2 vs 1",
            "kind": "pairwise",
            **loop_data,
            "reviewers": ["rev", "rev2"],
            "overlap": 1,
            "gate": {"min_judgments": 3, "alternative": 0.95},
            **body,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def test_approver_compares_versions_from_the_registry_and_opens_the_verdict(
    api, loop_data, live_server, new_page, tmp_path
):
    cache.clear()
    describe_versions()
    cid = signed_pass(api, loop_data)
    page = new_page()
    browser_login(page, live_server, "approver")
    page.goto(f"{live_server.url}/models/")
    form = page.locator("form.compare-form[data-model=calc]")
    form.get_by_label("compare version 1").check()
    form.get_by_label("compare version 2").check()
    form.get_by_role("button", name="Compare selected versions").click()
    page.wait_for_selector("#compare-campaigns")
    assert "v=2" in page.url and "v=1" in page.url
    acc = page.locator("#compare-metrics tr", has_text="acc")
    assert "differs" in (acc.get_attribute("class") or "") and "(-0.05)" in acc.inner_text()
    assert "differs" not in (page.locator("#compare-params tr", has_text="lr").get_attribute("class") or "")
    row = page.locator("#compare-campaigns tbody tr").first
    cells = row.locator("td")
    assert "candidate" in cells.nth(0).inner_text() and "win rate 1.000 [" in cells.nth(0).inner_text()
    assert "baseline" in cells.nth(1).inner_text() and "candidate's win rate" in cells.nth(1).inner_text()
    assert "approved by approver" in cells.nth(2).inner_text()
    screenshot(page, "registry-compare.png", full_page=True)

    cells.nth(2).get_by_role("link", name="approved").click()
    page.wait_for_selector("#evidence")
    assert page.locator("h1").inner_text().endswith(": approved")
    evidence = page.inner_text("#evidence")
    assert "1.000 [" in page.inner_text("#evidence-win-rate") and "candidate calc:2" in evidence
    assert "<!doctype" not in page.content() and page.locator("#evidence pre").count() == 0
    screenshot(page, "verdict-detail.png", full_page=True)
    with page.expect_download() as download:
        page.click("#report-link")
    assert download.value.suggested_filename == f"signoff-campaign-{cid}-report.html"


def test_refused_signoff_keeps_the_rationale_and_signing_speaks_in_words(api, loop_data, live_server, new_page):
    cid = campaign(api, loop_data)
    page = new_page()
    browser_login(page, live_server, "approver")
    page.goto(f"{live_server.url}/campaigns/{cid}/")
    page.check("#signoff input[value=approve]")
    page.fill("#id_rationale", "Looks right to me, and a long reason I would hate to type twice.")
    page.click("#signoff button[type=submit]")
    page.wait_for_selector(".msg-error")
    assert "gate" in page.inner_text(".msg-error").lower()  # approving needs the gate to pass
    assert page.input_value("#id_rationale") == "Looks right to me, and a long reason I would hate to type twice."
    assert page.is_checked("#signoff input[value=approve]")

    judge(api["reviewer"], cid, "candidate", 6)
    assert campaign_gate_check(campaign_id=cid) == "pass"
    page.goto(f"{live_server.url}/campaigns/{cid}/")
    assert page.inner_text("#campaign-status") == "decided: pass — awaiting sign-off"
    page.goto(f"{live_server.url}/campaigns/")
    assert "decided: pass — awaiting sign-off" in page.inner_text("main")

    page.goto(f"{live_server.url}/campaigns/{cid}/")
    page.check("#signoff input[value=reject]")
    page.fill("#id_rationale", "Not on my watch.")
    page.click("#signoff button[type=submit]")
    page.wait_for_selector(".msg-success")
    assert page.inner_text(".msg-success").startswith("Signed: rejected.")
    assert page.inner_text("#signoff .verdict").startswith("Rejected by approver")
    assert page.inner_text("#campaign-status") == "closed"
    page.goto(f"{live_server.url}/")
    assert "rejected" in page.inner_text("main") and "rejectd" not in page.content().lower()


def test_dataset_items_show_their_json_escaped(api, live_server, new_page):
    api["ds"].post("/api/v1/datasets/", {"name": "qa"}, format="json")
    items = [{"id": "q1", "input": {"question": "Is <b>this</b> bold?", "n": 2}, "reference": {"answer": "no"}}]
    assert (
        api["ds"].post("/api/v1/datasets/qa/versions/", {"file": jsonl_file(items)}, format="multipart").status_code
        == 201
    )
    page = new_page()
    browser_login(page, live_server, "ds")
    page.goto(f"{live_server.url}/datasets/qa/")
    cells = page.locator("table.items tbody tr td")
    shown = cells.nth(1).inner_text()
    assert shown.startswith('{\n  "') and json.loads(shown) == {"question": "Is <b>this</b> bold?", "n": 2}
    assert cells.nth(2).inner_text() == '{\n  "answer": "no"\n}'
    assert page.locator("table.items b").count() == 0 and "{'question'" not in page.content()


def test_discarding_returns_to_the_filtered_list_at_the_item(api, loop_data, live_server, new_page):
    UserFactory.create(username="rev3", role=User.Role.REVIEWER)
    cid = campaign(
        api, loop_data, reviewers=["rev", "rev2", "rev3"], overlap=3, gate={"min_judgments": 50, "alternative": 0.95}
    )
    judge(api["reviewer"], cid, "candidate", 6)
    judge(api["reviewer2"], cid, "baseline", 6)
    judge(token_client(User.objects.get(username="rev3")), cid, "baseline", 6)  # every item contested
    page = new_page()
    browser_login(page, live_server, "ds")
    page.goto(f"{live_server.url}/campaigns/{cid}/judgments/?contested=1")
    item = page.locator("section.judgments-item").nth(4)
    task_anchor = item.get_attribute("id")
    rev3 = item.locator("tbody tr", has_text="rev3")  # still contested without it: the item stays in the list
    rev3.locator("input[name=reason]").fill("reviewer misread the task")
    rev3.get_by_role("button", name="Discard").click()
    page.wait_for_selector(".msg-success")
    assert page.url.endswith(f"/campaigns/{cid}/judgments/?contested=1#{task_anchor}")
    assert page.evaluate("window.scrollY") > 0
    top = page.evaluate(f"document.getElementById('{task_anchor}').getBoundingClientRect().top")
    assert 0 <= top < 200  # the item is where the lead left it, at the top of the view
    assert Judgment.objects.filter(discarded_at__isnull=False).count() == 1

    # the gate's evidence chart names its unit once, in words (it read "item (mean of its judgments)s")
    page.goto(f"{live_server.url}/campaigns/{cid}/")
    page.wait_for_selector("#sequence-chart .xtitle")
    axis = page.locator("#sequence-chart .xtitle").text_content()
    assert axis == "outcomes in arrival order, one per item (mean of its 3 judgments)" and ")s" not in axis


def test_guidelines_nested_list_renders_nested(api, loop_data, live_server, new_page):
    cid = campaign(api, loop_data, guidelines=PAIRWISE_GUIDELINES)
    page = new_page()
    browser_login(page, live_server, "rev")
    page.goto(f"{live_server.url}/campaigns/{cid}/review/")
    page.click("#toggle-guidelines")
    nested = page.locator("#guidelines ol > li > ul > li")
    assert nested.count() == 3 and nested.first.is_visible()
    assert page.locator("#guidelines ol > li").count() == 3
    assert "   - " not in page.inner_text("#guidelines")
