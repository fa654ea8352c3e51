"""Every page type in a real Chromium, as each role that sees it: it carries its Content-Security-Policy and runs
without one violation, with the network beyond 127.0.0.1 cut off; and axe-core finds no serious or critical
accessibility violation in it. Also: the API docs render from the installed package, the downloaded report draws its
charts under its own policy and still reads when opened from disk, and an approver signs a verdict off with the
keyboard alone.

To cover a new page, add a `Screen` to SCREENS: the role that opens it, a name, and how to build its URL from the
seeded objects (plus, where the page needs it, a selector to wait for and an action such as opening a dialog).
Everything here shares one seeded set of campaigns, one server and one logged-in browser context per role, so a
screen costs a page load and an axe run (about a second on a busy 2-core machine). The policy and the accessibility
of a page are checked in the same visit: one walk, not one per concern."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.test.testcases import LiveServerThread
from django.test.utils import override_settings
from knox.models import AuthToken
from playwright.sync_api import Error as PlaywrightError

from core.models import User
from inspections.models import InspectionRun, InspectionSchedule
from inspections.services.alerts import inspection_alerts_check
from inspections.services.schedules import inspection_run
from models_app.models import ModelVersion
from reviews.models import Campaign, Verdict
from reviews.services.decisions import campaign_gate_check
from tests.conftest import browser_login, token_client
from tests.factories import UserFactory, jsonl_file, png_base64
from tests.support.axe import describe, serious_violations
from tests.support.csp import Violations, assert_strict, directives

pytestmark = [pytest.mark.browser]

ROLES = {  # role in SCREENS -> username (None: not logged in)
    "anonymous": None,
    "reviewer": "rev",
    "lead": "ds",  # the data scientist who owns every campaign here
    "approver": "approver",
    "admin": "admin",
}


@dataclass
class Seed:
    """What the URLs point at: campaign ids by name, the signed verdict, a webhook endpoint."""

    campaigns: dict[str, int] = field(default_factory=dict)
    verdict: int = 0
    webhook: int = 0
    inspection: int = 0


@dataclass(frozen=True)
class Screen:
    role: str
    name: str
    path: Callable[[Seed], str]
    status: int = 200
    ready: str | None = None  # a selector that is there once the page's scripts have drawn it
    act: Callable[[Any], None] | None = None  # done after `ready`, before the scan: open a dialog, a panel
    exclude: str | None = None  # repeats of what the scan already covers, left out where they make it slow
    policy: str = "strict"  # the site's own policy; "redoc", "browsable" and "report" have theirs (README, CSP)
    scan: bool = True  # False: checked against its policy only (DRF's browsable API: its templates, not ours)


def campaign(name: str, suffix: str = "") -> Callable[[Seed], str]:
    return lambda seed: f"/campaigns/{seed.campaigns[name]}/{suffix}"


def press(*keys: str, then: str) -> Callable[[Any], None]:
    """Press keys on the review screen, then wait for what they open."""

    def act(page: Any) -> None:
        for key in keys:
            page.keyboard.press(key)
        page.wait_for_selector(then)

    return act


def upload_a_bad_file(page: Any) -> None:
    page.set_input_files(
        "form.upload input[type=file]",
        files=[{"name": "bad.jsonl", "mimeType": "application/json", "buffer": b'{"id": "x"}\nnot json\n'}],
    )
    page.click("form.upload button[type=submit]")
    page.wait_for_selector("[data-upload-errors] li")


def fill_a_campaign(page: Any) -> None:
    """The new-campaign form with its plan and the first task's preview drawn."""
    page.fill("#id_name", "planned")
    page.select_option("#id_kind", "pairwise")
    page.select_option("#id_dataset_version", label="sums v1")
    page.wait_for_function("() => document.getElementById('versions-note').textContent !== ''")
    page.select_option("#id_candidate", label="adder:2")
    page.select_option("#id_baseline", label="adder:1")
    page.locator("input[name=reviewers]").first.check()
    page.fill("#id_min_judgments", "5")
    page.dispatch_event("#id_min_judgments", "change")
    page.wait_for_selector("#plan-summary")
    page.wait_for_selector("#task-preview-body .outputs")


def create_a_webhook(page: Any) -> None:
    page.fill("input[name=url]", "http://127.0.0.1:9/hook")
    page.check("input[name=events][value='verdict.signed']")
    with override_settings(SIGNOFF_WEBHOOK_ALLOW_HOSTS=["127.0.0.1"]):  # the server's thread reads the same settings
        page.click("form.form button.primary")
        page.wait_for_selector("#secret-value")


def swagger_drew_every_operation(page: Any) -> None:
    """Swagger UI from drf-spectacular-sidecar's copy, not from a CDN."""
    assert page.locator(".swagger-ui .opblock").count() > 20
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("Signoff API")
    html = page.content()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html and "cdn" not in html.lower()


def the_items_image_loaded(page: Any) -> None:
    if page.locator("#item-image:not([hidden])").count():
        assert page.evaluate("document.getElementById('item-image').naturalWidth") > 0


def every_chart_drawn_and_hovered(page: Any) -> None:
    for chart in ("win-rate-chart", "sequence-chart", "slices-chart", "agreement-chart", "position-bias-chart"):
        assert page.locator(f"#{chart} .main-svg").count() >= 1, chart
    page.locator("#win-rate-chart .nsewdrag").hover()  # the hover label: Plotly writes styles as it draws


def create_a_token(page: Any) -> None:
    page.fill("input[name=name]", "ci")
    page.click("form.form button.primary")
    page.wait_for_selector("#new-token")


TASK = "#task:not([hidden])"
CHARTS = "#sequence-chart .main-svg"
REVIEW_WORDS, REVIEW_PICTURES = campaign("words", "review/"), campaign("pictures", "review/")

SCREENS: list[Screen] = [
    # anonymous
    Screen("anonymous", "login", lambda s: "/login/"),
    Screen(
        "anonymous", "api docs", lambda s: "/api/docs/", ready=".swagger-ui .opblock", act=swagger_drew_every_operation
    ),
    # Redoc draws every operation with the same components: the first ones stand for all ~100 (whose 13,000
    # elements would take axe 20 s)
    Screen(
        "anonymous",
        "api redoc",
        lambda s: "/api/redoc/",
        ready="h1:has-text('Signoff API')",
        exclude=".api-content > [data-section-id]:nth-child(n+8)",
        policy="redoc",
    ),
    Screen("anonymous", "404", lambda s: "/no/such/page/", status=404),
    Screen("anonymous", "admin login", lambda s: "/admin/login/"),
    # a reviewer: their queue, the review screen of each kind, with a task and with each dialog open
    Screen("reviewer", "home", lambda s: "/"),
    Screen("reviewer", "campaign list", lambda s: "/campaigns/"),
    Screen("reviewer", "review pairwise", REVIEW_WORDS, ready=TASK),
    Screen("reviewer", "review help", REVIEW_WORDS, ready=TASK, act=press("?", then="#help:not([hidden])")),
    Screen("reviewer", "review skip", REVIEW_WORDS, ready=TASK, act=press("s", then="#skip-dialog:not([hidden])")),
    Screen("reviewer", "review flag", REVIEW_WORDS, ready=TASK, act=press("x", then="#flag-dialog:not([hidden])")),
    Screen("reviewer", "review guidelines", REVIEW_WORDS, ready=TASK, act=press("g", then="#guidelines:not([hidden])")),
    Screen("reviewer", "review word diff", REVIEW_WORDS, ready=TASK, act=press("d", then="#task .diff-view")),
    Screen("reviewer", "review history", REVIEW_WORDS, ready=TASK, act=press("h", then="#history:not([hidden])")),
    Screen("reviewer", "review images", REVIEW_PICTURES, ready=TASK, act=the_items_image_loaded),
    Screen("reviewer", "review overlay", REVIEW_PICTURES, ready=TASK, act=press("o", then="input.overlay-slider")),
    Screen("reviewer", "review ranking", campaign("ranking", "review/"), ready=TASK),
    Screen("reviewer", "review rating", campaign("rating", "review/"), ready=TASK),
    Screen("reviewer", "review labeling", campaign("labeling", "review/"), ready=TASK),
    Screen("reviewer", "review done", campaign("signed", "review/"), ready="#done:not([hidden])"),
    Screen("reviewer", "tokens", lambda s: "/account/tokens/"),
    Screen("reviewer", "notifications", lambda s: "/account/notifications/"),
    Screen("reviewer", "403", lambda s: "/datasets/", status=403),
    Screen("reviewer", "404", lambda s: "/no/such/page/", status=404),
    # the lead (data scientist): campaigns, results, judgments, datasets, registry, webhooks
    Screen("lead", "home", lambda s: "/"),
    Screen("lead", "campaign list", lambda s: "/campaigns/"),
    Screen("lead", "campaign active", campaign("words")),
    Screen("lead", "campaign results", campaign("signed"), ready=CHARTS, act=every_chart_drawn_and_hovered),
    Screen("lead", "judgments", campaign("signed", "judgments/")),
    Screen("lead", "new campaign", lambda s: "/campaigns/new/"),
    Screen("lead", "new campaign filled", lambda s: "/campaigns/new/", act=fill_a_campaign),
    Screen("lead", "datasets", lambda s: "/datasets/"),
    Screen("lead", "new dataset", lambda s: "/datasets/new/"),
    Screen("lead", "dataset", lambda s: "/datasets/essays/"),
    Screen("lead", "upload errors", lambda s: "/datasets/essays/", ready="form.upload", act=upload_a_bad_file),
    Screen("lead", "dataset diff", lambda s: "/datasets/essays/diff/?from=1&to=2"),
    Screen("lead", "registry", lambda s: "/models/"),
    Screen("lead", "model version", lambda s: "/models/writer/2/"),
    Screen("lead", "new model", lambda s: "/models/new/"),
    Screen("lead", "new model version", lambda s: "/models/writer/versions/new/"),
    Screen("lead", "inspection", lambda s: f"/inspections/{s.inspection}/", ready="#trend-chart .main-svg"),
    Screen("lead", "webhooks", lambda s: "/webhooks/"),
    Screen("lead", "webhook", lambda s: f"/webhooks/{s.webhook}/"),
    Screen("lead", "webhook created", lambda s: "/webhooks/", act=create_a_webhook),
    Screen("lead", "browsable api", lambda s: "/api/v1/campaigns/?format=api", policy="browsable", scan=False),
    Screen("lead", "tokens", lambda s: "/account/tokens/"),
    Screen("lead", "token created", lambda s: "/account/tokens/", act=create_a_token),
    # the approver: their queue, a decided campaign with the sign-off form, verdict, chain, report, registry
    Screen("approver", "home", lambda s: "/"),
    Screen("approver", "sign-off queue", lambda s: "/signoff/"),
    Screen("approver", "campaign to sign", campaign("decided"), ready=CHARTS),
    Screen("approver", "campaign signed", campaign("signed"), ready=CHARTS),
    Screen("approver", "verdict", lambda s: f"/verdicts/{s.verdict}/"),
    Screen("approver", "chain", lambda s: "/chain/"),
    Screen("approver", "report", campaign("signed", "report.html"), ready="#win-rate-chart .main-svg", policy="report"),
    Screen("approver", "registry", lambda s: "/models/"),
    Screen("approver", "model version", lambda s: "/models/adder/2/"),
    Screen("approver", "compare versions", lambda s: "/models/adder/compare?v=1&v=2&v=3", ready="#compare-campaigns"),
    Screen(
        "approver",
        "prediction diff",
        lambda s: "/models/adder/2/diff/?against=1&dataset_version=sums:1",
        ready="tr.diff-row mark",
    ),
    Screen("approver", "inspection", lambda s: f"/inspections/{s.inspection}/", ready="#trend-chart .main-svg"),
    Screen("approver", "403", lambda s: "/webhooks/", status=403),
    # an admin
    Screen("admin", "home", lambda s: "/"),
    Screen("admin", "campaign", campaign("decided"), ready=CHARTS),
    Screen("admin", "webhooks", lambda s: "/webhooks/"),
    Screen("admin", "chain", lambda s: "/chain/"),
    Screen("admin", "admin site", lambda s: "/admin/"),
]


# --- the seeded campaigns -------------------------------------------------------------------------------------------


def predictions(api, dataset: str, model: str, version: str, outputs: list) -> None:
    ds = api["ds"]
    if ds.get(f"/api/v1/models/{model}/versions/").status_code == 404:
        assert ds.post("/api/v1/models/", {"name": model}, format="json").status_code == 201
    assert ds.post(f"/api/v1/models/{model}/versions/", {"version": version}, format="json").status_code == 201
    rows = [{"id": f"e{n}", "output": out} for n, out in enumerate(outputs)]
    response = ds.post(
        f"/api/v1/models/{model}/versions/{version}/predictions/",
        {"dataset": dataset, "dataset_version": 1, "file": jsonl_file(rows)},
        format="multipart",
    )
    assert response.status_code == 201, response.json()


def new_campaign(api, **fields) -> int:
    body = {"dataset_version": 1, "reviewers": ["rev"], "overlap": 1, "gate": {"min_judgments": 1}, **fields}
    response = api["ds"].post("/api/v1/campaigns/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def upload_dataset(api, name: str, *versions: list[dict[str, Any]]) -> None:
    ds = api["ds"]
    assert ds.post("/api/v1/datasets/", {"name": name}, format="json").status_code == 201
    for items in versions:
        response = ds.post(f"/api/v1/datasets/{name}/versions/", {"file": jsonl_file(items)}, format="multipart")
        assert response.status_code == 201, response.json()


def judged_to_a_pass(api, candidate: str) -> int:
    """A pairwise campaign on `sums` whose candidate two reviewers preferred every time: the gate decided pass."""
    cid = new_campaign(
        api,
        name=f"sums {candidate}",
        kind="pairwise",
        dataset="sums",
        candidate=candidate,
        baseline="adder:1",
        reviewers=["rev", "rev2"],
        overlap=2,
        gate={"min_judgments": 10, "alternative": 0.95, "stop_when_decided": False},
        guidelines="Pick the right sum.\n\n- exact\n- short",
    )
    for role in ("reviewer", "reviewer2"):
        client = api[role]
        while (task := client.get(f"/api/v1/campaigns/{cid}/next/")).status_code == 200:
            body = task.json()
            right = str(2 * int(body["item"][1:]))
            slot = next(o["slot"] for o in body["outputs"] if o["output"] == right)
            judged = client.post(f"/api/v1/tasks/{body['task']}/judgments/", {"choice": slot}, format="json")
            assert judged.status_code == 201, judged.json()
    assert campaign_gate_check(campaign_id=cid) == "pass"
    return cid


def seed_inspection(api) -> int:
    """A labeling inspection of "tagger" 1 (in production) with three judged weeks, the last clearly worse: the
    page draws its trend chart with intervals and an alerted period."""
    ds = api["ds"]
    assert ds.post("/api/v1/models/", {"name": "tagger"}, format="json").status_code == 201
    assert ds.post("/api/v1/models/tagger/versions/", {"version": "1"}, format="json").status_code == 201
    ModelVersion.objects.filter(model__name="tagger").update(stage=ModelVersion.Stage.PRODUCTION)  # not tested here
    body = {"model": "tagger", "every": "7d", "sample": 8, "kind": "labeling", "labels": ["pos", "neg"]}
    created = ds.post("/api/v1/inspections/", {**body, "reviewers": ["rev"], "floor": 0.7}, format="json")
    assert created.status_code == 201, created.json()
    schedule = InspectionSchedule.objects.get(pk=created.json()["id"])
    start = datetime(2026, 11, 2, tzinfo=UTC)
    for week, wrong in enumerate((1, 0, 6)):
        begin = start + timedelta(days=7 * week)
        rows = [
            {
                "id": f"req-{week}-{i}",
                "input": {"text": f"review {i}", "truth": ["pos", "neg"][i % 2]},
                "output": ["pos", "neg"][(i + (i < wrong)) % 2],
                "at": (begin + timedelta(hours=1, minutes=i)).isoformat(),
            }
            for i in range(8)
        ]
        logs = ds.post("/api/v1/models/tagger/versions/1/logs/", {"file": jsonl_file(rows)}, format="multipart")
        assert logs.status_code == 201, logs.json()
        run, _ = inspection_run(
            schedule=schedule, period_start=begin, period_end=begin + timedelta(days=7), trigger="beat"
        )
        assert run.campaign_id, run.note
        while (task := api["reviewer"].get(f"/api/v1/campaigns/{run.campaign_id}/next/")).status_code == 200:
            truth = task.json()["input"]["truth"]
            judged = api["reviewer"].post(
                f"/api/v1/tasks/{task.json()['task']}/judgments/", {"labels": [truth]}, format="json"
            )
            assert judged.status_code == 201, judged.json()
        inspection_alerts_check(schedule=schedule)
    assert InspectionRun.objects.filter(schedule=schedule, alert__isnull=False).count() == 1
    return schedule.pk


def seed_campaigns() -> Seed:
    """Four kinds of campaign open for the reviewer; two decided ones awaiting sign-off (one for the keyboard test,
    each with its own candidate: a sign-off closes every campaign of its candidate); one signed, with its verdict."""
    users = {
        "admin": UserFactory.create(username="admin", role=User.Role.ADMIN, is_staff=True),
        "ds": UserFactory.create(username="ds", role=User.Role.DATA_SCIENTIST),
        "reviewer": UserFactory.create(username="rev", role=User.Role.REVIEWER),
        "reviewer2": UserFactory.create(username="rev2", role=User.Role.REVIEWER),
        "approver": UserFactory.create(username="approver", role=User.Role.APPROVER),
    }
    api = {role: token_client(user) for role, user in users.items()}
    seed = Seed()

    essays: list[dict[str, Any]] = [
        {"id": "e0", "input": {"image": png_base64(), "q": "What is drawn?"}, "tags": ["pics"]},
        {"id": "e1", "input": "Describe the sky."},
    ]
    upload_dataset(api, "essays", essays, [*essays, {"id": "e2", "input": "Describe the sea."}])
    predictions(api, "essays", "writer", "1", ["a red square", "the sky is blue today"])
    predictions(api, "essays", "writer", "2", ["a red box", "the sky is grey today"])
    predictions(api, "essays", "writer", "3", ["a square", "the sky"])
    for version, colours in (("1", ((200, 30, 30), (20, 30, 200))), ("2", ((30, 200, 30), (20, 200, 200)))):
        predictions(api, "essays", "painter", version, [{"image": png_base64(c)} for c in colours])
    essay_campaign = {"dataset": "essays", "guidelines": "Judge **correctness** first.\n\n1. facts\n2. tone"}
    seed.campaigns = {
        "words": new_campaign(
            api, name="words", kind="pairwise", candidate="writer:2", baseline="writer:1", **essay_campaign
        ),
        "pictures": new_campaign(
            api, name="pictures", kind="pairwise", candidate="painter:2", baseline="painter:1", **essay_campaign
        ),
        "ranking": new_campaign(
            api,
            name="ranked",
            kind="ranking",
            candidate="writer:3",
            baseline="writer:1",
            models=["writer:2"],
            **essay_campaign,
        ),
        "rating": new_campaign(
            api,
            name="rated",
            kind="rating",
            candidate="writer:1",
            rubric=[{"name": "correct", "scale": "pass_fail"}, {"name": "concise", "scale": "likert"}],
            **essay_campaign,
        ),
        "labeling": new_campaign(
            api, name="labeled", kind="labeling", candidate="writer:1", labels=["square", "sky"], **essay_campaign
        ),
    }

    upload_dataset(
        api, "sums", [{"id": f"e{i}", "input": f"{i} + {i}?", "tags": [["even", "odd"][i % 2]]} for i in range(12)]
    )
    for version, offset in (("1", 1), ("2", 0), ("3", 0), ("4", 0)):
        predictions(api, "sums", "adder", version, [str(2 * i + offset) for i in range(12)])
    seed.campaigns["signed"] = judged_to_a_pass(api, "adder:2")
    seed.campaigns["decided"] = judged_to_a_pass(api, "adder:3")
    seed.campaigns["keyboard"] = judged_to_a_pass(api, "adder:4")
    with override_settings(SIGNOFF_WEBHOOK_ALLOW_HOSTS=["127.0.0.1"]):
        hook = api["ds"].post(
            "/api/v1/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["verdict.signed"]}, format="json"
        )
    assert hook.status_code == 201, hook.json()
    seed.webhook = hook.json()["id"]  # created before the sign-off: its page lists the delivery
    signed = api["approver"].post(
        f"/api/v1/campaigns/{seed.campaigns['signed']}/signoff/",
        {"decision": "approve", "rationale": "wins every item"},
        format="json",
    )
    assert signed.status_code == 201, signed.json()
    seed.verdict = Verdict.objects.get().pk

    seed.inspection = seed_inspection(api)

    assert AuthToken.objects.count() == len(users)  # each user's token: the tokens page lists one
    return seed


# --- one server, one browser context per role -----------------------------------------------------------------------


@dataclass
class Site:
    url: str
    seed: Seed
    pages: dict[str, Any]
    violations: dict[str, Violations]  # per role: what its page reports against the CSP
    outside: dict[str, list[str]]  # per role: what its page asked of any host but the server's (refused)


def refuse_into(refused: list[str]) -> Callable[[Any], None]:
    def refuse(route: Any) -> None:
        refused.append(route.request.url)
        route.abort()

    return refuse


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker, browser) -> Iterator[Site]:
    """The seeded campaigns served by a server of this module's own, kept for all its tests (the `live_server`
    fixture empties the database after each test); emptied when the module ends."""
    with django_db_blocker.unblock():
        from django.contrib.staticfiles.handlers import StaticFilesHandler

        seed = seed_campaigns()
        server = LiveServerThread("127.0.0.1", static_handler=StaticFilesHandler)
        server.daemon = True
        server.start()
        server.is_ready.wait()
        if server.error:
            raise server.error
        url = f"http://127.0.0.1:{server.port}"
        contexts = []
        try:
            pages: dict[str, Any] = {}
            violations: dict[str, Violations] = {}
            outside: dict[str, list[str]] = {}
            for role, username in ROLES.items():
                context = browser.new_context(viewport={"width": 1280, "height": 720})
                context.set_default_timeout(15_000)
                contexts.append(context)
                # no network but this server; what else a page asks for is recorded, and each screen says what it
                # may ask (the API docs' Redoc asks for its logo elsewhere)
                outside[role] = []
                context.route(re.compile(r"^(?!http://127\.0\.0\.1:|data:|blob:).*"), refuse_into(outside[role]))
                pages[role] = context.new_page()
                violations[role] = Violations(pages[role])
                if username:
                    browser_login(pages[role], SimpleNamespace(url=url), username)
            yield Site(url, seed, pages, violations, outside)
            # a violation reported after a role's last screen was checked
            late = {role: found for role, log in violations.items() if (found := log.take())}
            assert not late, f"CSP violations after the last check: {late}"
        finally:
            for context in contexts:
                context.close()
            server.terminate()
            call_command("flush", verbosity=0, interactive=False)
            # this fixture's queries ran on a connection of their own, not the one pytest-django opened and closes at
            # the end of the run; left open, PostgreSQL refuses to drop the test database
            connections.close_all()


@pytest.fixture
def db(site):
    """This module's tests ask for `db` so that pytest-django creates the test database, and get only that: not the
    transaction its own `db` holds around each test (SQLite's IMMEDIATE transactions would lock the server out), nor
    the flush after each test of `transactional_db`. They run on the module's committed seed."""


def show_attachment_inline(page, url: str) -> dict[str, str]:
    """The report is served as a download; shown here as the page it is once opened. Returns the headers it was
    served with, filled in when it is."""
    served: dict[str, str] = {}

    def inline(route):
        response = route.fetch()
        served.update(response.headers)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-disposition"}
        route.fulfill(response=response, headers=headers)

    page.route(url, inline)
    return served


def assert_policy(screen: Screen, header: str | None, served: dict[str, str], where: str) -> None:
    """The site's strict policy, or the page's own where it has one (README, "Content-Security-Policy")."""
    assert header, f"{where}: no Content-Security-Policy header"
    policy = directives(header)
    if screen.policy == "strict":
        assert_strict(policy, where)
    elif screen.policy == "browsable":  # DRF's templates need style="" attributes; scripts stay this site's
        assert policy["script-src"][0] == "'self'" and "'unsafe-inline'" not in policy["style-src"], policy
    elif screen.policy == "report":  # Plotly and charts.js inlined, each allowed by its hash; nothing loaded
        assert policy["default-src"] == ["'none'"] and len(policy["script-src"]) == 2, policy
        assert all(source.startswith("'sha256-") for source in policy["script-src"]), policy
        assert "attachment" in served["content-disposition"]


@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: f"{s.role}-{s.name.replace(' ', '-')}")
def test_page_runs_under_its_csp_and_has_no_serious_or_critical_accessibility_violation(db, site, screen):
    page, violations, outside = site.pages[screen.role], site.violations[screen.role], site.outside[screen.role]
    violations.take()
    outside.clear()
    url = site.url + screen.path(site.seed)
    served = show_attachment_inline(page, url) if url.endswith("report.html") else {}
    response = page.goto(url)
    assert response.status == screen.status, url
    if screen.ready:
        page.wait_for_selector(screen.ready)
    if screen.act:
        screen.act(page)
    if screen.scan:
        found = serious_violations(page, exclude=screen.exclude)
        assert not found, f"{screen.role} at {url}:\n{describe(found)}"
    else:
        page.wait_for_timeout(150)
    # checked after the scan, which gives the asynchronous violation events (and late requests) their time
    assert_policy(screen, response.headers.get("content-security-policy"), served, f"{screen.role} at {url}")
    assert violations.take() == [], f"{screen.role} at {url}"
    allowed = {"https://cdn.redoc.ly/redoc/logo-mini.svg"} if screen.policy == "redoc" else set()
    assert set(outside) <= allowed, f"{screen.role} at {url} asked another host: {outside}"


def test_the_scan_reports_what_it_must_fail_on(db, site):
    """The harness itself: under the site's CSP, axe runs and reports a missing alt text and an unlabelled field."""
    page = site.pages["anonymous"]
    page.goto(f"{site.url}/login/")
    page.evaluate("""() => {
      const img = document.createElement('img');
      img.src = '/static/signoff/nothing.png';
      const field = document.createElement('input');
      document.querySelector('main').append(img, field);
    }""")
    found = serious_violations(page)
    assert {"image-alt", "label"} <= {v["id"] for v in found}
    assert "image-alt (critical)" in describe(found)


def test_the_walk_catches_a_csp_violation_and_a_request_to_another_host(db, site):
    """The harness itself: an inline style and an image from elsewhere break the policy, and both are seen; a
    request to another host that a policy let through is refused and seen."""
    page, violations, outside = site.pages["anonymous"], site.violations["anonymous"], site.outside["anonymous"]
    page.goto(f"{site.url}/login/")
    violations.take()
    outside.clear()
    page.evaluate("""() => {
      document.querySelector('main').insertAdjacentHTML('beforeend', '<p style="color: red">inline</p>');
      const img = document.createElement('img');
      img.src = 'https://example.com/pixel.png';
      document.querySelector('main').append(img);
    }""")
    page.wait_for_function("() => window.__csp.length > 1")
    found = " ".join(violations.take())
    assert "style-src" in found and "img-src blocked https://example.com/pixel.png" in found, found
    with pytest.raises(PlaywrightError):
        page.goto("https://example.com/")
    assert outside == ["https://example.com/"]


# --- the keyboard alone ---------------------------------------------------------------------------------------------

FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  let behind = 'rgb(255, 255, 255)';  // what the ring is drawn on: the first opaque background around the element
  for (let up = el.parentElement; up; up = up.parentElement) {
    const bg = getComputedStyle(up).backgroundColor;
    if (bg !== 'transparent' && !bg.startsWith('rgba(0, 0, 0, 0)')) { behind = bg; break; }
  }
  return {
    tag: el.tagName, name: el.name || el.textContent.trim().slice(0, 40), visible: el.matches(':focus-visible'),
    outline: s.outlineStyle, width: parseFloat(s.outlineWidth) || 0, color: s.outlineColor, shadow: s.boxShadow,
    behind,
  };
}"""


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio of two CSS rgb()/rgba() colours."""

    def luminance(css_colour: str) -> float:
        channels = (int(c) / 255 for c in re.findall(r"\d+", css_colour)[:3])
        red, green, blue = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * red + 0.7152 * green + 0.0722 * blue

    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def assert_focus_shown(focused: dict | None) -> None:
    """The focused element draws a ring a person can see: the browser's own (`auto`), or an outline or shadow of at
    least 2 px whose colour stands out 3:1 from what it is drawn on (WCAG 1.4.11, non-text contrast)."""
    assert focused and focused["visible"], f"the focus is on nothing, or not shown: {focused}"
    if focused["outline"] == "auto":
        return
    ring = focused["color"] if focused["outline"] != "none" and focused["width"] >= 2 else focused["shadow"]
    assert ring != "none", f"no focus indicator on {focused}"
    assert contrast(ring, focused["behind"]) >= 3, f"a faint focus ring: {focused}"


def tab_to(page, matches: Callable[[dict], bool], *, key: str = "Tab", limit: int = 80) -> dict:
    """Press Tab until the focused element is the one wanted; the focus must show at each stop on the way."""
    for _ in range(limit):
        page.keyboard.press(key)
        focused = page.evaluate(FOCUSED)
        assert_focus_shown(focused)
        if matches(focused):
            return focused
    raise AssertionError(f"{key} never reached it")


def test_an_approver_signs_off_with_the_keyboard_alone(db, site):
    page = site.pages["approver"]
    cid = site.seed.campaigns["keyboard"]
    page.goto(f"{site.url}/campaigns/{cid}/")
    page.wait_for_selector(CHARTS)

    tab_to(page, lambda f: f["tag"] == "INPUT" and f["name"] == "decision")
    page.keyboard.press("Space")  # the first radio, approve
    assert page.is_checked("input[name=decision][value=approve]")
    tab_to(page, lambda f: f["name"] == "rationale")  # past the radio group
    page.keyboard.type("Wins every item; checked by keyboard.")
    back = tab_to(page, lambda f: f["tag"] == "INPUT", key="Shift+Tab")  # back to the group: the choice is kept
    assert back["name"] == "decision" and page.evaluate("document.activeElement.value") == "approve"
    tab_to(page, lambda f: f["name"] == "rationale")
    tab_to(page, lambda f: f["tag"] == "BUTTON" and f["name"] == "Sign")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    page.wait_for_selector("#signoff .verdict-approve")
    assert "Signed: approved" in page.inner_text(".messages")
    verdict = Verdict.objects.get(campaign_id=cid)
    assert (verdict.decision, verdict.signer.username) == ("approve", "approver")
    assert verdict.rationale == "Wins every item; checked by keyboard."
    assert Campaign.objects.get(pk=cid).decision == "pass"


# --- the report, opened from disk ------------------------------------------------------------------------------------


def test_the_downloaded_report_draws_its_charts_from_disk_with_no_network(db, site, browser, tmp_path):
    from django.test import Client

    client = Client()
    client.force_login(User.objects.get(username="approver"))
    html = client.get(f"/campaigns/{site.seed.campaigns['signed']}/report.html").content.decode()
    # Plotly and charts.js inlined, each allowed by its hash; nothing loaded from anywhere
    scripts = re.findall(r"<script([^>]*)>", html)
    assert scripts and all(attrs == "" or 'type="application/json"' in attrs for attrs in scripts), scripts
    assert "src=" not in "".join(scripts) and "/assets/" not in html
    assert 'http-equiv="Content-Security-Policy"' in html and " style=" not in html

    report = tmp_path / "report.html"
    report.write_text(html)
    context = browser.new_context()  # opened from disk: no app, and every request but the file itself refused
    try:
        context.route(
            "**/*", lambda route: route.continue_() if route.request.url == report.as_uri() else route.abort()
        )
        page = context.new_page()
        requested = []
        page.on("request", lambda request: requested.append(request.url))
        violations = Violations(page)
        page.goto(report.as_uri())
        for chart in ("win-rate-chart", "sequence-chart", "slices-chart"):
            page.wait_for_selector(f"#{chart} svg.main-svg", timeout=15_000)
        assert "Gate: pass" in page.inner_text("h2")
        assert page.locator(".chart-fallback").count() == 0  # every fallback text replaced by its drawn chart
        assert set(requested) == {report.as_uri()}
        page.wait_for_timeout(150)  # violation events are dispatched asynchronously
        assert violations.take() == []
    finally:
        context.close()
