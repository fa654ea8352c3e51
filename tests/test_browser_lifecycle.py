"""A campaign's plan, life and end in a real Chromium, with a real Celery worker checking the gate:
the new-campaign form states the plan before anything is created, a forty-item campaign judged to the end shows
pass or fail, a judgment made while the campaign is paused is kept and sent once it is resumed, and the reviewer
is told why work ended."""

import time

import pytest

from reviews.models import Campaign, Judgment
from tests.conftest import browser_login
from tests.factories import jsonl_file
from tests.support.worker import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def forty_items(api) -> None:
    ds = api["ds"]
    assert ds.post("/api/v1/datasets/", {"name": "forty"}, format="json").status_code == 201
    items = [{"id": f"item-{i}", "input": f"What is {i} + {i}?"} for i in range(40)]
    assert (
        ds.post("/api/v1/datasets/forty/versions/", {"file": jsonl_file(items)}, format="multipart").status_code == 201
    )
    assert ds.post("/api/v1/models/", {"name": "adder"}, format="json").status_code == 201
    for version, offset in (("2", 0), ("1", 1)):
        assert ds.post("/api/v1/models/adder/versions/", {"version": version}, format="json").status_code == 201
        rows = [{"id": f"item-{i}", "output": str(2 * i + offset)} for i in range(40)]
        response = ds.post(
            f"/api/v1/models/adder/versions/{version}/predictions/",
            {"dataset": "forty", "dataset_version": 1, "file": jsonl_file(rows)},
            format="multipart",
        )
        assert response.status_code == 201, response.json()


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_forty_items_planned_in_the_form_judged_to_the_end_show_pass_or_fail(api, users, live_server, new_page):
    forty_items(api)
    lead = new_page()
    browser_login(lead, live_server, "ds")
    lead.goto(f"{live_server.url}/campaigns/new/")
    lead.fill("#id_name", "forty to the end")
    lead.select_option("#id_kind", "pairwise")
    lead.select_option("#id_dataset_version", label="forty v1")
    lead.select_option("#id_candidate", label="adder:2")
    lead.select_option("#id_baseline", label="adder:1")
    lead.check(f"input[name=reviewers][value='{users['reviewer'].pk}']")
    lead.fill("#id_min_judgments", "10")
    lead.dispatch_event("#id_min_judgments", "change")
    # the plan is stated while the form is filled in, before anything is created
    lead.wait_for_selector("#plan-summary")
    assert lead.inner_text("#plan-summary").startswith("40 items: power 0.")
    warning = lead.inner_text("#plan-preview .warning")
    assert warning.startswith("With 40 items this test detects a 0.60 win rate") and "items give 80 %" in warning
    assert not Campaign.objects.exists()
    lead.click("button.primary")
    lead.wait_for_url(f"{live_server.url}/campaigns/*/")
    campaign = Campaign.objects.get()
    assert lead.inner_text("#plan").count("40 items") == 1 and "With 40 items" in lead.inner_text(
        "#gate-progress ~ p.warning"
    )

    with celery_worker():
        reviewer = new_page()
        browser_login(reviewer, live_server, "rev")
        reviewer.goto(f"{live_server.url}/campaigns/{campaign.pk}/review/")
        pressed = 0
        while True:
            reviewer.wait_for_selector("#task:not([hidden]), #done:not([hidden])")
            if reviewer.is_visible("#done"):
                break
            item = reviewer.inner_text("#item-id")
            number = int(item.split("-")[1])
            right = str(2 * number)
            # the candidate wins seven items in ten
            candidate_side = "A" if reviewer.inner_text("#output-A").strip() == right else "B"
            other_side = "B" if candidate_side == "A" else "A"
            reviewer.keyboard.press("1" if (candidate_side if number % 10 < 7 else other_side) == "A" else "2")
            pressed += 1
            reviewer.wait_for_function(
                "id => document.getElementById('item-id').textContent !== id || "
                "!document.getElementById('done').hidden",
                arg=item,
            )
        assert wait_for(lambda: Judgment.objects.count() == pressed)
        assert wait_for(lambda: Campaign.objects.get(pk=campaign.pk).decision in ("pass", "fail"))
        campaign.refresh_from_db()
        # the reviewer is told why, with the server's counts
        reviewer.wait_for_function("() => document.getElementById('done-counts').textContent !== ''")
        assert f"You judged {pressed} items" in reviewer.inner_text("#done-counts")
        if pressed < 40:
            assert reviewer.inner_text("#done-title") == "The gate decided"
            assert f"after {campaign.decided_after} of 40 items were judged" in reviewer.inner_text("#done-reason")

    lead.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    assert lead.inner_text("#gate-status").strip() == campaign.decision
    assert lead.inner_text("#decided-banner").startswith(
        f"The gate decided {campaign.decision} after {campaign.decided_after} of 40"
    )


def test_a_judgment_made_while_paused_is_kept_and_sent_once_resumed(api, users, loop_data, live_server, new_page):
    created = (
        api["ds"]
        .post(
            "/api/v1/campaigns/",
            {
                "name": "pause me",
                "kind": "pairwise",
                **loop_data,
                "reviewers": ["rev"],
                "overlap": 1,
            },
            format="json",
        )
        .json()
    )
    reviewer = new_page()
    browser_login(reviewer, live_server, "rev")
    reviewer.goto(f"{live_server.url}/campaigns/{created['id']}/review/")
    reviewer.wait_for_selector("#task:not([hidden])")

    lead = new_page()
    browser_login(lead, live_server, "ds")
    lead.goto(f"{live_server.url}/campaigns/{created['id']}/")
    lead.fill("#lead-controls input[name=reason]", "checking a bad item")
    lead.click("#lead-controls button[value=paused]")
    lead.wait_for_selector("#status-banner")
    assert "Paused by the lead: checking a bad item" in lead.inner_text("#status-banner")

    reviewer.keyboard.press("1")
    reviewer.wait_for_function("() => document.getElementById('status').textContent.includes('kept')")
    assert "paused" in reviewer.inner_text("#status") and Judgment.objects.count() == 0

    lead.click("#lead-controls button[value=active]")
    lead.wait_for_selector("#lead-controls button[value=paused]")
    assert wait_for(lambda: Judgment.objects.count() == 1), "the kept judgment is sent once the campaign is resumed"

    lead.click("#lead-controls button[value=closed]")
    lead.wait_for_selector("#status-banner")
    reviewer.reload()
    reviewer.wait_for_selector("#done:not([hidden])")
    reviewer.wait_for_function("() => document.getElementById('done-title').textContent === 'Closed'")
    assert "Closed by the lead" in reviewer.inner_text("#done-reason")
    assert "You judged 1 item" in reviewer.inner_text("#done-counts")
