"""The campaign report: the results, the gate, the charts and the content hashes, as JSON and as one HTML page.
Frozen into the verdict's evidence at sign-off, so what the approver saw stays what was signed."""

import base64
import hashlib
import re
from functools import lru_cache
from html import unescape

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils.html import escape

from reviews.charts import plotly_bundle, plotly_style_ids, results_charts

# Inline, so the downloaded file reads well opened from disk; the report's policy names it by its hash.
REPORT_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2rem auto;padding:0 1rem;color:#1d2330}"
    "table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{text-align:left;padding:.3rem .5rem;"
    "border-bottom:1px solid #dde1e8}code{font-size:.9em}h2{margin-top:2rem}.muted{color:#5d6677}"
)


def _style_hash(text: str) -> str:
    return _source_hash(text)


def _source_hash(text: str) -> str:
    """The CSP source that allows one inline <style> or <script> by the SHA-256 of its content."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# The report's own Content-Security-Policy, in a <meta> (it holds when the file is opened from disk) and in the
# header when the app serves it. The signed report names the app's scripts (/assets/plotly.js and charts.js, 'self'),
# which draw the figures kept as JSON; the download inlines both and allows them by hash (report_self_contained). Styles: the report's own block, and the empty
# elements Plotly fills through the CSSOM (charts.plotly_style_ids), by their hashes.
REPORT_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        f"style-src {_style_hash(REPORT_CSS)} {_style_hash('')}",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
    ]
)


def report_html(*, campaign, evidence: dict) -> str:
    results = evidence["results"]
    return render_to_string(
        "reviews/report.html",
        {
            "campaign": campaign,
            "results": results,
            "evidence": evidence,
            "charts": results_charts(results),
            "css": REPORT_CSS,
            "csp": REPORT_CSP,
            "plotly_style_ids": plotly_style_ids(),
        },
    )


# The scripts a report names (plotly from /assets/, charts.js from the static files, hashed name or not): the
# download carries their text instead, so the file draws its charts from disk with no network.
_PLOTLY_TAG = re.compile(r'<script src="[^"]*/plotly\.js" defer></script>')
_POLICY_META = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">')
_CHARTS_TAG = re.compile(r'<script src="[^"]*/charts(?:\.[0-9a-f]+)?\.js" defer></script>')


@lru_cache(maxsize=1)
def report_scripts() -> tuple[str, str]:
    """The text of Plotly (the installed package's bundle, as /assets/plotly.js serves it) and of charts.js."""
    charts_path = finders.find("signoff/charts.js")
    if not charts_path:  # a deployment without its static files is broken, not a report to send half-drawn
        raise FileNotFoundError("signoff/charts.js is not among the static files")
    with open(charts_path, encoding="utf-8") as charts:
        return plotly_bundle().decode(), charts.read()


@lru_cache(maxsize=1)
def _script_sources() -> str:
    """Both scripts' hashes for the policy (hashing Plotly's 4.8 MB takes a while: once per process)."""
    return " ".join(_source_hash(script) for script in report_scripts())


def report_self_contained(html: str) -> tuple[str, str]:
    """The report as downloaded: Plotly (from the installed package) and charts.js inlined, allowed by their hashes
    in the report's own policy. Returns (html, policy). The signed report keeps naming the scripts, so a verdict's
    evidence stays small; only the libraries' text is added here, never a figure: the verdict holds those."""
    meta = _POLICY_META.search(html)
    if not (meta and _PLOTLY_TAG.search(html) and _CHARTS_TAG.search(html)):
        return html, REPORT_CSP
    plotly, charts = report_scripts()
    policy = unescape(meta.group(1)).replace("script-src 'self'", f"script-src {_script_sources()}")
    # neither script holds "</script" or "<!--" (tests check it), so each sits in a <script> element as it is
    html = _PLOTLY_TAG.sub(lambda _: f"<script>{plotly}</script>", html, count=1)
    html = _CHARTS_TAG.sub(lambda _: f"<script>{charts}</script>", html, count=1)
    html = _POLICY_META.sub(
        lambda _: f'<meta http-equiv="Content-Security-Policy" content="{escape(policy)}">', html, count=1
    )
    return html, policy
