"""The inspection page in a real Chromium: the trend chart draws under the strict CSP with the alerted period in
words, and the version's page shows the alert card. Writes docs/screenshots/inspection-trend.png with
SIGNOFF_SCREENSHOTS=1."""

from datetime import UTC, datetime, timedelta

import pytest

from inspections.models import InspectionSchedule
from inspections.services.alerts import inspection_alerts_check
from inspections.services.schedules import inspection_run
from tests.conftest import browser_login
from tests.support.csp import Violations
from tests.support.screenshots import screenshot
from tests.test_inspections import create_schedule, judge_period, logs, upload

# the fixture (a model with version 1 in production), imported as itself so pytest finds it here
from tests.test_inspections import tagger as tagger

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_trend_chart_draws_and_the_alert_shows_on_the_inspection_and_version_pages(
    api, tagger, live_server, new_page
):
    schedule = InspectionSchedule.objects.get(
        pk=create_schedule(api["ds"], every="7d", sample=20, floor=0.7).json()["id"]
    )
    start = datetime(2026, 11, 2, tzinfo=UTC)
    for period, wrong in enumerate((1, 2, 1, 3, 11)):
        begin = start + timedelta(days=7 * period)
        upload(api["ds"], logs(20, start=period * 100, at=begin + timedelta(hours=3), wrong=wrong))
        run, _ = inspection_run(
            schedule=schedule, period_start=begin, period_end=begin + timedelta(days=7), trigger="beat"
        )
        judge_period(api, run.campaign_id)
        inspection_alerts_check(schedule=schedule)

    page = new_page()
    violations = Violations(page)
    browser_login(page, live_server, "approver")
    page.goto(f"{live_server.url}/inspections/{schedule.pk}/")
    page.wait_for_selector("#trend-chart .main-svg", timeout=10_000)
    assert page.locator("#trend-chart .point").count() == 5  # one marker per period, each with its interval
    alert = page.locator("#runs tr.alerted")
    assert alert.count() == 1 and "two-proportion z-test" in alert.inner_text()
    assert "below the floor 0.700" in alert.inner_text()
    assert violations.take() == []
    screenshot(page, "inspection-trend.png", full_page=True)

    page.goto(f"{live_server.url}/models/tagger/1/")
    card = page.locator("#inspections")
    assert "Inspection alert" in card.inner_text()
    card.get_by_role("link", name="See the trend").click()
    page.wait_for_selector("#trend-chart .main-svg")
    assert violations.take() == []


def test_reviewers_cannot_open_an_inspection_page(api, tagger, live_server, new_page):
    schedule = create_schedule(api["ds"]).json()
    page = new_page()
    browser_login(page, live_server, "rev")
    response = page.goto(f"{live_server.url}/inspections/{schedule['id']}/")
    assert response is not None and response.status == 403
