"""The verdict hash chain is checked: edits, deletions and rewrites are found, shown, and block sign-offs until an
admin acknowledges them."""

import datetime
import itertools
import json

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from core.crypto import encrypt
from reviews.models import ChainCheck, Verdict
from reviews.services.chain import verdict_chain_check, verdict_hash
from reviews.tasks import verdict_chain_check_task
from tests.conftest import ITEMS
from tests.factories import jsonl_file
from webhooks.models import WebhookDelivery, WebhookEndpoint

VERSIONS = itertools.count(3)  # model versions 1 and 2 are loop_data's


def new_candidate(api) -> str:
    """Another version of calc with predictions on arith v1: each verdict needs a candidate of its own."""
    version = str(next(VERSIONS))
    assert api["ds"].post("/api/v1/models/calc/versions/", {"version": version}, format="json").status_code == 201
    rows = [{"id": item["id"], "output": str(i)} for i, item in enumerate(ITEMS)]
    response = api["ds"].post(
        f"/api/v1/models/calc/versions/{version}/predictions/",
        {"dataset": "arith", "dataset_version": 1, "file": jsonl_file(rows)},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    return f"calc:{version}"


def campaign_for(api, loop_data) -> int:
    response = api["ds"].post(
        "/api/v1/campaigns/",
        {
            "name": "chain",
            "kind": "pairwise",
            **loop_data,
            "candidate": new_candidate(api),
            "reviewers": ["rev"],
            "overlap": 1,
            "gate": {"min_judgments": 4},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def reject(api, campaign_id, user="approver"):
    """A rejection needs no passed gate: the quickest way to a verdict."""
    return api[user].post(
        f"/api/v1/campaigns/{campaign_id}/signoff/", {"decision": "reject", "rationale": "not yet"}, format="json"
    )


@pytest.fixture
def sign_verdicts(api, loop_data):
    def sign(n: int) -> list[Verdict]:
        for _ in range(n):
            response = reject(api, campaign_for(api, loop_data))
            assert response.status_code == 201, response.json()
        return list(Verdict.objects.order_by("id"))

    return sign


@pytest.fixture
def verdict_endpoint(users):
    """A subscriber to verdict.signed, so every sign-off leaves a delivery in the outbox (never sent here)."""
    return WebhookEndpoint.objects.create(
        url="https://ci.example.com/hook",
        events=["verdict.signed"],
        secret_encrypted=encrypt("whsec_test"),
        created_by=users["ds"],
    )


def check() -> ChainCheck:
    return verdict_chain_check(trigger=ChainCheck.Trigger.DEMAND)


def assert_error_shape(body):
    assert set(body) == {"message", "code", "extra"}, body


# --- the service ----------------------------------------------------------------------------------------------


def test_an_intact_chain_passes_and_the_check_is_recorded(sign_verdicts):
    verdicts = sign_verdicts(3)
    result = check()
    assert (result.ok, result.count, result.head, result.broken_at, result.reason) == (
        True,
        3,
        verdicts[-1].hash,
        None,
        "",
    )
    assert ChainCheck.objects.get() == result and result.trigger == "demand"


def test_an_empty_chain_passes(db):
    result = verdict_chain_check(trigger=ChainCheck.Trigger.SCHEDULE)
    assert (result.ok, result.count, result.head) == (True, 0, "")


@pytest.mark.parametrize(
    "field, value",
    [
        ("decision", lambda v, users: "approve"),
        ("rationale", lambda v, users: "quietly rewritten"),
        ("evidence", lambda v, users: {**v.evidence, "results": {**v.evidence["results"], "gate": {"status": "pass"}}}),
        ("signed_at", lambda v, users: v.signed_at - datetime.timedelta(days=1)),
        ("signer", lambda v, users: users["approver2"]),
    ],
)
def test_editing_any_field_of_a_verdict_is_found_at_that_verdict(sign_verdicts, users, field, value):
    middle = sign_verdicts(3)[1]
    Verdict.objects.filter(pk=middle.pk).update(**{field: value(middle, users)})
    result = check()
    assert not result.ok and result.broken_at == middle.pk
    assert result.reason == f"verdict {middle.pk}: its content does not match its hash (edited)"


def test_an_edited_verdict_with_a_recomputed_hash_breaks_the_next_link(sign_verdicts):
    first, second, _ = sign_verdicts(3)
    first.rationale = "rewritten, hash and all"
    Verdict.objects.filter(pk=first.pk).update(rationale=first.rationale, hash=verdict_hash(verdict=first))
    result = check()
    assert not result.ok and result.broken_at == second.pk
    assert f"verdict {second.pk}: the verdict it follows" in result.reason and "is not in the chain" in result.reason


def test_deleting_a_verdict_from_the_middle_is_found_at_the_one_after_it(sign_verdicts):
    _first, middle, last = sign_verdicts(3)
    Verdict.objects.filter(pk=middle.pk).delete()
    result = check()
    assert not result.ok and result.broken_at == last.pk and result.count == 2
    assert result.reason.startswith(
        f"verdict {last.pk}: the verdict it follows (hash {middle.hash[:12]}…) is not in the chain"
    )


def test_deleting_the_newest_verdict_is_found_by_the_last_passing_check(sign_verdicts):
    verdicts = sign_verdicts(3)
    anchor = check()
    assert anchor.ok and not WebhookDelivery.objects.exists()  # no outbox: the previous check is the only anchor
    Verdict.objects.filter(pk=verdicts[-1].pk).delete()
    result = check()
    assert not result.ok and result.broken_at is None and result.count == 2
    assert result.reason.startswith(
        f"1 verdict missing after verdict {verdicts[1].pk}: the chain had 3 at the last check (check #{anchor.pk} at "
    )


def test_deleting_the_newest_verdicts_is_found_by_the_webhook_outbox(sign_verdicts, verdict_endpoint):
    verdicts = sign_verdicts(3)
    assert not ChainCheck.objects.exists()  # no earlier check: the outbox is the only anchor
    Verdict.objects.filter(pk__in=[v.pk for v in verdicts[1:]]).delete()
    result = check()
    assert not result.ok and result.count == 1
    assert result.reason.startswith(f"2 verdicts missing after verdict {verdicts[0].pk}: the webhook outbox")
    assert "announced a chain of 3" in result.reason


def test_a_tail_rewritten_with_fresh_hashes_is_found_by_the_anchors(sign_verdicts, verdict_endpoint):
    verdicts = sign_verdicts(2)
    check()
    last = verdicts[-1]
    last.rationale = "a different story, rehashed"
    Verdict.objects.filter(pk=last.pk).update(rationale=last.rationale, hash=verdict_hash(verdict=last))
    result = check()
    assert not result.ok and result.broken_at == last.pk
    assert "the last check" in result.reason and "the webhook outbox" in result.reason and "rewritten" in result.reason


def test_the_webhook_payload_carries_the_chain_head_and_count(sign_verdicts, verdict_endpoint):
    verdicts = sign_verdicts(2)
    payloads = [d.payload["data"] for d in WebhookDelivery.objects.order_by("id")]
    assert [(p["chain_count"], p["chain_head"]) for p in payloads] == [(1, verdicts[0].hash), (2, verdicts[1].hash)]


# --- sign-offs are blocked until an admin acknowledges ------------------------------------------------------------


def test_signoff_is_refused_while_the_chain_is_broken_until_an_admin_acknowledges(api, loop_data, sign_verdicts):
    first, second = sign_verdicts(2)
    Verdict.objects.filter(pk__in=[first.pk, second.pk]).update(rationale="edited")
    assert check().reason.count("(edited)") == 2
    waiting = campaign_for(api, loop_data)
    refused = reject(api, waiting)
    assert refused.status_code == 409 and refused.json()["code"] == "chain_broken"
    assert "admin must" in refused.json()["message"]

    for role in ("approver", "ds", "reviewer"):
        assert api[role].post("/api/v1/verdicts/verify/acknowledge/", {"note": "x"}, format="json").status_code == 403
    acknowledged = api["admin"].post(
        "/api/v1/verdicts/verify/acknowledge/", {"note": "restored from backup"}, format="json"
    )
    assert acknowledged.status_code == 200, acknowledged.json()
    assert (
        acknowledged.json()["acknowledged_by"] == "admin"
        and acknowledged.json()["acknowledgment_note"] == "restored from backup"
    )
    assert reject(api, waiting).status_code == 201

    # the same breakage, found again, does not block again: the acknowledgment carries over
    again = check()
    assert not again.ok and again.acknowledged_at is not None
    assert reject(api, campaign_for(api, loop_data)).status_code == 201
    # a new, different breakage does
    newest = Verdict.objects.order_by("-id").first()
    assert newest is not None
    Verdict.objects.filter(pk=newest.pk).update(decision="approve")
    assert check().acknowledged_at is None
    assert reject(api, campaign_for(api, loop_data)).json()["code"] == "chain_broken"


def test_nothing_to_acknowledge_when_the_chain_holds(api, sign_verdicts):
    sign_verdicts(1)
    check()
    response = api["admin"].post("/api/v1/verdicts/verify/acknowledge/", {"note": "all fine"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "nothing_to_acknowledge"


def test_an_acknowledged_truncation_becomes_the_new_anchor(api, sign_verdicts, verdict_endpoint):
    verdicts = sign_verdicts(3)
    check()
    Verdict.objects.filter(pk=verdicts[-1].pk).delete()
    assert not check().ok
    assert (
        api["admin"].post("/api/v1/verdicts/verify/acknowledge/", {"note": "test row"}, format="json").status_code
        == 200
    )
    assert check().ok  # the chain of 2 is what the admin accepted; the outbox's older announcements are behind it
    Verdict.objects.filter(pk=verdicts[1].pk).delete()
    assert "1 verdict missing" in check().reason


def test_a_signoff_refuses_to_chain_onto_a_cut_head_before_any_new_check(api, loop_data, sign_verdicts):
    verdicts = sign_verdicts(2)
    check()
    Verdict.objects.filter(pk=verdicts[-1].pk).delete()
    refused = reject(api, campaign_for(api, loop_data))
    assert refused.status_code == 409 and refused.json()["code"] == "chain_broken"
    recorded = ChainCheck.objects.first()
    assert recorded is not None
    assert recorded.trigger == "signoff" and not recorded.ok and "1 verdict missing" in recorded.reason


# --- the API ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["reviewer", "ds"])
def test_verify_is_refused_to_reviewers_and_data_scientists(api, role):
    response = api[role].get("/api/v1/verdicts/verify/")
    assert response.status_code == 403
    assert_error_shape(response.json())
    assert not ChainCheck.objects.exists()


@pytest.mark.parametrize("role", ["approver", "admin"])
def test_verify_answers_approvers_and_admins_and_records_the_check(api, sign_verdicts, role):
    verdicts = sign_verdicts(2)
    response = api[role].get("/api/v1/verdicts/verify/")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "count": 2, "head": verdicts[-1].hash, "broken_at": None, "reason": ""}
    assert ChainCheck.objects.get().trigger == "demand"


def test_verify_reports_a_broken_chain(api, sign_verdicts):
    middle = sign_verdicts(3)[1]
    Verdict.objects.filter(pk=middle.pk).update(rationale="edited")
    body = api["approver"].get("/api/v1/verdicts/verify/").json()
    assert body["ok"] is False and body["broken_at"] == middle.pk and "(edited)" in body["reason"]


def test_verify_compares_with_a_head_and_count_seen_before(api, sign_verdicts):
    first, second = sign_verdicts(2)
    url = "/api/v1/verdicts/verify/"
    assert api["approver"].get(url, {"head": first.hash, "count": 1}).json()["ok"] is True  # a prefix
    assert api["approver"].get(url, {"head": second.hash, "count": 2}).json()["ok"] is True  # the whole chain
    too_long = api["approver"].get(url, {"head": second.hash, "count": 3}).json()
    assert too_long["ok"] is False and "the server has only 2" in too_long["reason"]
    elsewhere = api["approver"].get(url, {"head": "a" * 64, "count": 2}).json()
    assert elsewhere["ok"] is False and f"verdict {second.pk} is number 2" in elsewhere["reason"]
    assert ChainCheck.objects.filter(ok=True).count() == 4  # the caller's claim is answered, not recorded as a failure
    for query in ({"head": first.hash}, {"count": 1}, {"head": "xyz", "count": 1}, {"head": first.hash, "count": 0}):
        response = api["approver"].get(url, query)
        assert response.status_code == 400 and response.json()["code"] == "invalid"


# --- command, beat, pages -------------------------------------------------------------------------------------------


def test_verifychain_command_exits_0_when_the_chain_holds_and_1_when_broken(sign_verdicts, capsys):
    verdicts = sign_verdicts(2)
    call_command("verifychain")
    assert json.loads(capsys.readouterr().out) == {
        "ok": True,
        "count": 2,
        "head": verdicts[-1].hash,
        "broken_at": None,
        "reason": "",
    }
    Verdict.objects.filter(pk=verdicts[0].pk).update(rationale="edited")
    with pytest.raises(SystemExit) as exited:
        call_command("verifychain")
    assert exited.value.code == 1
    assert json.loads(capsys.readouterr().out)["broken_at"] == verdicts[0].pk


def test_beat_checks_the_chain_hourly_by_default(sign_verdicts):
    entry = settings.CELERY_BEAT_SCHEDULE["verdict-chain-check"]
    schedule = entry["schedule"]
    assert entry["task"] == "reviews.tasks.verdict_chain_check_task" and isinstance(schedule, datetime.timedelta)
    assert schedule.total_seconds() == 3600
    sign_verdicts(1)
    assert verdict_chain_check_task() is True
    assert ChainCheck.objects.get().trigger == "schedule"


def page_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_broken_chain_shows_a_banner_to_approvers_and_admins_until_acknowledged(users, sign_verdicts):
    first = sign_verdicts(1)[0]
    assert 'id="chain-banner"' not in page_for(users["approver"]).get("/").content.decode()
    Verdict.objects.filter(pk=first.pk).update(rationale="edited")
    check()
    for role in ("approver", "admin"):
        page = page_for(users[role]).get("/").content.decode()
        assert 'id="chain-banner"' in page and "(edited)" in page
    assert 'id="chain-banner"' not in page_for(users["reviewer"]).get("/").content.decode()
    assert 'name="note"' in page_for(users["admin"]).get("/").content.decode()  # admins acknowledge from the banner
    assert 'name="note"' not in page_for(users["approver"]).get("/").content.decode()
    answer = page_for(users["admin"]).post("/chain/acknowledge", {"note": "looked into it", "next": "/"})
    assert answer.status_code == 302 and answer["Location"] == "/"
    assert 'id="chain-banner"' not in page_for(users["approver"]).get("/").content.decode()
    assert "looked into it" in page_for(users["approver"]).get("/chain/").content.decode()


def test_the_verdict_page_warns_when_its_hash_or_link_does_not_hold(users, sign_verdicts):
    first, second = sign_verdicts(2)
    assert 'id="verdict-integrity"' not in page_for(users["approver"]).get(f"/verdicts/{first.pk}/").content.decode()
    Verdict.objects.filter(pk=first.pk).update(rationale="edited", hash="b" * 64)
    edited = page_for(users["approver"]).get(f"/verdicts/{first.pk}/").content.decode()
    assert 'id="verdict-integrity"' in edited and "its content does not match its hash (edited)" in edited
    relinked = page_for(users["approver"]).get(f"/verdicts/{second.pk}/").content.decode()
    assert 'id="verdict-integrity"' in relinked and "is not in the chain" in relinked


def test_the_chain_page_runs_a_check(users, sign_verdicts):
    sign_verdicts(1)
    client = page_for(users["approver"])
    assert client.post("/chain/check").status_code == 302
    assert ChainCheck.objects.get().ok
    assert page_for(users["reviewer"]).get("/chain/").status_code == 403
