"""The whole loop as people and machines would walk it, in a real Chromium, with a real Celery worker:
a training job uploads through the API, a reviewer judges every task by keyboard alone, an approver signs
off in the browser, CI receives a signed webhook and `signoff gate wait` exits 0."""

import re
import subprocess
import sys
import time

import pytest
import urllib3
from knox.models import AuthToken
from standardwebhooks.webhooks import Webhook

from core.models import User
from models_app.models import ModelVersion
from tests.conftest import browser_login
from tests.factories import UserFactory, jsonl
from tests.support.receiver import webhook_receiver
from tests.support.worker import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUESTIONS = [(a, b) for a, b in ((2, 3), (4, 4), (7, 5), (9, 1), (6, 8))]


def run_cli(live_server, token: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {"SIGNOFF_URL": live_server.url, "SIGNOFF_TOKEN": token, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "signoff_cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,  # callers assert the exit code the CLI promises
    )


def api_post(live_server, token: str, path: str, body: dict) -> dict:
    response = urllib3.request(
        "POST", f"{live_server.url}{path}", json=body, headers={"Authorization": f"Token {token}"}
    )
    assert response.status in (200, 201), response.data
    return response.json()


def test_upload_review_signoff_webhook_and_gate(live_server, new_page, tmp_path, settings):
    settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    UserFactory.create(username="dana", role=User.Role.DATA_SCIENTIST)
    UserFactory.create(username="rita", role=User.Role.REVIEWER)
    UserFactory.create(username="alex", role=User.Role.APPROVER)
    ds_token = AuthToken.objects.create(user=User.objects.get(username="dana"), expiry=None)[1]

    with webhook_receiver() as receiver, celery_worker(SIGNOFF_WEBHOOK_ALLOW_HOSTS="127.0.0.1") as worker:
        # 1. The training job: register a webhook, push the dataset and both models' predictions, open a campaign.
        hook = api_post(
            live_server,
            ds_token,
            "/api/v1/webhooks/",
            {"url": receiver.url, "events": ["verdict.signed", "model_version.stage_changed"]},
        )
        assert hook["secret"].startswith("whsec_")
        items = [
            {"id": f"q{i}", "input": f"What is {a} + {b}?", "reference": str(a + b)}
            for i, (a, b) in enumerate(QUESTIONS)
        ]
        (tmp_path / "items.jsonl").write_bytes(jsonl(items))
        pushed = run_cli(live_server, ds_token, "push", "dataset", "sums", str(tmp_path / "items.jsonl"), "--create")
        assert pushed.returncode == 0, pushed.stderr
        for version, wrong_by in (("2", 0), ("1", 1)):  # version 2 answers right, version 1 is off by one
            predictions = [{"id": f"q{i}", "output": str(a + b + wrong_by)} for i, (a, b) in enumerate(QUESTIONS)]
            path = tmp_path / f"pred-{version}.jsonl"
            path.write_bytes(jsonl(predictions))
            pushed = run_cli(
                live_server,
                ds_token,
                "push",
                "predictions",
                "adder",
                version,
                "--dataset",
                "sums",
                "--dataset-version",
                "1",
                str(path),
                "--create",
            )
            assert pushed.returncode == 0, pushed.stderr
        campaign = api_post(
            live_server,
            ds_token,
            "/api/v1/campaigns/",
            {
                "name": "Sums: which answer is right?",
                "kind": "pairwise",
                "dataset": "sums",
                "dataset_version": 1,
                "candidate": "adder:2",
                "baseline": "adder:1",
                "reviewers": ["rita"],
                "overlap": 1,
                "gate": {"min_judgments": len(QUESTIONS), "min_win_rate": 0.5, "alternative": 0.95},
            },
        )
        assert campaign["tasks"] == len(QUESTIONS)

        # 2. The reviewer: log in, open the queue, judge every task with the keyboard alone.
        page = new_page()
        browser_login(page, live_server, "rita")
        page.click("text=Start reviewing")
        judged = 0
        while True:
            page.wait_for_selector("#task:not([hidden]), #done:not([hidden])")
            if page.is_visible("#done"):
                break
            question = page.inner_text("#item-input")
            a, b = map(int, re.findall(r"\d+", question))
            correct_side = "1" if page.inner_text("#output-A").strip() == str(a + b) else "2"
            assert page.inner_text(f"#output-{'B' if correct_side == '1' else 'A'}").strip() == str(a + b + 1)
            item_id = page.inner_text("#item-id")
            page.keyboard.press(correct_side)
            page.wait_for_function(
                "id => document.getElementById('item-id').textContent !== id || "
                "!document.getElementById('done').hidden",
                arg=item_id,
            )
            judged += 1
        assert judged == len(QUESTIONS)
        assert "adder" not in page.content(), "the review page must stay blind to model names"

        # 3. The approver: sees the gate pass, signs off in the browser.
        page = new_page()
        browser_login(page, live_server, "alex")
        page.goto(f"{live_server.url}/campaigns/{campaign['id']}/")
        assert page.inner_text("#gate-status").strip() == "pass"
        assert page.is_visible("#win-rate-chart .main-svg"), "the Plotly chart renders"
        page.check("input[name=decision][value=approve]")
        page.fill("textarea[name=rationale]", "Version 2 is right on every item.")
        page.click("button:has-text('Sign')")
        page.wait_for_selector(".verdict-approve")
        assert ModelVersion.objects.get(model__name="adder", version="2").stage == ModelVersion.Stage.APPROVED

        # 4. CI: the signed webhooks arrive (sent by the worker) and verify; the gate command exits 0.
        deadline = time.monotonic() + 30
        while len(receiver.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(receiver.requests) == 2, "worker log:\n" + "".join(worker.log)
        events = {}
        for request in receiver.requests:
            payload = Webhook(hook["secret"]).verify(request.body, request.headers)
            events[payload["type"]] = payload["data"]
        assert events["verdict.signed"]["decision"] == "approve"
        assert events["verdict.signed"]["model_version"] == {
            "model": "adder",
            "version": "2",
            "stage": "approved",
            "git_sha": "",
            "artifact_uri": "",
        }
        assert events["model_version.stage_changed"]["to_stage"] == "approved"
        gate = run_cli(live_server, ds_token, "gate", "wait", "adder", "2", "--timeout", "10")
        assert gate.returncode == 0, gate.stdout + gate.stderr
