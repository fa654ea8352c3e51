"""The campaign report: the results, the gate, the charts and the content hashes, as JSON and as one HTML page.
Frozen into the verdict's evidence at sign-off, so what the approver saw stays what was signed."""
from django.template.loader import render_to_string

from reviews.charts import results_charts


def report_html(*, campaign, evidence: dict) -> str:
    results = evidence["results"]
    return render_to_string("reviews/report.html", {
        "campaign": campaign, "results": results, "evidence": evidence, "charts": results_charts(results),
    })
