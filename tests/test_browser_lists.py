"""The campaign list in Chromium: search, filter and page, with everything kept in the URL; the approver's queue.
Its screenshots: campaign-list-paged.png and approver-queue.png (tests/support/screenshots.py)."""

from urllib.parse import parse_qs, urlsplit

import pytest

from bench.list_pages import build_lists
from tests.conftest import browser_login
from tests.support.screenshots import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def campaign_names(page) -> list[str]:
    return page.locator("#campaign-table tbody td:first-child").all_inner_texts()


def test_search_filters_and_pager_on_campaigns_keep_the_query_in_the_url(users, live_server, new_page):
    build_lists(campaigns=1000, items=100)
    page = new_page()
    browser_login(page, live_server, "ds")
    page.goto(f"{live_server.url}/campaigns/")
    assert page.locator(".pager-range").inner_text() == "1–50 of 1000"

    page.get_by_label("Search", exact=True).fill("campaign 0")  # campaign 0000 .. 0999: all of them
    page.get_by_label("Kind").select_option("ranking")
    page.get_by_label("Gate decided").select_option("false")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/campaigns/?*")
    assert query_of(page.url) == {"search": ["campaign 0"], "kind": ["ranking"], "decided": ["false"]}
    # ranking: n % 4 == 1; undecided: n % 5 != 0 -> 200 of the 1000
    assert page.locator(".pager-range").inner_text() == "1–50 of 200"
    first = campaign_names(page)
    assert len(first) == 50 and all(int(name.split()[1]) % 4 == 1 and int(name.split()[1]) % 5 for name in first)

    page.get_by_role("link", name="Next →").click()
    page.wait_for_url("**page=2*")
    assert query_of(page.url) == {"search": ["campaign 0"], "kind": ["ranking"], "decided": ["false"], "page": ["2"]}
    assert page.locator(".pager-range").inner_text() == "51–100 of 200"
    second = campaign_names(page)
    assert len(second) == 50 and not set(second) & set(first)
    # the form still shows what the list is filtered by, so the next search starts from it
    assert page.get_by_label("Kind").input_value() == "ranking"
    assert page.get_by_label("Search", exact=True).input_value() == "campaign 0"
    page.get_by_role("navigation", name="Campaign pages").get_by_role("link", name="4", exact=True).click()
    page.wait_for_url("**page=4*")
    assert page.locator(".pager-range").inner_text() == "151–200 of 200"
    screenshot(page, "campaign-list-paged.png", full_page=True)

    page.get_by_label("Search", exact=True).fill("campaign 000")  # a new search starts again at page 1
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(lambda url: "search=campaign+000" in url)
    assert "page" not in query_of(page.url)
    assert campaign_names(page) == ["campaign 0009", "campaign 0001"]  # ranking, undecided; newest first


def test_approver_queue_page(users, live_server, new_page):
    build_lists(campaigns=300, items=100)
    page = new_page()
    browser_login(page, live_server, "approver")
    page.get_by_role("link", name="Sign-off queue").click()
    page.wait_for_url("**/signoff/")
    # 60 decided (every fifth), 6 of them already signed by this approver
    assert page.locator(".pager-range").inner_text() == "1–50 of 54"
    assert page.locator("#approver-queue tbody tr").count() == 50
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url("**page=2*")
    assert page.locator("#approver-queue tbody tr").count() == 4
    page.goto(f"{live_server.url}/signoff/")
    screenshot(page, "approver-queue.png", full_page=False)
