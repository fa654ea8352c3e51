"""The campaign report: the results, the gate, the charts and the content hashes, as JSON and as one HTML page.
Frozen into the verdict's evidence at sign-off, so what the approver saw stays what was signed."""

import base64
import hashlib

from django.template.loader import render_to_string

from reviews.charts import plotly_style_ids, results_charts

# Inline, so the downloaded file reads well opened from disk; the report's policy names it by its hash.
REPORT_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2rem auto;padding:0 1rem;color:#1d2330}"
    "table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{text-align:left;padding:.3rem .5rem;"
    "border-bottom:1px solid #dde1e8}code{font-size:.9em}h2{margin-top:2rem}.muted{color:#5d6677}"
)


def _style_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# The report's own Content-Security-Policy, in a <meta> (it holds when the file is opened from disk) and in the
# header when the app serves it. Charts come from the app's scripts (/assets/plotly.js and charts.js, 'self'),
# which draw the figures kept as JSON: no inline script at all. Styles: the report's own block, and the empty
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
