"""Inspecting what shipped, through the API: production logs in (validated, whole or nothing, once per content) and
out, schedules, runs on request and per period (once each), the drop alert by webhook and e-mail, permissions."""

from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pytest
from django.core import mail
from scipy import stats
from standardwebhooks.webhooks import Webhook

from inspections.models import InspectionRun, InspectionSchedule, LogBatch, ProductionLog
from inspections.selectors import inspection_trend
from inspections.services.alerts import inspection_alerts_check
from inspections.services.schedules import inspection_run, inspections_run_due, sample_logs
from models_app.models import ModelVersion
from notifications.models import Notification
from notifications.services import notification_send
from reviews.models import Campaign
from tests.factories import jsonl_file
from tests.support.receiver import webhook_receiver
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_delivery_attempt

LABELS = ["pos", "neg"]


@pytest.fixture
def tagger(api, users):
    """A model with version 1 in production (version 2 a candidate), registered by the data scientist."""
    ds = api["ds"]
    assert ds.post("/api/v1/models/", {"name": "tagger"}, format="json").status_code == 201
    for version in ("1", "2"):
        assert ds.post("/api/v1/models/tagger/versions/", {"version": version}, format="json").status_code == 201
    ModelVersion.objects.filter(version="1").update(
        stage=ModelVersion.Stage.PRODUCTION
    )  # its sign-off is not tested here
    return ModelVersion.objects.get(version="1")


def logs(n, *, start=0, at=None, wrong=0, tag=lambda i: "lang:en"):
    """n logs; the model's output is right (equal to the truth in the input) except for the first `wrong`."""
    rows = []
    for i in range(start, start + n):
        truth = LABELS[i % 2]
        output = LABELS[(i + 1) % 2] if i - start < wrong else truth
        row = {"id": f"req-{i}", "input": {"text": f"review {i}", "truth": truth}, "output": output, "tags": [tag(i)]}
        if at is not None:
            row["at"] = (at + timedelta(seconds=i - start)).isoformat()
        rows.append(row)
    return rows


def upload(client, rows, version="1", name="logs.jsonl"):
    return client.post(
        f"/api/v1/models/tagger/versions/{version}/logs/", {"file": jsonl_file(rows, name)}, format="multipart"
    )


# --- logs ----------------------------------------------------------------------------------------------------------


def test_logs_upload_stores_each_line_with_its_time_and_the_same_file_again_is_the_same_batch(api, tagger):
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    rows = [*logs(3, at=at), {"input": "no id, no time", "output": "pos"}]
    first = upload(api["ds"], rows)
    assert first.status_code == 201, first.json()
    assert first.json()["logs"] == 4
    again = upload(api["ds"], rows)
    assert again.status_code == 200 and again.json() == first.json()
    assert LogBatch.objects.count() == 1 and ProductionLog.objects.count() == 4
    stored = ProductionLog.objects.get(external_id="req-1")
    assert stored.at == at + timedelta(seconds=1) and stored.tags == ["lang:en"] and stored.model_version == tagger
    untimed = ProductionLog.objects.get(external_id="")
    assert abs((untimed.at - untimed.batch.created_at).total_seconds()) < 5  # default: the upload's time


def test_a_bad_line_anywhere_stores_nothing_and_every_error_names_its_line_and_field(api, tagger):
    rows = [*logs(2), {"input": "x"}, {"input": "y", "output": "pos", "at": "yesterday"}, {"output": "pos"}]
    response = upload(api["ds"], rows)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_upload" and body["extra"]["total"] == 3
    assert [(e["line"], e["field"]) for e in body["extra"]["errors"]] == [(3, "output"), (4, "at"), (5, "input")]
    assert body["message"].startswith("logs.jsonl line 3, field 'output'")
    assert not ProductionLog.objects.exists() and not LogBatch.objects.exists()
    naive = upload(api["ds"], [{"input": "y", "output": "pos", "at": "2026-11-02T09:00:00"}])
    assert naive.status_code == 400 and "time zone" in naive.json()["extra"]["errors"][0]["message"]


def test_a_log_file_over_the_uploads_limit_is_refused_with_413_naming_the_limit(api, tagger, settings):
    settings.SIGNOFF_MAX_UPLOAD_BYTES = 100  # the uploads' general limit (20 GiB), as a resumable upload's
    response = upload(api["ds"], logs(5))
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert response.json()["extra"]["max_bytes"] == 100 and not ProductionLog.objects.exists()


def test_logs_export_streams_jsonl_in_time_order(api, tagger):
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    upload(api["ds"], list(reversed(logs(3, at=at))))
    response = api["approver"].get("/api/v1/models/tagger/versions/1/logs.jsonl")
    assert response.status_code == 200 and response.streaming
    lines = [orjson.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [r["id"] for r in lines] == ["req-0", "req-1", "req-2"]
    assert lines[0] == {
        "id": "req-0",
        "input": {"text": "review 0", "truth": "pos"},
        "output": "pos",
        "tags": ["lang:en"],
        "at": "2026-11-02T09:00:00Z",
    }


def test_reviewers_may_neither_upload_nor_read_logs_nor_see_schedules(api, tagger):
    assert upload(api["reviewer"], logs(1)).status_code == 403
    assert upload(api["approver"], logs(1)).status_code == 403  # as predictions: data scientists write
    assert api["reviewer"].get("/api/v1/models/tagger/versions/1/logs.jsonl").status_code == 403
    assert api["reviewer"].get("/api/v1/inspections/").status_code == 403
    assert api["reviewer"].post("/api/v1/inspections/", {}, format="json").status_code == 403
    assert api["approver"].post("/api/v1/inspections/1/run/").status_code == 403
    assert upload(api["admin"], logs(1)).status_code == 201
    assert api["ds"].get("/api/v1/models/tagger/versions/9/logs.jsonl").status_code == 404


# --- schedules and runs ---------------------------------------------------------------------------------------------


def create_schedule(client, **overrides):
    body = {"model": "tagger", "every": "1d", "sample": 10, "kind": "labeling", "labels": LABELS, "reviewers": ["rev"]}
    return client.post("/api/v1/inspections/", {**body, **overrides}, format="json")


def test_schedule_is_created_for_the_version_in_production_by_default(api, tagger):
    response = create_schedule(api["ds"], stratify_by="lang", floor=0.8)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] is None and body["every"] == "1d" and body["reviewers"] == ["rev"] and body["runs"] == []
    assert api["approver"].get(f"/api/v1/inspections/{body['id']}/").json()["floor"] == 0.8


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"every": "weekly"}, "every"),
        ({"every": "0d"}, "every"),
        ({"sample": 0}, "sample"),
        ({"labels": []}, "labels"),
        ({"kind": "rating", "rubric": []}, "rubric"),
        ({"kind": "rating", "rubric": [{"name": "A"}]}, "rubric"),
        ({"kind": "rating", "rubric": [{"name": "ok", "scale": "stars"}]}, "rubric"),
        ({"reviewers": ["approver"]}, "reviewers"),
        ({"reviewers": ["nobody"]}, "reviewers"),
        ({"floor": 1.5}, "floor"),
    ],
)
def test_a_bad_schedule_is_refused_naming_its_field(api, tagger, overrides, field):
    response = create_schedule(api["ds"], **overrides)
    assert response.status_code == 400, response.json()
    body = response.json()
    assert field in (body.get("extra", {}).get("field"), *body.get("extra", {}).get("fields", {})), body
    assert not InspectionSchedule.objects.exists()


def test_run_now_samples_the_last_period_of_the_production_version_into_a_campaign(api, tagger):
    schedule = create_schedule(api["ds"], sample=4).json()
    old = datetime.now(UTC) - timedelta(days=3)
    upload(api["ds"], logs(6) + logs(5, start=100, at=old))  # 6 now, 5 outside the period
    upload(api["ds"], logs(3, start=200), version="2")  # a candidate's logs are not production's
    response = api["ds"].post(f"/api/v1/inspections/{schedule['id']}/run/")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["tasks"] == 4 and body["logs_in_period"] == 6
    campaign = Campaign.objects.get(pk=body["campaign"])
    assert campaign.kind == "labeling" and campaign.candidate == tagger and not campaign.show_suggestion
    assert campaign.gate_policy["stop_when_decided"] is False  # the whole sample is judged
    shown = {t.item.external_id for t in campaign.tasks.select_related("item")}
    assert len(shown) == 4 and shown <= {f"req-{i}" for i in range(6)}
    # the expert sees the logged input; the prediction is the logged output
    task = api["reviewer"].get(f"/api/v1/campaigns/{campaign.pk}/next/").json()
    assert task["input"]["text"].startswith("review ")


def test_a_period_without_logs_creates_nothing_and_says_so_on_the_answer_and_the_history(api, tagger):
    schedule = create_schedule(api["ds"]).json()
    response = api["ds"].post(f"/api/v1/inspections/{schedule['id']}/run/")
    assert response.status_code == 200
    body = response.json()
    assert body["campaign"] is None and body["tasks"] == 0 and "No logs of tagger:1" in body["note"]
    history = api["ds"].get(f"/api/v1/inspections/{schedule['id']}/").json()["runs"]
    assert [r["note"] for r in history] == [body["note"]] and not Campaign.objects.exists()


def test_each_period_runs_once_however_often_beat_looks(api, tagger):
    schedule = InspectionSchedule.objects.get(pk=create_schedule(api["ds"], every="1h").json()["id"])
    anchor = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
    InspectionSchedule.objects.filter(pk=schedule.pk).update(anchor=anchor)
    upload(api["ds"], logs(5, at=anchor + timedelta(minutes=10)))
    assert inspections_run_due(now=anchor + timedelta(minutes=59)) == []  # the first period has not ended
    first = inspections_run_due(now=anchor + timedelta(minutes=61))
    assert len(first) == 1 and inspections_run_due(now=anchor + timedelta(minutes=62)) == []
    run = InspectionRun.objects.get(pk=first[0])
    assert (run.period_start, run.period_end, run.tasks, run.trigger) == (
        anchor,
        anchor + timedelta(hours=1),
        5,
        "beat",
    )
    again, created = inspection_run(
        schedule=schedule, period_start=anchor, period_end=anchor + timedelta(hours=1), trigger="beat"
    )
    assert not created and again.pk == run.pk and Campaign.objects.count() == 1
    nothing = InspectionRun.objects.get(pk=inspections_run_due(now=anchor + timedelta(minutes=125))[0])
    assert nothing.campaign is None and "No logs" in nothing.note  # the second hour had none


def test_stratified_sample_gives_each_tag_its_share():
    rows = [(i, ["lang:en"]) for i in range(80)] + [(100 + i, ["lang:fr"]) for i in range(15)] + [(200, ["x"])]
    import random

    chosen = sample_logs(rows, 10, "lang", random.Random(1))
    assert len(chosen) == 10 and len(set(chosen)) == 10
    assert sum(c < 100 for c in chosen) == 8 and sum(100 <= c < 200 for c in chosen) == 1 and 200 in chosen


# --- trend and alert ------------------------------------------------------------------------------------------------


def judge_period(api, campaign_id, *, mislabel: frozenset[str] = frozenset()) -> None:
    """The expert gives the true label (from the input), except on items in `mislabel`."""
    client = api["reviewer"]
    while (task := client.get(f"/api/v1/campaigns/{campaign_id}/next/")).status_code == 200:
        body = task.json()
        truth = body["input"]["truth"]
        label = truth if body["item"] not in mislabel else LABELS[1 - LABELS.index(truth)]
        assert (
            client.post(f"/api/v1/tasks/{body['task']}/judgments/", {"labels": [label]}, format="json").status_code
            == 201
        )


@pytest.fixture
def receiver(settings):
    settings.SIGNOFF_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    with webhook_receiver() as receiver:
        yield receiver


def test_a_clear_drop_fires_one_signed_webhook_and_mails_the_owners(api, tagger, users, receiver):
    endpoint_response = api["ds"].post(
        "/api/v1/webhooks/", {"url": receiver.url, "events": ["inspection.alert"]}, format="json"
    )
    assert endpoint_response.status_code == 201, endpoint_response.json()
    for user in users.values():
        user.email = f"{user.username}@example.test"
        user.save(update_fields=["email"])
    schedule = InspectionSchedule.objects.get(pk=create_schedule(api["ds"], sample=20).json()["id"])
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for period in range(4):
        begin = start + timedelta(days=period)
        # the model is right on 19 of 20 for three days, then on 8 of 20
        upload(api["ds"], logs(20, start=period * 100, at=begin + timedelta(hours=1), wrong=1 if period < 3 else 12))
        run, _ = inspection_run(
            schedule=schedule, period_start=begin, period_end=begin + timedelta(days=1), trigger="beat"
        )
        assert run.tasks == 20
        assert inspection_alerts_check(schedule=schedule) is None  # nothing judged yet: nothing compared
        judge_period(api, run.campaign_id)
        alerted = inspection_alerts_check(schedule=schedule)
        assert (alerted is not None) == (period == 3)
    run.refresh_from_db()
    assert run.alert is not None
    assert run.alert["test"]["test"] == "two-proportion z-test"
    assert run.alert["test"]["last"] == pytest.approx(8 / 20) and run.alert["test"]["previous"] == pytest.approx(
        57 / 60
    )
    assert run.alert["test"]["p_value"] < 0.05
    assert inspection_alerts_check(schedule=schedule) is None  # once per period
    delivery = WebhookDelivery.objects.get(event="inspection.alert")
    assert delivery.endpoint == WebhookEndpoint.objects.get() and delivery.payload["data"]["model"] == "tagger"
    assert delivery.payload["data"]["run"] == run.pk and delivery.payload["data"]["version"] == "1"
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None  # what the worker does with the outbox row
    (request,) = receiver.requests
    secret = endpoint_response.json()["secret"]
    assert (
        Webhook(secret).verify(request.body, request.headers)["data"]["test"]["p_value"] == run.alert["test"]["p_value"]
    )
    note = Notification.objects.get(kind="inspection.alert")  # the model's creator and its versions' registrar
    assert note.recipient == users["ds"] and f"/inspections/{schedule.pk}/" in note.url
    assert notification_send(notification_id=note.pk) is None
    (sent,) = mail.outbox
    assert sent.to == [users["ds"].email] and "two-proportion z-test" in sent.body
    api_runs = api["approver"].get(f"/api/v1/inspections/{schedule.pk}/").json()["runs"]
    assert [bool(r["alert"]) for r in api_runs] == [False, False, False, True]


def test_a_period_below_the_floor_alerts_even_without_history(api, tagger):
    schedule = InspectionSchedule.objects.get(pk=create_schedule(api["ds"], sample=6, floor=0.9).json()["id"])
    begin = datetime(2026, 11, 1, tzinfo=UTC)
    upload(api["ds"], logs(6, at=begin, wrong=2))
    run, _ = inspection_run(schedule=schedule, period_start=begin, period_end=begin + timedelta(days=1), trigger="beat")
    judge_period(api, run.campaign_id)
    alerted = inspection_alerts_check(schedule=schedule)
    assert alerted is not None and alerted.alert is not None and alerted.alert["test"] is None
    assert alerted.alert["reasons"] == ["quality 0.667 is below the floor 0.900"]


def test_the_schedule_list_reads_a_fixed_number_of_queries(api, tagger, django_assert_max_num_queries):
    for _ in range(3):
        schedule = create_schedule(api["ds"]).json()
        api["ds"].post(f"/api/v1/inspections/{schedule['id']}/run/")  # a run each, with its note
    with django_assert_max_num_queries(12):
        body = api["approver"].get("/api/v1/inspections/").json()
    assert body["count"] == 3 and all(len(s["runs"]) == 1 for s in body["results"])


def test_a_rating_inspection_charts_the_mean_normalised_score_with_its_t_interval(api, tagger, client, users):
    rubric = [{"name": "helpful", "scale": "likert"}, {"name": "safe", "scale": "pass_fail"}]
    schedule = create_schedule(api["ds"], kind="rating", rubric=rubric, labels=[], sample=3).json()
    upload(api["ds"], logs(3))
    run = api["ds"].post(f"/api/v1/inspections/{schedule['id']}/run/").json()
    assert run["tasks"] == 3
    reviewer = api["reviewer"]
    for helpful, safe in ((5, "pass"), (3, "pass"), (1, "fail")):  # normalised: 1.0, 0.75, 0.0
        task = reviewer.get(f"/api/v1/campaigns/{run['campaign']}/next/").json()
        body = {"ratings": {"helpful": helpful, "safe": safe}}
        assert reviewer.post(f"/api/v1/tasks/{task['task']}/judgments/", body, format="json").status_code == 201
    (point,) = inspection_trend(schedule=InspectionSchedule.objects.get(pk=schedule["id"]))
    assert point["finished"] and point["n"] == 3
    expected = stats.t.interval(0.95, 2, loc=np.mean([1.0, 0.75, 0.0]), scale=stats.sem([1.0, 0.75, 0.0]))
    assert point["estimate"] == pytest.approx(1.75 / 3)
    assert (point["low"], point["high"]) == pytest.approx(expected)
    client.force_login(users["approver"])
    page = client.get(f"/inspections/{schedule['id']}/")
    assert page.status_code == 200 and b"trend-chart" in page.content and b"mean normalised score" in page.content
