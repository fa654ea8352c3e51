"""The `signoff` CLI, run as a real subprocess against a live server, as a CI job would run it."""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import urllib3
from django.test import override_settings
from knox.models import AuthToken

from config import celery_app
from datasets.models import DatasetVersion
from models_app.models import ModelVersion
from reviews.models import Verdict
from tests.conftest import ITEMS
from tests.factories import jsonl
from tests.test_chain import campaign_for, reject

# The CLI talks to the live server in another thread: test data must be committed for it to see any.
pytestmark = pytest.mark.django_db(transaction=True)

REPO_ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "signoff_cli.main"]


def token_for(user) -> str:
    return AuthToken.objects.create(user=user, expiry=None)[1]


@pytest.fixture
def cli_env(live_server, users):
    """cli_env(user) -> the environment a CI job of that user would run `signoff` with."""
    return lambda user="ds", token=None: {
        **os.environ,
        "SIGNOFF_URL": live_server.url,
        "SIGNOFF_TOKEN": token or token_for(users[user]),
    }


@pytest.fixture
def cli(cli_env):
    """cli(*args, user=..., token=..., stdin=...) runs `signoff ARGS` to completion."""

    def run(*args, user="ds", token=None, stdin=None):
        return subprocess.run(  # the exit code is what the tests assert: no check
            [*CLI, *map(str, args)],
            check=False,
            env=cli_env(user, token),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=30,
            cwd=REPO_ROOT,
        )

    return run


def write(tmp_path, name, rows) -> Path:
    path = tmp_path / name
    path.write_bytes(jsonl(rows))
    return path


def judge_all(api, campaign_id):
    """The reviewer prefers the candidate's (correct) answer on every task, so the gate passes."""
    reviewer = api["reviewer"]
    while (response := reviewer.get(f"/api/v1/campaigns/{campaign_id}/next/")).status_code == 200:
        task = response.json()
        correct = str(int(task["input"].split()[2]) * 2)
        slot = next(o["slot"] for o in task["outputs"] if o["output"] == correct)
        assert (
            reviewer.post(f"/api/v1/tasks/{task['task']}/judgments/", {"choice": slot}, format="json").status_code
            == 201
        )
    assert response.status_code == 204


def sign(api, campaign_id, decision, rationale="looked at every pair"):
    response = api["approver"].post(
        f"/api/v1/campaigns/{campaign_id}/signoff/", {"decision": decision, "rationale": rationale}, format="json"
    )
    assert response.status_code == 201, response.json()


# --- push dataset ---------------------------------------------------------------------------------


def test_push_dataset_creates_the_dataset_and_a_version(cli, tmp_path):
    items = write(tmp_path, "items.jsonl", ITEMS)

    first = cli("push", "dataset", "arith", items, "--create", "--description", "sums")
    assert first.returncode == 0, first.stderr
    version = DatasetVersion.objects.get(dataset__name="arith", number=1)
    assert first.stdout.strip() == f"dataset arith version 1: 6 items (sha256 {version.sha256})"
    assert version.dataset.description == "sums"

    # --create again is harmless, and identical content reports the existing version as JSON.
    again = cli("push", "dataset", "arith", items, "--create", "--json")
    assert again.returncode == 0, again.stderr
    assert "already exists" in again.stderr
    assert json.loads(again.stdout) == {"version": 1, "sha256": version.sha256, "items": 6}
    assert DatasetVersion.objects.filter(dataset__name="arith").count() == 1


def test_push_of_an_invalid_file_exits_3_and_names_the_bad_line(cli, tmp_path):
    rows = [ITEMS[0], ITEMS[1], {"input": "no id here"}, ITEMS[3]]
    result = cli("push", "dataset", "arith", write(tmp_path, "bad.jsonl", rows), "--create")
    assert result.returncode == 3
    assert result.stderr.startswith("created dataset arith\nerror: ")
    assert "  bad.jsonl line 3, field id: " in result.stderr
    assert not DatasetVersion.objects.exists()


def test_push_to_an_unknown_dataset_exits_3(cli, tmp_path):
    result = cli("push", "dataset", "nope", write(tmp_path, "items.jsonl", ITEMS))
    assert result.returncode == 3
    assert result.stderr.startswith("error: ")


@pytest.mark.parametrize("valid", [True, False], ids=["ready", "failed"])
def test_push_of_a_large_file_polls_the_background_upload(cli, tmp_path, monkeypatch, valid):
    """Over SIGNOFF_SYNC_UPLOAD_MAX_BYTES the server answers 202 and a status_url; the worker runs eagerly here."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    rows = ITEMS if valid else [ITEMS[0], {"id": "x"}]
    with override_settings(SIGNOFF_SYNC_UPLOAD_MAX_BYTES=10):
        result = cli("push", "dataset", "arith", write(tmp_path, "big.jsonl", rows), "--create")
    assert "upload accepted" in result.stderr
    if valid:
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("dataset arith version 1: 6 items")
    else:
        assert result.returncode == 3
        assert "big.jsonl line 2, field input: " in result.stderr


# --- push predictions -----------------------------------------------------------------------------


def test_push_predictions_registers_the_model_version(cli, loop_data, tmp_path):
    rows = [{"id": item["id"], "output": str(2 * i)} for i, item in enumerate(ITEMS)]
    args = (
        "push",
        "predictions",
        "calc",
        "3",
        write(tmp_path, "preds.jsonl", rows),
        "--dataset",
        "arith",
        "--dataset-version",
        "1",
        "--create",
        "--git-sha",
        "abc123",
    )

    result = cli(*args)
    assert result.returncode == 0, result.stderr
    assert "model calc already exists" in result.stderr and "created model calc version 3" in result.stderr
    assert result.stdout.startswith("model calc version 3: 6 predictions on dataset arith version 1 (prediction set ")
    assert ModelVersion.objects.get(model__name="calc", version="3").git_sha == "abc123"

    again = cli(*args, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["predictions"] == 6


def test_push_predictions_for_an_unknown_version_without_create_exits_3(cli, loop_data, tmp_path):
    result = cli(
        "push",
        "predictions",
        "calc",
        "9",
        write(tmp_path, "preds.jsonl", [{"id": "item-0", "output": "0"}]),
        "--dataset",
        "arith",
        "--dataset-version",
        "1",
    )
    assert result.returncode == 3
    assert result.stderr.startswith("error: ")


# --- campaign create ------------------------------------------------------------------------------


def test_campaign_create_from_a_file_and_from_stdin(cli, loop_data, tmp_path):
    spec = {
        "name": "calc 2 vs 1",
        "kind": "pairwise",
        **loop_data,
        "reviewers": ["rev"],
        "gate": {"min_judgments": 4, "alternative": 0.95},
    }
    spec_file = tmp_path / "campaign.json"
    spec_file.write_text(json.dumps(spec))

    result = cli("campaign", "create", "--json", spec_file)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(": 6 tasks\n") and result.stdout.startswith("campaign ")

    from_stdin = cli("--json", "campaign", "create", "--json", "-", stdin=json.dumps({**spec, "name": "again"}))
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert json.loads(from_stdin.stdout)["tasks"] == 6

    bad = cli("campaign", "create", "--json", "-", stdin="{not json")
    assert bad.returncode == 3 and "not valid JSON" in bad.stderr


# --- gate -----------------------------------------------------------------------------------------


def test_gate_wait_times_out_with_2_while_the_campaign_is_pending(cli, pairwise_campaign):
    result = cli("gate", "wait", "calc", "2", "--timeout", "1", "--interval", "0.2")
    assert result.returncode == 2, result.stderr
    assert result.stdout == "calc 2: pending (stage candidate)\n"  # one line: the status never changed
    assert "timed out after 1s" in result.stderr

    status = cli("gate", "status", "calc", "2")
    assert status.returncode == 2 and status.stdout == "calc 2: pending (stage candidate)\n"


@pytest.mark.parametrize("decision, code, status", [("approve", 0, "approved"), ("reject", 1, "rejected")])
def test_gate_wait_exits_with_the_verdict(cli, api, pairwise_campaign, decision, code, status):
    judge_all(api, pairwise_campaign["id"])
    sign(api, pairwise_campaign["id"], decision, rationale="clear\nresult")

    result = cli("gate", "wait", "calc", "2", "--timeout", "5", "--interval", "0.2")
    assert result.returncode == code, result.stderr
    assert result.stdout.splitlines() == [
        f"calc 2: {status} (stage {status})",
        f"verdict: {decision} by approver: clear result",
    ]

    status_json = cli("gate", "status", "calc", "2", "--json")
    assert status_json.returncode == code
    assert json.loads(status_json.stdout)["verdict"]["decision"] == decision


def test_gate_wait_sees_an_approval_signed_while_it_waits(cli_env, api, pairwise_campaign):
    waiting = subprocess.Popen(
        [*CLI, "gate", "wait", "calc", "2", "--timeout", "20", "--interval", "0.2"],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        assert waiting.stdout is not None  # stdout=PIPE
        assert waiting.stdout.readline() == "calc 2: pending (stage candidate)\n"  # it has polled at least once
        judge_all(api, pairwise_campaign["id"])
        sign(api, pairwise_campaign["id"], "approve", rationale="candidate wins every pair")
        stdout, stderr = waiting.communicate(timeout=10)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, stderr
    assert stdout.splitlines() == [
        "calc 2: approved (stage approved)",
        "verdict: approve by approver: candidate wins every pair",
    ]


def test_gate_wait_fails_fast_with_a_bad_token(cli, pairwise_campaign):
    result = cli("gate", "wait", "calc", "2", "--timeout", "20", token="so_not-a-real-token")
    assert result.returncode == 3
    assert result.stderr.startswith("error: ") and result.stdout == ""


def test_gate_wait_fails_fast_for_an_unknown_model_version(cli, loop_data):
    result = cli("gate", "wait", "calc", "404", "--timeout", "20")
    assert result.returncode == 3
    assert result.stderr.startswith("error: ")


def test_gate_with_no_campaign_is_none(cli, loop_data):
    result = cli("gate", "status", "calc", "2")
    assert result.returncode == 2 and result.stdout == "calc 2: none (stage candidate)\n"


# --- chain ----------------------------------------------------------------------------------------


def test_chain_verify_exits_1_when_the_server_no_longer_has_the_head_ci_saw(cli, api, pairwise_campaign):
    from reviews.models import ChainCheck, Verdict
    from reviews.services.chain import verdict_hash

    sign(api, pairwise_campaign["id"], "reject")
    first = cli("chain", "verify", user="approver")
    assert first.returncode == 0, first.stderr
    verdict = Verdict.objects.get()
    seen = verdict.hash  # what a CI job keeps for its next run
    assert first.stdout.splitlines() == [
        f"verdict chain holds: 1 verdict, head {verdict.hash}",
        "checked here too: 1 verdict, every hash recomputed and every link followed",
        f"next time: signoff chain verify --head {verdict.hash} --count 1",
    ]
    assert cli("chain", "verify", "--head", verdict.hash, "--count", 1, user="approver").returncode == 0

    # Rewritten with a fresh hash, and the server's own anchors wiped: the server sees a consistent chain ...
    verdict.rationale = "it was always a rejection"
    Verdict.objects.filter(pk=verdict.pk).update(rationale=verdict.rationale, hash=verdict_hash(verdict=verdict))
    ChainCheck.objects.all().delete()
    assert cli("chain", "verify", user="approver").returncode == 0
    # ... but not the one CI saw
    rewritten = cli("chain", "verify", "--head", seen, "--count", 1, user="approver")
    assert rewritten.returncode == 1, rewritten.stderr
    assert rewritten.stdout.startswith("verdict chain BROKEN: ") and "rewritten" in rewritten.stdout

    Verdict.objects.all().delete()
    ChainCheck.objects.all().delete()
    deleted = cli("--json", "chain", "verify", "--head", "a" * 64, "--count", 1, user="approver")
    assert deleted.returncode == 1
    assert json.loads(deleted.stdout)["ok"] is False and "the server has only 0" in json.loads(deleted.stdout)["reason"]

    assert cli("chain", "verify", user="reviewer").returncode == 3  # approvers and admins only
    assert cli("chain", "verify", "--head", "a" * 64).returncode == 3  # --count is missing
    bad_head = cli("chain", "verify", "--head", "HEAD", "--count", 1, user="approver")
    assert bad_head.returncode == 3 and "--head 'HEAD' is not a verdict hash" in bad_head.stderr


@pytest.fixture
def three_verdicts(api, loop_data) -> list[Verdict]:
    for _ in range(3):
        assert reject(api, campaign_for(api, loop_data)).status_code == 201
    return list(Verdict.objects.order_by("id"))


def test_chain_verify_recomputes_each_hash_here_and_names_the_edited_verdict(cli, three_verdicts):
    first, second, third = three_verdicts
    holds = cli("chain", "verify", user="approver")
    assert holds.returncode == 0, holds.stderr
    assert "checked here too: 3 verdicts, every hash recomputed and every link followed" in holds.stdout

    Verdict.objects.filter(pk=second.pk).update(rationale="approved after all")  # hash left as it was
    edited = cli("chain", "verify", user="approver")
    assert edited.returncode == 1
    assert (
        f"verdict chain BROKEN here: verdict {second.pk} (number 2 in the chain): its content does not match its "
        f"hash (stored {second.hash[:12]}…, recomputed "
    ) in edited.stdout
    here = json.loads(cli("--json", "chain", "verify", user="approver").stdout)["checked_here"]
    assert (here["ok"], here["broken_at"], here["position"], here["count"]) == (False, second.pk, 2, 3)

    Verdict.objects.filter(pk=second.pk).delete()  # out of the middle: the next link no longer holds
    cut = cli("chain", "verify", user="approver")
    assert cut.returncode == 1
    assert (
        f"verdict chain BROKEN here: verdict {third.pk} (number 2 in the chain): it links to {second.hash[:12]}…, "
        f"not to verdict {first.pk}'s hash {first.hash[:12]}…"
    ) in cut.stdout


@pytest.fixture
def lying_server(live_server):
    """A proxy in front of the live server whose own chain check always says "holds": a compromised server."""
    upstream = urllib3.PoolManager(retries=False)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/api/v1/verdicts/verify/"):
                status = 200
                body = json.dumps({"ok": True, "count": 3, "head": "f" * 64, "broken_at": None, "reason": ""}).encode()
            else:
                answer = upstream.request(
                    "GET", live_server.url + self.path, headers={"Authorization": self.headers["Authorization"]}
                )
                status, body = answer.status, answer.data
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_chain_verify_catches_an_edit_that_the_server_says_is_fine(cli_env, three_verdicts, lying_server):
    second = three_verdicts[1]
    Verdict.objects.filter(pk=second.pk).update(evidence={"win_rate": {"estimate": 0.99}})
    result = subprocess.run(
        [*CLI, "chain", "verify"],
        check=False,
        env={**cli_env("approver"), "SIGNOFF_URL": lying_server},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"verdict chain holds: 3 verdicts, head {'f' * 64}"  # the server's word ...
    assert lines[1].startswith(f"verdict chain BROKEN here: verdict {second.pk} (number 2 in the chain): its content")
    assert len(lines) == 2  # ... and no "next time" head to keep from a chain that does not hold


def test_results_prints_the_figures_and_json_gives_the_servers_answer(cli, api, pairwise_campaign):
    campaign_id = pairwise_campaign["id"]
    judge_all(api, campaign_id)
    served = api["ds"].get(f"/api/v1/campaigns/{campaign_id}/results/").json()

    text = cli("results", campaign_id)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"campaign {campaign_id} (pairwise): 6 judgments, versions calc:2, calc:1"
    assert served["gate"]["status"] == "pass"
    assert lines[1:3] == ["gate: pass", f"  {served['gate']['reasons'][0]}"]
    win_rate = served["win_rate"]
    assert (
        f"candidate win rate: {win_rate['estimate']:.3f} [{win_rate['low']:.3f}, {win_rate['high']:.3f}] "
        f"({served['win_rate_method']}); wins 6, losses 0, ties 0, both bad 0"
    ) in lines
    assert any(line.startswith("position bias: output shown as A won ") for line in lines)

    raw = cli("results", campaign_id, "--json")
    assert raw.returncode == 0, raw.stderr
    # the same answer, but for computed_at (the cache may have been refreshed between the two requests)
    assert {**json.loads(raw.stdout), "computed_at": None} == {**served, "computed_at": None}

    assert cli("results", campaign_id, user="reviewer").returncode == 3  # reviewers see no results
    unknown = cli("results", 999999)
    assert unknown.returncode == 3 and unknown.stderr.startswith("error: ")
    bad = cli("results", "calc")
    assert bad.returncode == 3 and "'calc' is not a campaign id" in bad.stderr


def test_unreachable_server_and_bad_arguments_exit_3(cli, cli_env):
    env = {**cli_env(), "SIGNOFF_URL": "http://127.0.0.1:9"}  # discard port: nothing listens
    unreachable = subprocess.run(
        [*CLI, "gate", "wait", "calc", "2", "--timeout", "0.3", "--interval", "0.1"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert unreachable.returncode == 3 and "cannot reach" in unreachable.stderr

    assert cli("gate", "wait", "calc", "2").returncode == 3  # --timeout is required
    assert cli("push", "dataset").returncode == 3


def test_help_runs_without_a_server():
    result = subprocess.run(
        [*CLI, "--help"], capture_output=True, text=True, timeout=30, env={**os.environ, "SIGNOFF_URL": ""}, check=False
    )
    assert result.returncode == 0
    assert "SIGNOFF_TOKEN" in result.stdout and "exit codes" in result.stdout


def test_the_cli_does_not_import_django():
    """CI images install the client alone: it must stay a thin HTTP client."""
    check = "import sys, signoff_cli.main; assert not any(m.split('.')[0] in ('django', 'rest_framework') for m in sys.modules)"
    assert subprocess.run([sys.executable, "-c", check], capture_output=True, timeout=30, check=False).returncode == 0


def test_campaign_list_follows_the_pages_to_the_end(cli, users):
    from bench.list_pages import build_lists

    build_lists(campaigns=600, items=10)  # more than one page of the largest size (500)
    result = cli("--json", "campaign", "list")
    assert result.returncode == 0, result.stderr
    campaigns = json.loads(result.stdout)
    assert len(campaigns) == len({c["id"] for c in campaigns}) == 600
    result = cli("campaign", "list", "--kind", "ranking", "--decided", "no")
    lines = result.stdout.splitlines()
    # ranking: n % 4 == 1 (150 of 600), decided: n % 5 == 0 (30 of those)
    assert result.returncode == 0 and len(lines) == 120
    assert all(line.split("\t")[2] == "ranking" for line in lines)
