"""Ranking and rating in a real Chromium, by keyboard alone, with undo, skip and flag along the way."""

import pytest

from reviews.models import Assignment, Judgment
from tests.conftest import browser_login
from tests.factories import jsonl_file

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEXT_ITEM = "id => document.getElementById('item-id').textContent !== id || !document.getElementById('done').hidden"


def setup_outputs(api, versions: dict[str, list[str]], items: list[str]) -> None:
    ds = api["ds"]
    ds.post("/api/v1/datasets/", {"name": "essays"}, format="json")
    rows = [{"id": f"e{n}", "input": text} for n, text in enumerate(items)]
    assert (
        ds.post("/api/v1/datasets/essays/versions/", {"file": jsonl_file(rows)}, format="multipart").status_code == 201
    )
    ds.post("/api/v1/models/", {"name": "writer"}, format="json")
    for version, outputs in versions.items():
        ds.post("/api/v1/models/writer/versions/", {"version": version}, format="json")
        predictions = [{"id": f"e{n}", "output": out} for n, out in enumerate(outputs)]
        response = ds.post(
            f"/api/v1/models/writer/versions/{version}/predictions/",
            {"dataset": "essays", "dataset_version": 1, "file": jsonl_file(predictions)},
            format="multipart",
        )
        assert response.status_code == 201, response.json()


def open_review(new_page, live_server, campaign_id):
    page = new_page()
    browser_login(page, live_server, "rev")
    page.goto(f"{live_server.url}/campaigns/{campaign_id}/review/")
    page.wait_for_selector("#task:not([hidden])")
    # 1280x720: everything fits across, nothing scrolls sideways
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    return page


def card_texts(page) -> list[str]:
    return [text.split("\n")[-1].strip() for text in page.locator("#ranking .rank-card").all_inner_texts()]


def rank_by_keyboard(page, wanted: list[str]) -> None:
    """Selection sort with the keys a person would press: focus a card with the arrows, lift it with shift."""
    for position, text in enumerate(wanted):
        current = card_texts(page)
        index = current.index(text)
        focus = page.locator("#ranking .rank-card").evaluate_all(
            "cards => cards.findIndex(c => c.classList.contains('focused'))"
        )
        key = "ArrowDown" if index > focus else "ArrowUp"
        for _ in range(abs(index - focus)):
            page.keyboard.press(key)
        for _ in range(index - position):
            page.keyboard.press("Shift+ArrowUp")
    assert card_texts(page) == wanted


def test_ranking_by_keyboard_with_a_tie_and_an_undo(api, live_server, new_page):
    # three versions of a writer: "good", "fair" and "poor" answers to each prompt
    setup_outputs(
        api,
        {"3": ["good one", "good two"], "2": ["fair one", "fair two"], "1": ["poor one", "poor two"]},
        ["Prompt one", "Prompt two"],
    )
    campaign = (
        api["ds"]
        .post(
            "/api/v1/campaigns/",
            {
                "name": "essays ranked",
                "kind": "ranking",
                "dataset": "essays",
                "dataset_version": 1,
                "candidate": "writer:3",
                "baseline": "writer:1",
                "models": ["writer:2"],
                "reviewers": ["rev"],
                "overlap": 1,
                "gate": {"min_judgments": 1, "min_win_rate": 0.5},
            },
            format="json",
        )
        .json()
    )
    page = open_review(new_page, live_server, campaign["id"])

    first = page.inner_text("#item-id")
    suffix = "one" if first == "e0" else "two"
    rank_by_keyboard(page, [f"poor {suffix}", f"fair {suffix}", f"good {suffix}"])  # deliberately wrong
    page.keyboard.press("Enter")
    page.wait_for_function(NEXT_ITEM, arg=first)
    page.wait_for_function("() => !document.getElementById('status').textContent.includes('waiting')")
    page.keyboard.press("u")  # undo: the first item comes back
    page.wait_for_function("id => document.getElementById('item-id').textContent === id", arg=first)

    for _ in range(2):
        item = page.inner_text("#item-id")
        suffix = "one" if item == "e0" else "two"
        rank_by_keyboard(page, [f"good {suffix}", f"fair {suffix}", f"poor {suffix}"])
        page.keyboard.press("ArrowDown")  # focus "fair"
        page.keyboard.press("ArrowDown")  # focus "poor"
        page.keyboard.press("t")  # tie it with "fair"
        assert page.locator("#ranking .rank-card.tied").count() == 1
        page.keyboard.press("Enter")
        page.wait_for_function(NEXT_ITEM, arg=item)
    page.wait_for_selector("#done:not([hidden])")

    counted = Judgment.objects.counted().select_related("assignment")
    assert counted.count() == 2 and Judgment.objects.exclude(retracted_at=None).count() == 1
    for judgment in counted:
        order = judgment.assignment.slot_order  # slot -> version id, as shown
        named = [[order["ABC".index(slot)] for slot in group] for group in judgment.ranking]
        from models_app.models import ModelVersion

        versions = {mv.pk: mv.version for mv in ModelVersion.objects.all()}
        assert [[versions[v] for v in group] for group in named] in ([["3"], ["1", "2"]], [["3"], ["2", "1"]])
    results = api["ds"].get(f"/api/v1/campaigns/{campaign['id']}/results/").json()
    assert results["candidate"]["wins"] == 2 and results["mean_rank"]["writer:3"]["mean"] == 1.0


def test_rating_by_keyboard_with_skip_and_flag(api, live_server, new_page):
    setup_outputs(api, {"1": ["Paris", "Berlin", "Madrid"]}, ["Capital of France?", "Capital of Spain?", "asdf qwer"])
    campaign = (
        api["ds"]
        .post(
            "/api/v1/campaigns/",
            {
                "name": "capitals rated",
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
        .json()
    )
    page = open_review(new_page, live_server, campaign["id"])

    handled = set()
    while True:
        page.wait_for_selector("#task:not([hidden]), #done:not([hidden])")
        if page.is_visible("#done"):
            break
        item = page.inner_text("#item-id")
        question = page.inner_text("#item-input")
        if "asdf" in question:
            page.keyboard.press("x")  # flag as bad data, with the default reason
            page.keyboard.press("Enter")
        elif "Spain" in question:
            page.keyboard.press("s")
            page.keyboard.press("Control+a")
            page.keyboard.type("not my field")
            page.keyboard.press("Enter")
        else:
            page.keyboard.press("p")  # correct: pass
            page.keyboard.press("5")  # concise: 5
            assert page.locator(".rubric button[aria-pressed=true]").count() == 2
            page.keyboard.press("Enter")
        handled.add(question)
        page.wait_for_function(NEXT_ITEM, arg=item)
    assert len(handled) == 3

    judgment = Judgment.objects.get()
    assert judgment.ratings == {"A": {"correct": "pass", "concise": 5}}
    skipped = {a.skip_reason: a.flagged for a in Assignment.objects.filter(status=Assignment.Status.SKIPPED)}
    assert skipped == {"not my field": False, "Bad data": True}
    results = api["ds"].get(f"/api/v1/campaigns/{campaign['id']}/results/").json()
    assert results["criteria"]["writer:1"]["concise"]["mean"] == 5.0
