"""The registry's side-by-side comparison: what it shows of each version, who may see it, and its bounded reads."""

import pytest
from django.core.cache import cache
from django.test import Client

from models_app.models import ModelVersion
from reviews.comparison import COMPUTE_PER_VIEW, model_versions_comparison
from reviews.services.decisions import campaign_gate_check
from tests.test_gate_flow import create, judge

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def signed_pass(api, loop_data) -> int:
    """calc:2 judged better than calc:1 to a pass, and approved."""
    cid = create(api, loop_data)
    judge(api["reviewer"], cid, "candidate", 6)
    assert campaign_gate_check(campaign_id=cid) == "pass"
    signed = api["approver"].post(
        f"/api/v1/campaigns/{cid}/signoff/", {"decision": "approve", "rationale": "better"}, format="json"
    )
    assert signed.status_code in (200, 201), signed.json()
    return cid


def describe_versions():
    ModelVersion.objects.filter(version="1").update(params={"lr": 0.1, "layers": 2}, metrics={"acc": 0.9, "f1": 0.8})
    ModelVersion.objects.filter(version="2").update(params={"lr": 0.1, "layers": 3}, metrics={"acc": 0.95, "loss": 1})


def test_comparison_marks_what_differs_and_shows_each_campaigns_figure_and_verdict(api, users, loop_data):
    describe_versions()
    cid = signed_pass(api, loop_data)
    c = model_versions_comparison(model_name="calc", versions=["1", "2"], user=users["ds"])
    assert [v.version for v in c.versions] == ["2", "1"]  # oldest first (registered first): the reference
    metrics = {row.name: row for row in c.metrics}
    assert metrics["acc"].differs and metrics["acc"].cells[1]["delta"] == "-0.05"
    assert not metrics["f1"].cells[0]["present"] and metrics["f1"].cells[1]["text"] == "0.8"
    assert metrics["loss"].differs and not metrics["loss"].cells[1]["present"]
    params = {row.name: row for row in c.params}
    assert not params["lr"].differs and params["layers"].differs
    [row] = c.campaigns
    assert row.campaign.pk == cid and row.verdict.decision_past == "approved"
    candidate, baseline = row.cells
    assert candidate and baseline
    assert (candidate["role"], baseline["role"]) == ("candidate", "baseline")
    rate = candidate["win_rate"]
    assert rate["estimate"] == 1.0 and 0 < rate["low"] < rate["estimate"] <= rate["high"]
    assert baseline["win_rate"] == rate  # read as what the candidate achieved against it
    assert c.verdicts == [[row.campaign], []]  # a verdict belongs to the campaign's candidate


def test_compare_page_renders_both_versions_and_escapes_their_params(api, users, loop_data):
    ModelVersion.objects.filter(version="2").update(params={"note": "<script>alert(1)</script>"})
    page = page_client(users["approver"]).get("/models/calc/compare?v=1&v=2")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="compare-metrics"' in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html


def test_compare_needs_two_versions_and_a_data_scientist_or_approver(api, users, loop_data):
    one = page_client(users["ds"]).get("/models/calc/compare?v=1")
    assert one.status_code == 200 and "Pick two or more versions" in one.content.decode()  # the picker, one ticked
    assert 'value="1" checked' in one.content.decode() and 'id="compare-campaigns"' not in one.content.decode()
    assert page_client(users["ds"]).get("/models/nope/compare?v=1&v=2").status_code == 404
    assert page_client(users["reviewer"]).get("/models/calc/compare?v=1&v=2").status_code == 403
    assert Client().get("/models/calc/compare?v=1&v=2").status_code == 302  # to the login page


def test_reviewer_sees_only_campaigns_they_review(api, users, loop_data):
    """The selector answers per user: a campaign another user may not see never appears (the page itself is for
    data scientists and approvers, who see every campaign)."""
    create(api, loop_data)
    assert model_versions_comparison(model_name="calc", versions=["1", "2"], user=users["admin"]).campaigns
    outsider = users["reviewer"].__class__.objects.create_user(username="out", password="x", role="reviewer")
    assert model_versions_comparison(model_name="calc", versions=["1", "2"], user=outsider).campaigns == []


def _queries(client, django_assert_max_num_queries, limit):
    with django_assert_max_num_queries(limit) as captured:
        assert client.get("/models/calc/compare?v=1&v=2").status_code == 200
    return len(captured)


def test_compare_page_queries_stay_bounded_as_campaigns_grow(api, users, loop_data, django_assert_max_num_queries):
    client = page_client(users["ds"])
    signed_pass(api, loop_data)
    client.get("/models/calc/compare?v=1&v=2")  # computes and keeps the one campaign's results
    with_one = _queries(client, django_assert_max_num_queries, 12)
    for _ in range(7):
        create(api, loop_data)
    # cold: at most COMPUTE_PER_VIEW campaigns' results computed by one view, the others say so
    cold = client.get("/models/calc/compare?v=1&v=2").content.decode()
    assert cold.count("results not computed yet") == 2 * (7 - COMPUTE_PER_VIEW)
    client.get("/models/calc/compare?v=1&v=2")  # the rest
    # warm: the same queries for eight campaigns as for one
    assert _queries(client, django_assert_max_num_queries, 12) == with_one, with_one
    assert "results not computed yet" not in client.get("/models/calc/compare?v=1&v=2").content.decode()
