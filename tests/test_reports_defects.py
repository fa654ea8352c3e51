"""Issue 15's "elsewhere" defects, below the browser: words for decisions and states, JSON for uploaded values,
nested markdown lists, the chart's axis, the verdict's evidence summary, and where a discard returns to."""

import re

import markdown
import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from core.templatetags.signoff import json_or_text
from reviews.charts import sequence_chart
from reviews.content import render_markdown_safe
from reviews.markdown_lists import nest_list_indents
from reviews.models import DECISION_PAST, Campaign, Judgment, Verdict
from tests.test_gate_flow import create, judge
from tests.test_registry_compare import signed_pass


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_every_decision_has_a_spelt_out_past_tense():
    assert {d: DECISION_PAST[d] for d in Verdict.Decision.values} == {"approve": "approved", "reject": "rejected"}
    assert Verdict(decision="reject").decision_past == "rejected"


def test_an_active_campaign_whose_gate_decided_says_it_awaits_sign_off():
    assert Campaign(status="active", decision="pass").status_label == "decided: pass — awaiting sign-off"
    assert Campaign(status="active", decision="").status_label == "active"
    assert Campaign(status="closed", decision="fail").status_label == "closed"


def test_uploaded_values_show_as_json_never_as_python_reprs():
    assert (
        json_or_text({"question": "é?", "ok": True, "n": None})
        == '{\n  "question": "é?",\n  "ok": true,\n  "n": null\n}'
    )
    assert json_or_text("plain <b>text</b>") == "plain <b>text</b>" and json_or_text(None) == ""
    assert json_or_text([1, "a"]) == '[\n  1,\n  "a"\n]'


@pytest.mark.parametrize(
    ("source", "nested"),
    [
        ("- a\n  - b\n  - c\n- d", "<li>a<ul>\n<li>b</li>\n<li>c</li>\n</ul>\n</li>"),
        ("1. a\n   - b\n2. c", "<li>a<ul>\n<li>b</li>\n</ul>\n</li>"),
        ("- a\n    - b", "<li>a<ul>\n<li>b</li>\n</ul>\n</li>"),  # four spaces, as Python-Markdown wants: unchanged
    ],
)
def test_nested_lists_nest_at_two_spaces_or_under_the_items_text(source, nested):
    assert nested in render_markdown_safe(source)


def test_code_blocks_and_fences_keep_their_indentation():
    assert nest_list_indents("para\n\n    - not a list, code") == "para\n\n    - not a list, code"
    fenced = "- a\n```\n  - b\n```"
    assert nest_list_indents(fenced) == fenced
    assert "<pre><code>x = 1" in render_markdown_safe("- a\n\n      x = 1")  # code inside an item stays code


@given(st.lists(st.sampled_from(["- a", "  - b", "    - c", "1. d", "   - e", "text", "", "  more"]), max_size=12))
def test_renormalising_changes_nothing_more(lines):
    once = nest_list_indents("\n".join(lines))
    assert nest_list_indents(once) == once
    markdown.markdown(once)  # and it is still markdown


def test_the_evidence_chart_names_its_unit_once():
    results = {
        "sequence": {"n": [1, 2], "llr": [0.1, 0.2], "log_pass": 3.0, "log_fail": -3.0, "decided_at": None},
        "gate": {"unit": "item (mean of its 3 judgments)"},
    }
    chart = sequence_chart(results)
    assert chart and "one per item (mean of its 3 judgments)" in chart and ")s" not in chart


@pytest.mark.django_db
def test_verdict_page_summarises_the_evidence_and_links_the_report(api, users, loop_data):
    cid = signed_pass(api, loop_data)
    verdict = Verdict.objects.get(campaign_id=cid)
    html = page_client(users["approver"]).get(f"/verdicts/{verdict.pk}/").content.decode()
    assert f'href="/campaigns/{cid}/report.html"' in html and 'id="evidence-win-rate"' in html
    assert "&lt;!doctype" not in html.lower() and "report_html" not in html  # no report pasted in as text
    assert verdict.evidence["dataset"]["sha256"] in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    "back",
    ["https://evil.example/campaigns/{cid}/judgments/", "//evil.example/x", "/campaigns/999/judgments/", "/admin/"],
)
def test_discard_returns_only_to_this_campaigns_judgments(api, users, loop_data, back):
    cid = create(api, loop_data, min_judgments=50)
    judge(api["reviewer"], cid, "candidate", 1)
    judgment = Judgment.objects.get()
    response = page_client(users["ds"]).post(
        f"/judgments/{judgment.pk}/discard", {"reason": "x", "next": back.format(cid=cid)}
    )
    assert response.status_code == 302 and response["Location"] == f"/campaigns/{cid}/judgments/"


@pytest.mark.django_db
def test_discard_keeps_the_lists_filters_and_the_item(api, users, loop_data):
    cid = create(api, loop_data, min_judgments=50)
    judge(api["reviewer"], cid, "candidate", 1)
    judgment = Judgment.objects.get()
    back = f"/campaigns/{cid}/judgments/?contested=1#task-{judgment.task_id}"
    response = page_client(users["ds"]).post(f"/judgments/{judgment.pk}/discard", {"reason": "x", "next": back})
    assert response.status_code == 302 and response["Location"] == back


@pytest.mark.django_db
def test_refused_signoff_renders_the_form_with_what_was_typed(api, users, loop_data):
    cid = create(api, loop_data)
    response = page_client(users["approver"]).post(
        f"/campaigns/{cid}/signoff", {"decision": "approve", "rationale": "my <careful> reasoning"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "my &lt;careful&gt; reasoning</textarea>" in html
    assert re.search(r'<input[^>]*value="approve"[^>]*checked', html) and "gate" in html
