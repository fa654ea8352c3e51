"""The Content-Security-Policy without a browser: the header on every kind of response, templates that need no
'unsafe-inline', and chart data that cannot end its <script> block whatever the labels say."""

import re
from pathlib import Path

import pytest
from django.test import Client

from reviews.charts import slices_chart

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@pytest.mark.parametrize("path", ["/login/", "/api/docs/", "/api/redoc/", "/no/such/page/", "/api/v1/campaigns/"])
def test_every_response_carries_the_policy(db, path):
    policy = Client().get(path)["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "'unsafe-eval'" not in policy and "script-src 'self' 'unsafe-inline'" not in policy


def test_only_redoc_allows_inline_styles(db):
    assert "'unsafe-inline'" in Client().get("/api/redoc/")["Content-Security-Policy"]
    assert "'unsafe-inline'" not in Client().get("/api/docs/")["Content-Security-Policy"]


# An e-mail's HTML part is never served, so no policy applies to it; mail clients drop <style> blocks and linked
# stylesheets, so its few styles are inline. Scripts and handlers are refused there too.
EMAIL_TEMPLATES = {"notifications/email.html"}


@pytest.mark.parametrize("template", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html")))
def test_templates_have_no_inline_handlers_styles_or_scripts(template):
    text = re.sub(r"\{#.*?#\}", "", (TEMPLATES / template).read_text(), flags=re.DOTALL)  # comments may name tags
    assert not re.search(r"\son[a-z]+\s*=", text), "an inline event handler"
    assert template in EMAIL_TEMPLATES or not re.search(r"\sstyle\s*=", text), "a style attribute"
    assert "javascript:" not in text
    for attributes in re.findall(r"<script\b([^>]*)>", text):
        assert "src=" in attributes or 'type="application/json"' in attributes, (
            f"an inline script: <script{attributes}>"
        )
    for attributes in re.findall(r"<style\b([^>]*)>", text):
        assert "nonce=" in attributes or template == "reviews/report.html", (
            f"a <style> without the nonce: <style{attributes}>"
        )


def test_chart_data_cannot_close_its_script_block():
    hostile = "</script><script>window.__pwned=1</script><!--"
    results = {
        "policy": {"min_win_rate": 0.5},
        "slices": {
            "all": {"figure": {"estimate": 0.6, "low": 0.5, "high": 0.7}},
            hostile: {"figure": {"estimate": 0.4, "low": 0.3, "high": 0.5}},
        },
    }
    html = slices_chart(results)
    assert html is not None
    assert html.count("<script") == 1 and html.count("</script>") == 1 and "<!--" not in html
    assert 'type="application/json"' in html
