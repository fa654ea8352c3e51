"""The Content-Security-Policy in a real Chromium: every page type, for every role, carries the header and runs
without one violation; the API docs render from the installed package with the network beyond 127.0.0.1 cut off;
the downloaded report draws its charts under its own policy and still reads when opened from disk."""

import re
from typing import Any

import pytest

from reviews.models import Verdict
from reviews.services.decisions import campaign_gate_check
from tests.conftest import browser_login
from tests.factories import jsonl_file, png_base64

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every violation the page sees, whether the browser reports it as an event or only in the console.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(
  `${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile || "page"}:${e.lineNumber})`));
"""
CSP_CONSOLE = re.compile(r"Content Security Policy|Refused to", re.IGNORECASE)
PASSWORD = "pw-for-tests"


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


class Visitor:
    """One person's browser: cut off from every host but 127.0.0.1, recording violations and console errors."""

    def __init__(self, new_page, live_server):
        self.live_server = live_server
        self.page = new_page()
        self.page.context.add_init_script(RECORD_VIOLATIONS)
        self.outside: list[str] = []
        self.console: list[str] = []
        self.page.context.route("**/*", self._local_only)
        self.page.on("console", lambda message: self.console.append(message.text))

    def _local_only(self, route):
        url = route.request.url
        if url.startswith((self.live_server.url, "data:", "blob:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def login(self, username: str):
        browser_login(self.page, self.live_server, username, PASSWORD)
        return self

    def visit(self, path: str, *, status: int = 200, ready: str | None = None) -> dict[str, list[str]]:
        """Open a page, let it settle (and do `ready`), and fail on any violation; returns its policy."""
        self.console.clear()
        response = self.page.goto(f"{self.live_server.url}{path}")
        assert response.status == status, path
        header = response.headers.get("content-security-policy")
        assert header, f"{path}: no Content-Security-Policy header"
        if ready:
            self.page.wait_for_selector(ready)
        self.page.wait_for_load_state("networkidle")
        self.check(path)
        return directives(header)

    def check(self, where: str) -> None:
        self.page.wait_for_timeout(150)  # violation events are dispatched asynchronously
        violations = self.page.evaluate("window.__csp") + [m for m in self.console if CSP_CONSOLE.search(m)]
        assert violations == [], f"{where}: {violations}"


def assert_strict(policy: dict[str, list[str]], path: str) -> None:
    """Scripts from this site (and a nonce) only; nothing inline or evaluated; styles inline only by nonce."""
    script = policy["script-src"]
    assert script[0] == "'self'" and all(v.startswith("'nonce-") for v in script[1:]), (path, script)
    assert "'unsafe-inline'" not in policy["style-src"], (path, policy["style-src"])
    for directive, value in (
        ("default-src", ["'self'"]),
        ("object-src", ["'none'"]),
        ("base-uri", ["'self'"]),
        ("frame-ancestors", ["'none'"]),
        ("form-action", ["'self'"]),
    ):
        assert policy[directive] == value, (path, directive)
    assert policy["img-src"] == ["'self'", "data:"], path


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


def campaign(api, **fields) -> int:
    response = api["ds"].post(
        "/api/v1/campaigns/",
        {
            "dataset_version": 1,
            "reviewers": ["rev"],
            "overlap": 1,
            "gate": {"min_judgments": 1, "min_win_rate": 0.5},
            **fields,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def judged_and_signed(api) -> int:
    """A pairwise campaign judged to a pass by two reviewers (so every chart has data), signed by an approver."""
    ds = api["ds"]
    ds.post("/api/v1/datasets/", {"name": "sums"}, format="json")
    items = [{"id": f"e{i}", "input": f"{i} + {i}?", "tags": ["even" if i % 2 == 0 else "odd"]} for i in range(12)]
    assert (
        ds.post("/api/v1/datasets/sums/versions/", {"file": jsonl_file(items)}, format="multipart").status_code == 201
    )
    for version, offset in (("2", 0), ("1", 1)):
        predictions(api, "sums", "adder", version, [str(2 * i + offset) for i in range(12)])
    cid = campaign(
        api,
        name="sums",
        kind="pairwise",
        dataset="sums",
        candidate="adder:2",
        baseline="adder:1",
        reviewers=["rev", "rev2"],
        overlap=2,
        gate={"min_judgments": 10, "alternative": 0.95, "stop_when_decided": False},
    )
    for role in ("reviewer", "reviewer2"):
        client = api[role]
        while (task := client.get(f"/api/v1/campaigns/{cid}/next/")).status_code == 200:
            body = task.json()
            right = str(2 * int(body["item"][1:]))
            slot = next(o["slot"] for o in body["outputs"] if o["output"] == right)
            assert (
                client.post(f"/api/v1/tasks/{body['task']}/judgments/", {"choice": slot}, format="json").status_code
                == 201
            )
    assert campaign_gate_check(campaign_id=cid) == "pass"
    response = api["approver"].post(
        f"/api/v1/campaigns/{cid}/signoff/", {"decision": "approve", "rationale": "wins"}, format="json"
    )
    assert response.status_code == 201, response.json()
    return cid


@pytest.fixture
def pages(api, users, settings):
    """Something on every page: texts that differ by a word, images, four kinds of campaign, a signed verdict."""
    for user in users.values():
        user.set_password(PASSWORD)
        user.save()
    ds = api["ds"]
    ds.post("/api/v1/datasets/", {"name": "essays"}, format="json")
    items: list[dict[str, Any]] = [
        {"id": "e0", "input": {"image": png_base64(), "q": "What is drawn?"}, "tags": ["pics"]},
        {"id": "e1", "input": "Describe the sky."},
    ]
    for version in (items, [*items, {"id": "e2", "input": "Describe the sea."}]):  # two versions: a diff to show
        assert (
            ds.post("/api/v1/datasets/essays/versions/", {"file": jsonl_file(version)}, format="multipart").status_code
            == 201
        )
    predictions(api, "essays", "writer", "1", ["a red square", "the sky is blue today"])
    predictions(api, "essays", "writer", "2", ["a red box", "the sky is grey today"])
    predictions(api, "essays", "writer", "3", ["a square", "the sky"])
    predictions(
        api, "essays", "painter", "1", [{"image": png_base64((200, 30, 30))}, {"image": png_base64((20, 30, 200))}]
    )
    predictions(
        api, "essays", "painter", "2", [{"image": png_base64((30, 200, 30))}, {"image": png_base64((20, 200, 200))}]
    )
    ids = {
        "words": campaign(
            api, name="words", kind="pairwise", dataset="essays", candidate="writer:2", baseline="writer:1"
        ),
        "pictures": campaign(
            api, name="pictures", kind="pairwise", dataset="essays", candidate="painter:2", baseline="painter:1"
        ),
        "ranking": campaign(
            api,
            name="ranked",
            kind="ranking",
            dataset="essays",
            candidate="writer:3",
            baseline="writer:1",
            models=["writer:2"],
        ),
        "rating": campaign(
            api,
            name="rated",
            kind="rating",
            dataset="essays",
            candidate="writer:1",
            rubric=[{"name": "correct", "scale": "pass_fail"}, {"name": "concise", "scale": "likert"}],
        ),
        "labeling": campaign(
            api, name="labeled", kind="labeling", dataset="essays", candidate="writer:1", labels=["square", "sky"]
        ),
        "signed": judged_and_signed(api),
    }
    settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    return ids


def test_every_page_type_runs_under_the_csp_without_a_violation(pages, users, live_server, new_page):
    # anonymous: log in, the admin's log in, the API docs, a page that does not exist
    anonymous = Visitor(new_page, live_server)
    for path in ("/login/", "/admin/login/"):
        assert_strict(anonymous.visit(path), path)
    assert_strict(anonymous.visit("/api/docs/", ready=".swagger-ui .opblock"), "/api/docs/")
    anonymous.visit("/api/redoc/", ready="h1:has-text('Signoff API')")
    assert_strict(anonymous.visit("/no/such/page/", status=404), "404")

    # a reviewer: home and a review page of each kind, with the word diff, the image overlay and the item image
    reviewer = Visitor(new_page, live_server).login("rev")
    assert_strict(reviewer.visit("/"), "/")
    words = reviewer.visit(f"/campaigns/{pages['words']}/review/", ready="#task:not([hidden])")
    assert_strict(words, "review")
    while "sky" not in reviewer.page.inner_text("#item-input"):  # the texts that differ by one word
        item = reviewer.page.inner_text("#item-id")
        reviewer.page.keyboard.press("3")
        reviewer.page.wait_for_function("id => document.getElementById('item-id').textContent !== id", arg=item)
    reviewer.page.keyboard.press("d")
    reviewer.page.wait_for_selector("ins, del, .diff-changed, mark")
    reviewer.check("word diff")
    reviewer.visit(f"/campaigns/{pages['pictures']}/review/", ready="#task:not([hidden])")
    reviewer.page.keyboard.press("?")
    reviewer.page.wait_for_selector("#help:not([hidden])")
    reviewer.page.keyboard.press("Escape")
    reviewer.page.keyboard.press("o")
    reviewer.page.wait_for_selector("input.overlay-slider")
    reviewer.check("help and image overlay")
    if reviewer.page.locator("#item-image:not([hidden])").count():
        assert reviewer.page.evaluate("document.getElementById('item-image').naturalWidth") > 0
    for kind in ("ranking", "rating", "labeling"):
        reviewer.visit(f"/campaigns/{pages[kind]}/review/", ready="#task:not([hidden])")

    # the lead: campaigns, results with every chart drawn, the new-campaign form and its plan, the judgments view,
    # datasets and their diff, upload forms, the registry, webhooks, the browsable API
    lead = Visitor(new_page, live_server).login("ds")
    signed = pages["signed"]
    for path in (
        "/",
        "/campaigns/",
        f"/campaigns/{pages['words']}/",
        f"/campaigns/{signed}/judgments/",
        "/datasets/",
        "/datasets/essays/diff/?from=1&to=2",
        "/models/",
        "/models/writer/2/",
        "/datasets/new/",
        "/models/new/",
        "/models/writer/versions/new/",
        "/webhooks/",
    ):
        assert_strict(lead.visit(path), path)
    lead.visit(f"/campaigns/{signed}/", ready="#sequence-chart .main-svg")
    for chart in ("win-rate-chart", "sequence-chart", "slices-chart", "agreement-chart", "position-bias-chart"):
        assert lead.page.locator(f"#{chart} .main-svg").count() >= 1, chart
    lead.page.locator("#win-rate-chart .nsewdrag").hover()  # the hover label: Plotly writes styles as it draws
    lead.check("results with charts")

    lead.visit("/campaigns/new/")
    lead.page.fill("#id_name", "planned")
    lead.page.select_option("#id_kind", "pairwise")
    lead.page.select_option("#id_dataset_version", label="essays v1")
    lead.page.select_option("#id_candidate", label="writer:2")
    lead.page.select_option("#id_baseline", label="writer:1")
    lead.page.check(f"input[name=reviewers][value='{users['reviewer'].pk}']")
    lead.page.fill("#id_min_judgments", "1")
    lead.page.dispatch_event("#id_min_judgments", "change")
    lead.page.wait_for_selector("#plan-summary")
    lead.check("new campaign with its plan")

    lead.visit("/datasets/essays/", ready="form.upload")
    lead.page.set_input_files(
        "form.upload input[type=file]",
        files=[{"name": "bad.jsonl", "mimeType": "application/json", "buffer": b'{"id": "x"}\nnot json\n'}],
    )
    lead.page.click("form.upload button[type=submit]")
    lead.page.wait_for_selector("[data-upload-errors] li")
    lead.check("upload form with its errors")

    lead.visit("/webhooks/")
    lead.page.fill("input[name=url]", "http://127.0.0.1:9/hook")
    lead.page.check("input[name=events][value='verdict.signed']")
    lead.page.click("form.form button.primary")
    lead.page.wait_for_selector("#secret-value")
    lead.check("webhook created")
    from webhooks.models import WebhookEndpoint

    assert_strict(lead.visit(f"/webhooks/{WebhookEndpoint.objects.get().pk}/"), "webhook detail")

    browsable = lead.visit("/api/v1/campaigns/?format=api")
    assert browsable["script-src"][0] == "'self'" and "'unsafe-inline'" not in browsable["style-src"]

    # the approver: the chain, the verdict, and the report as the app serves it (an attachment, shown inline here)
    approver = Visitor(new_page, live_server).login("approver")
    assert_strict(approver.visit("/chain/"), "/chain/")
    assert_strict(approver.visit(f"/verdicts/{Verdict.objects.get().pk}/"), "verdict")
    report_url = f"{live_server.url}/campaigns/{signed}/report.html"
    served = {}

    def inline(route):
        response = route.fetch()
        served.update(response.headers)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-disposition"}
        route.fulfill(response=response, headers=headers)

    approver.page.route(report_url, inline)
    approver.page.goto(report_url)
    approver.page.wait_for_selector("#win-rate-chart .main-svg")
    approver.check("report")
    report_policy = directives(served["content-security-policy"])
    assert report_policy["default-src"] == ["'none'"] and len(report_policy["script-src"]) == 2
    assert all(source.startswith("'sha256-") for source in report_policy["script-src"])  # inlined, by hash
    assert "attachment" in served["content-disposition"]

    # the admin: the admin site
    admin = Visitor(new_page, live_server).login("admin")
    assert_strict(admin.visit("/admin/"), "/admin/")

    # nothing asked for another host, but Redoc's logo (refused by the network here, hidden by Redoc)
    everyone = anonymous.outside + reviewer.outside + lead.outside + approver.outside + admin.outside
    assert set(everyone) <= {"https://cdn.redoc.ly/redoc/logo-mini.svg"}, everyone


def test_swagger_ui_renders_every_operation_offline_from_the_installed_package(db, live_server, new_page):
    docs = Visitor(new_page, live_server)
    policy = docs.visit("/api/docs/", ready=".swagger-ui .opblock")
    assert_strict(policy, "/api/docs/")
    assert docs.page.locator(".swagger-ui .opblock").count() > 20
    assert docs.page.locator(".swagger-ui .info .title").inner_text().startswith("Signoff API")
    assert docs.outside == []
    html = docs.page.content()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html and "cdn" not in html.lower()


def test_the_downloaded_report_draws_its_charts_from_disk_with_no_network(api, users, new_page, tmp_path):
    from django.test import Client

    cid = judged_and_signed(api)
    browser = Client()
    browser.force_login(users["approver"])
    html = browser.get(f"/campaigns/{cid}/report.html").content.decode()
    # Plotly and charts.js inlined, each allowed by its hash; nothing loaded from anywhere
    scripts = re.findall(r"<script([^>]*)>", html)
    assert scripts and all(attrs == "" or 'type="application/json"' in attrs for attrs in scripts), scripts
    assert "src=" not in "".join(scripts) and "/assets/" not in html
    assert 'http-equiv="Content-Security-Policy"' in html and " style=" not in html

    report = tmp_path / "report.html"
    report.write_text(html)
    page = new_page()  # opened from disk: no app, and every request but the file itself refused
    page.context.route(
        "**/*", lambda route: route.continue_() if route.request.url == report.as_uri() else route.abort()
    )
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.context.add_init_script(RECORD_VIOLATIONS)
    console = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(report.as_uri())
    for chart in ("win-rate-chart", "sequence-chart", "slices-chart"):
        page.wait_for_selector(f"#{chart} svg.main-svg", timeout=15_000)
    assert "Gate: pass" in page.inner_text("h2")
    assert page.locator(".chart-fallback").count() == 0  # every fallback text replaced by its drawn chart
    assert set(requested) == {report.as_uri()}
    assert page.evaluate("window.__csp") == [] and not [m for m in console if CSP_CONSOLE.search(m)]
