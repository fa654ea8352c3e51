"""In Chromium: a locked-out login says why on the login page; a person makes and revokes a token from the header."""

import pytest

from core.models import User
from tests.conftest import browser_login
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_locked_out_person_is_told_why_and_then_the_right_password_is_refused(live_server, new_page, settings):
    settings.AXES_FAILURE_LIMIT = 3
    UserFactory.create(username="dana", role=User.Role.DATA_SCIENTIST)
    page = new_page()
    for _ in range(3):
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", "dana")
        page.fill("#id_password", "wrong")
        page.press("#id_password", "Enter")
        page.wait_for_load_state()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "dana")
    page.fill("#id_password", "pw-for-tests")
    page.press("#id_password", "Enter")
    page.wait_for_selector("#locked-out")
    assert page.inner_text("#locked-out") == (
        "Too many failed attempts for this account or address; try again in 15 minutes, or ask an admin to unlock it."
    )
    assert page.url.endswith("/login/")


def test_a_person_creates_a_token_from_the_header_sees_it_once_and_revokes_it(live_server, new_page):
    UserFactory.create(username="rita", role=User.Role.REVIEWER)
    page = new_page()
    browser_login(page, live_server, "rita")
    page.click("header >> text=API tokens")
    page.fill("#id_name", "my script")
    page.click("text=Create token")
    key = page.inner_text("#token-value").strip()
    assert key.startswith("so_")
    page.goto(f"{live_server.url}/account/tokens/")
    assert page.locator("#new-token").count() == 0 and key not in page.content()
    row = page.locator("#tokens tbody tr", has_text="my script")
    row.locator("text=Revoke").click()
    page.wait_for_selector("#tokens >> text=No tokens.")
