"""The review page's polish in a real Chromium: undo of any last action keeping the comment, the zoom key, the
progress count, prompts that clear, dialogs that keep focus, the layout from 360 to 2560 px, and the history panel
that changes an answer while the campaign is open (recorded, counted once) and is read-only once it is not."""

import io
import time

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from reviews.models import Assignment, Campaign, Judgment, Task
from tests.conftest import browser_login
from tests.support.screenshots import screenshot
from tests.test_browser_kinds import setup_outputs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEXT_ITEM = "id => document.getElementById('item-id').textContent !== id || !document.getElementById('done').hidden"
NO_SIDEWAYS_SCROLL = "document.scrollingElement.scrollWidth <= window.innerWidth"


def open_review(new_page, live_server, campaign_id, viewport=None):
    page = new_page()
    if viewport:
        page.set_viewport_size(viewport)
    browser_login(page, live_server, "rev")
    page.goto(f"{live_server.url}/campaigns/{campaign_id}/review/")
    page.wait_for_selector("#task:not([hidden])")
    return page


def judge(page, key: str) -> str:
    item = page.inner_text("#item-id")
    page.keyboard.press(key)
    page.wait_for_function(NEXT_ITEM, arg=item)
    return item


def saved(count: int) -> None:
    """Wait (a little) until the outbox has delivered `count` judgments."""
    for _ in range(100):
        if Judgment.objects.count() >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"only {Judgment.objects.count()} judgments saved")


def test_undo_after_a_skip_brings_back_the_skipped_item_and_its_comment(live_server, new_page, pairwise_campaign):
    page = open_review(new_page, live_server, pairwise_campaign["id"])
    judge(page, "1")
    skipped = page.inner_text("#item-id")
    page.keyboard.press("c")
    page.keyboard.type("the two read the same to me")
    page.keyboard.press("Enter")
    page.keyboard.press("s")
    page.keyboard.press("Enter")  # the default reason
    page.wait_for_function(NEXT_ITEM, arg=skipped)
    page.keyboard.press("u")
    page.wait_for_function("id => document.getElementById('item-id').textContent === id", arg=skipped)
    assert page.input_value("#comment") == "the two read the same to me"
    assert "skip was taken back" in page.inner_text("#status")
    # the judgment before the skip still stands; the skipped task is open again
    assert Judgment.objects.counted().count() == 1
    assert Assignment.objects.get(task__item__external_id=skipped, reviewer__username="rev").status == "open"
    judge(page, "2")  # and it can be judged now, the comment with it
    saved(2)
    assert Judgment.objects.get(task__item__external_id=skipped).rationale == "the two read the same to me"


def test_left_for_you_goes_down_by_one_per_judgment(live_server, new_page, pairwise_campaign):
    page = open_review(new_page, live_server, pairwise_campaign["id"])
    assert page.inner_text("#progress") == "0 done · 6 left for you"
    judge(page, "1")
    assert page.inner_text("#progress") == "1 done · 5 left for you"
    saved(1)
    page.wait_for_timeout(300)  # the acknowledgement and the next prefetch do not count it a second time
    assert page.inner_text("#progress") == "1 done · 5 left for you"
    judge(page, "3")
    saved(2)
    page.wait_for_timeout(300)
    assert page.inner_text("#progress") == "2 done · 4 left for you"


def test_the_zoom_key_zooms_the_items_image(live_server, new_page, pairwise_campaign):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (40, 90, 200)).save(buffer, format="PNG")
    for task in Task.objects.filter(campaign_id=pairwise_campaign["id"]).select_related("item"):
        task.item.image.save(f"{task.item.external_id}.png", ContentFile(buffer.getvalue()))
    page = open_review(new_page, live_server, pairwise_campaign["id"])
    page.wait_for_selector("#item-image:not([hidden])")
    width = page.evaluate("document.getElementById('item-image').getBoundingClientRect().width")
    page.keyboard.press("z")
    assert page.evaluate("document.getElementById('item-card').classList.contains('zoomed')")
    zoomed = page.evaluate("document.getElementById('item-image').getBoundingClientRect().width")
    assert zoomed > 2 * width
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.keyboard.press("z")
    assert page.evaluate("document.getElementById('item-image').getBoundingClientRect().width") == width


def active_in(page, dialog: str) -> bool:
    return page.evaluate("id => document.getElementById(id).contains(document.activeElement)", dialog)


def test_tab_stays_inside_an_open_dialog_and_focus_returns_on_close(live_server, new_page, pairwise_campaign):
    page = open_review(new_page, live_server, pairwise_campaign["id"])
    page.focus("#toggle-help")
    page.keyboard.press("Enter")
    assert page.is_visible("#help") and active_in(page, "help")
    for key in ["Tab"] * 4 + ["Shift+Tab"] * 4:
        page.keyboard.press(key)
        assert active_in(page, "help"), key
    page.keyboard.press("Escape")
    assert not page.is_visible("#help")
    assert page.evaluate("document.activeElement.id") == "toggle-help"

    page.focus("#task")
    page.keyboard.press("s")
    assert active_in(page, "skip-dialog")
    seen = set()
    for _ in range(8):
        page.keyboard.press("Tab")
        assert active_in(page, "skip-dialog")
        seen.add(page.evaluate("document.activeElement.textContent || document.activeElement.id"))
    assert len(seen) >= 4  # it cycled through the dialog's controls
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") == "task"


@pytest.mark.parametrize("width", [360, 390, 2560])
def test_no_sideways_scroll_from_360_to_2560_px(live_server, new_page, pairwise_campaign, width):
    page = open_review(new_page, live_server, pairwise_campaign["id"], viewport={"width": width, "height": 800})
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.keyboard.press("d")  # the word diff
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.keyboard.press("h")
    page.wait_for_function("() => document.getElementById('history-note').textContent !== ''")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.keyboard.press("h")
    page.keyboard.press("?")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    box = page.locator("#help .card").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width
    page.keyboard.press("Escape")
    if width == 360:
        screenshot(page, "review-360px.png", full_page=True)


def test_the_rate_every_criterion_prompt_clears_once_all_are_rated(api, live_server, new_page):
    setup_outputs(api, {"1": ["Paris", "Berlin"]}, ["Capital of France?", "Capital of Germany?"])
    campaign = api["ds"].post(
        "/api/v1/campaigns/",
        {
            "name": "capitals",
            "kind": "rating",
            "dataset": "essays",
            "dataset_version": 1,
            "candidate": "writer:1",
            "rubric": [{"name": "correct", "scale": "pass_fail"}, {"name": "concise", "scale": "likert"}],
            "reviewers": ["rev"],
            "overlap": 1,
            "gate": {"min_judgments": 1, "min_win_rate": 0.5},
        },
        format="json",
    )
    page = open_review(new_page, live_server, campaign.json()["id"], viewport={"width": 360, "height": 740})
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.keyboard.press("Enter")
    assert "Rate every criterion first" in page.inner_text("#status")
    page.keyboard.press("p")
    assert "Rate every criterion first" in page.inner_text("#status")  # one is still missing
    page.keyboard.press("4")
    assert page.inner_text("#status") == ""


def test_history_changes_an_answer_and_is_read_only_once_the_campaign_is_closed(
    live_server, new_page, pairwise_campaign
):
    page = open_review(new_page, live_server, pairwise_campaign["id"])
    items = [judge(page, key) for key in ("1", "2", "1")]
    saved(3)
    page.keyboard.press("h")
    page.wait_for_function("() => document.querySelectorAll('#history-rows tr').length === 3")
    assert [row.split("\t")[0] for row in page.locator("#history-rows tr").all_inner_texts()] == items[::-1]
    first = page.locator("#history-rows tr", has_text=items[0])
    assert "A is better" in first.inner_text()
    first.locator("button.history-change").click()
    page.wait_for_selector("#changing:not([hidden])")
    assert page.inner_text("#item-id") == items[0] and "it was: A is better" in page.inner_text("#changing")
    page.keyboard.press("3")  # a tie this time
    page.wait_for_function("() => document.getElementById('status').textContent.includes('was changed')")
    page.wait_for_function(
        "item => [...document.querySelectorAll('#history-rows tr')].some("
        "r => r.textContent.includes(item) && r.textContent.includes('changed from: A is better'))",
        arg=items[0],
    )
    assert page.inner_text("#item-id") not in items  # back to new work
    old, new = Judgment.objects.filter(task__item__external_id=items[0]).order_by("id")
    assert (old.choice, old.retracted_at is not None, new.choice, new.replaces_id) == ("A", True, "tie", old.pk)
    assert Judgment.objects.counted().filter(reviewer__username="rev").count() == 3  # the change counts once
    screenshot(page, "review-history.png", full_page=True)

    Campaign.objects.filter(pk=pairwise_campaign["id"]).update(status="closed", status_reason="signed off")
    page.keyboard.press("h")
    page.keyboard.press("h")
    page.wait_for_function("() => document.getElementById('history-note').textContent.startsWith('Read only')")
    assert "closed" in page.inner_text("#history-note")
    assert page.locator("#history-rows button.history-change").count() == 0
