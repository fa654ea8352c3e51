"""The downloaded report carries its chart scripts: inlined whole, each allowed by its hash, nothing else changed."""

import base64
import hashlib
import re
from html import unescape

import pytest

from reviews.charts import plotly_bundle
from reviews.report import REPORT_CSP, report_scripts, report_self_contained

# The report's HTML alone: nothing here reads the database or the broker.
pytestmark = pytest.mark.db_agnostic

SIGNED = (
    '<!doctype html><html><head><meta http-equiv="Content-Security-Policy" content="{csp}">'
    '<script src="/assets/plotly.js" defer></script>'
    '<script src="/static/signoff/charts.0123abcd.js" defer></script></head><body><h1>r</h1>'
    '<script type="application/json" id="c-figure">{{}}</script></body></html>'
)


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_inlined_scripts_cannot_end_their_script_element():
    for script in report_scripts():
        assert "</script" not in script.lower() and "<!--" not in script


def test_report_inlines_plotly_from_the_installed_package_and_allows_it_by_hash():
    signed = SIGNED.format(csp=REPORT_CSP.replace("'", "&#x27;"))
    html, policy = report_self_contained(signed)
    plotly, charts = report_scripts()
    assert plotly == plotly_bundle().decode() and f"<script>{plotly}</script>" in html
    assert f"<script>{charts}</script>" in html and "<script src=" not in html
    assert f"script-src {_hash(plotly)} {_hash(charts)}" in policy and "script-src 'self'" not in policy
    meta = re.search(r'content="([^"]*)"', html)
    assert meta and unescape(meta.group(1)) == policy
    assert html.endswith('<h1>r</h1><script type="application/json" id="c-figure">{}</script></body></html>')


def test_a_report_without_the_script_tags_is_left_as_it_is():
    assert report_self_contained("<p>old</p>") == ("<p>old</p>", REPORT_CSP)
