"""reviews.content: every Content shape, and untrusted markdown/code that cannot script the review page."""

import base64
import io
import json
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from reviews.content import MAX_STRING_CHARS, MAX_TABLE_ROWS, TRUNCATION_MARK, render_content, render_markdown_safe

# Rendering of Content is pure: nothing here reads the database or the broker.
pytestmark = pytest.mark.db_agnostic

MARKDOWN_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "a",
    "hr",
    "del",
    "span",
}
SAFE_SCHEMES = ("http://", "https://", "mailto:")


class MarkupCollector(HTMLParser):
    """Every start tag with its attributes, as a browser's tokenizer would see them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def markup(html: str) -> list[tuple[str, dict[str, str | None]]]:
    collector = MarkupCollector()
    collector.feed(html)
    collector.close()
    return collector.tags


def assert_inert(html: str, allowed_tags=MARKDOWN_TAGS) -> None:
    assert "<script" not in html.lower()
    for tag, attrs in markup(html):
        assert tag in allowed_tags, html
        for name, value in attrs.items():
            assert not name.startswith("on"), html
            assert name in {"href", "rel", "class", "start", "align"}, html
            if name == "href":
                assert value is not None and value.lower().startswith(SAFE_SCHEMES), html


def image_b64(fmt: str, size=(4, 3)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# --- shapes -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["auto", "text"])
def test_strings_in_auto_and_text_format_are_plain_text(fmt):
    assert render_content("<b>hi</b>\nthere", fmt) == {"type": "text", "text": "<b>hi</b>\nthere"}


def test_markdown_string_gives_sanitised_html_and_the_raw_text():
    source = "# Title\n\n**bold** and `code`\n\n| a | b |\n|---|--:|\n| 1 | 2 |\n\n```\nx < 1\n```"
    content = render_content(source, "markdown")
    assert set(content) == {"type", "html", "text"}
    assert content["type"] == "markdown" and content["text"] == source
    html = content["html"]
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert '<td align="right">2</td>' in html
    assert "<pre><code>x &lt; 1\n</code></pre>" in html


def test_code_with_a_fence_naming_its_language_is_highlighted_in_that_language():
    source = '```python\ndef f(x):\n    return "<b>"\n```'
    content = render_content(source, "code")
    assert content["type"] == "code" and content["language"] == "python" and content["text"] == source
    assert '<span class="k">def</span>' in content["html"]
    assert "&lt;b&gt;" in content["html"] and "```" not in content["html"]


def test_code_without_a_fence_has_its_language_guessed():
    assert render_content("#!/usr/bin/env python\nimport os\nprint(os.getcwd())\n", "code")["language"] == "python"
    assert render_content('{"a": [1, 2, null]}', "code")["language"] == "json"


def test_unguessable_code_is_shown_as_plain_text_in_a_code_block():
    content = render_content("just some words", "code")
    assert content == {"type": "code", "html": "just some words\n", "text": "just some words", "language": "text"}


@pytest.mark.parametrize("value", [3, 2.5, True, None, [1, "a"], {"nested": {"a": 1}}, [{"a": {"b": 1}}], [], {}])
def test_values_that_are_neither_tables_nor_images_nor_flat_records_are_json(value):
    assert render_content(value, "markdown") == {"type": "json", "value": value}


def test_list_of_flat_records_is_a_table_with_columns_in_first_seen_order():
    rows = [{"name": "a", "score": 1}, {"score": 2.5, "ok": True}, {"name": None}]
    assert render_content(rows) == {
        "type": "table",
        "columns": ["name", "score", "ok"],
        "rows": [["a", 1, None], [None, 2.5, True], [None, None, None]],
    }


def test_long_tables_are_cut_and_say_so():
    content = render_content([{"i": i} for i in range(MAX_TABLE_ROWS + 1)])
    assert len(content["rows"]) == MAX_TABLE_ROWS and content["truncated"] is True
    assert "truncated" not in render_content([{"i": i} for i in range(MAX_TABLE_ROWS)])


@pytest.mark.parametrize("fmt, mime", [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_image_record_becomes_a_data_url_and_drops_other_keys(fmt, mime):
    encoded = image_b64(fmt)
    content = render_content({"image": encoded, "caption": "<script>x</script>"})
    assert content == {"type": "image", "src": f"data:{mime};base64,{encoded}"}


def test_image_with_a_data_url_prefix_is_accepted():
    encoded = image_b64("PNG")
    assert render_content({"image": f"data:image/png;base64,{encoded}"})["src"] == f"data:image/png;base64,{encoded}"


@pytest.mark.parametrize("image", ["not base64!", base64.b64encode(b"<svg onload=alert(1)>").decode(), None, 5])
def test_invalid_or_foreign_images_fall_back_to_json(image):
    assert render_content({"image": image}) == {"type": "json", "value": {"image": image}}


def test_gif_is_not_an_image_we_show():
    assert render_content({"image": image_b64("GIF")})["type"] == "json"


def test_flat_record_becomes_fields_with_strings_in_the_requested_format():
    content = render_content({"prompt": "**hi**", "n": 3, "ok": False}, "markdown")
    assert content == {
        "type": "fields",
        "fields": [
            {"name": "prompt", "content": {"type": "markdown", "html": "<p><strong>hi</strong></p>", "text": "**hi**"}},
            {"name": "n", "content": {"type": "json", "value": 3}},
            {"name": "ok", "content": {"type": "json", "value": False}},
        ],
    }
    assert render_content({"prompt": "**hi**"})["fields"][0]["content"] == {"type": "text", "text": "**hi**"}


@pytest.mark.parametrize("fmt", ["auto", "text", "markdown", "code"])
def test_very_long_strings_are_truncated_and_say_so(fmt):
    content = render_content("a" * (MAX_STRING_CHARS + 5), fmt)
    assert content["truncated"] is True
    assert content["text"] == "a" * MAX_STRING_CHARS + TRUNCATION_MARK


def test_every_content_is_json_serialisable():
    value = {"rows": [{"a": 1}], "image": "x"}
    for content in (render_content(value), render_content([{"a": 1}]), render_content({"p": "x"}, "code")):
        assert json.loads(json.dumps(content)) == content


def test_unknown_format_is_refused():
    with pytest.raises(ValueError):
        render_content("x", "html")


# --- hostile input ----------------------------------------------------------------------------------------------

XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt&#58;alert(1)">x</a>',
    "<svg onload=alert(1)><circle/></svg>",
    '<iframe src="https://example.com"></iframe>',
    '<p style="position:fixed;inset:0">cover</p>',
    '<span class="overlay k" onclick="alert(1)">x</span>',
    "<details open ontoggle=alert(1)>x</details>",
    "![img](https://example.com/track.png)",
    "[rel](/admin/)",
]


@pytest.mark.parametrize("payload", XSS)
def test_hostile_markdown_is_neutralised(payload):
    html = render_content(payload, "markdown")["html"]
    assert_inert(html)
    lowered = html.lower()
    for marker in ("alert", "<img", "<iframe", "<svg", "style=", "javascript", "overlay", "/admin/"):
        assert marker not in lowered, html


@pytest.mark.parametrize("payload", XSS)
def test_hostile_code_is_only_escaped_text_in_token_spans(payload):
    html = render_content(payload, "code")["html"]
    assert_inert(html, allowed_tags={"span"})
    assert all(set(attrs) <= {"class"} for _, attrs in markup(html))


def test_safe_link_keeps_its_href_and_gets_rel():
    html = render_markdown_safe("<a href=http://example.com>site</a> and [doc](https://example.com/d)")
    assert '<a href="http://example.com" rel="noopener noreferrer nofollow">site</a>' in html
    assert '<a href="https://example.com/d" rel="noopener noreferrer nofollow">doc</a>' in html


def test_guidelines_use_the_same_pipeline():
    assert (
        render_markdown_safe("Rate **helpfulness**<script>x()</script>") == "<p>Rate <strong>helpfulness</strong></p>"
    )


FRAGMENTS = [
    "<script>",
    "</script>",
    "<img src=x onerror=alert(1)>",
    "javascript:",
    "JaVa\tScRiPt:",
    "&#106;",
    "[x](",
    ")",
    "](",
    '<a href="',
    '">',
    "</a>",
    "<",
    ">",
    '"',
    "'",
    "`",
    "```",
    "\n",
    "\n\n",
    " onerror=",
    "<svg onload=alert(1)>",
    "<iframe>",
    "<!--",
    "-->",
    "| a |\n|---|\n| b |",
    "<http://x/>",
    "&",
    "#",
]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=25).map("".join))
def test_no_markdown_ever_yields_script_handlers_or_script_urls(text):
    html = render_markdown_safe(text)
    # "onerror" or "javascript:" may be shown as text; they must never be markup
    assert_inert(html)
    for _, attrs in markup(html):
        for value in attrs.values():
            assert "javascript:" not in (value or "").lower()


# --- "auto" finds markdown ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "# Answer\n\nThe result is 4.",
        "Steps:\n\n1. add\n2. check",
        "Use **this** and `that`.",
        "See [the docs](https://example.com/docs).",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "Here:\n```python\nprint(1)\n```",
    ],
)
def test_auto_renders_markdown_a_model_wrote(text):
    content = render_content(text)
    assert content["type"] == "markdown" and content["text"] == text and "<" in content["html"]


@pytest.mark.parametrize(
    "text",
    [
        "What is 2 + 2?",
        "**hi**",
        "# compute the sum\ntotal = a + b;",
        "- just a dash",
        "def f(x):\n    # comment\n    return x",
        "4 * 3 = 12 and 2 * 5 = 10",
    ],
)
def test_auto_keeps_plain_text_and_code_as_text(text):
    assert render_content(text) == {"type": "text", "text": text}


def test_auto_detected_markdown_is_sanitised():
    content = render_content("# Title\n\n- a\n- b\n\n<script>window.x = 1</script><img src=x onerror=alert(1)>")
    assert content["type"] == "markdown"
    assert "<script" not in content["html"] and "onerror" not in content["html"] and "<img" not in content["html"]
