"""Untrusted item inputs and model outputs turned into JSON-able "Content" the review page renders safely."""

from __future__ import annotations

import base64
import contextlib
import json
import re
from typing import Any

import markdown
import nh3
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import JsonLexer, TextLexer, get_lexer_by_name, guess_lexer
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

from datasets.parsers import decode_image
from reviews.markdown_lists import nest_list_indents

# A Content is one of (every key listed is always present unless marked optional):
#   {"type": "text", "text": str, "truncated"?: True}
#   {"type": "markdown", "html": str, "text": str, "truncated"?: True}
#   {"type": "code", "html": str, "text": str, "language": str, "truncated"?: True}
#   {"type": "json", "value": Any}
#   {"type": "table", "columns": [str], "rows": [[scalar]], "truncated"?: True}
#   {"type": "image", "src": "data:image/png;base64,..." | "data:image/jpeg;base64,..."}
#   {"type": "fields", "fields": [{"name": str, "content": Content}]}
Content = dict[str, Any]

FORMATS = ("auto", "text", "markdown", "code")
MAX_STRING_CHARS = 200_000
TRUNCATION_MARK = "…(truncated)"
MAX_TABLE_ROWS = 500
GUESS_LEXER_CHARS = 10_000  # guess_lexer tries every lexer on the whole text: bound its cost
IMAGE_MIME = {"png": "image/png", "jpg": "image/jpeg"}
# guess_lexer's analysers are weak on short snippets (SQL comes back as "scdoc", JavaScript as GDScript):
# an unfenced guess outside these common languages is shown unhighlighted rather than wrongly coloured.
GUESSABLE_LANGUAGES = frozenset(
    {
        "python",
        "python2",
        "pycon",
        "javascript",
        "typescript",
        "json",
        "sql",
        "bash",
        "console",
        "c",
        "cpp",
        "csharp",
        "java",
        "kotlin",
        "go",
        "rust",
        "ruby",
        "php",
        "html",
        "xml",
        "css",
        "yaml",
        "toml",
        "ini",
        "markdown",
        "diff",
        "docker",
        "make",
        "r",
        "scala",
        "swift",
        "haskell",
        "lua",
        "perl",
        "text",
    }
)

# Pygments' short token classes ("k", "s2", ...): the only classes content may carry, so it cannot
# borrow the page's own classes (an overlay, a button) to disguise itself.
TOKEN_CLASSES = frozenset(cls for cls in STANDARD_TYPES.values() if cls)

MARKDOWN_TAGS = frozenset(
    {
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
)
LINK_SCHEMES = ("http", "https", "mailto")
LINK_PREFIXES = tuple(f"{scheme}:" for scheme in LINK_SCHEMES)
# dropped with everything inside them, rather than leaving their text behind
DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "iframe", "noscript", "template", "object", "svg", "math", "textarea"}
)


def _absolute_links_only(tag: str, attribute: str, value: str) -> str | None:
    """A model's link must not point into this site: relative hrefs go, like other schemes (url_schemes) do."""
    if attribute == "href" and not value.strip().lower().startswith(LINK_PREFIXES):
        return None
    return value


def _clean_markdown_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=set(MARKDOWN_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={"a": {"href"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}},
        attribute_filter=_absolute_links_only,
        allowed_classes={"span": set(TOKEN_CLASSES)},
        url_schemes=set(LINK_SCHEMES),
        link_rel="noopener noreferrer nofollow",
    )


def _clean_code_html(html: str) -> str:
    return nh3.clean(
        html, tags={"span"}, clean_content_tags=set(), attributes={}, allowed_classes={"span": set(TOKEN_CLASSES)}
    )


_code_formatter = HtmlFormatter(nowrap=True)
_FENCE = re.compile(r"\A```[ \t]*([\w+#.-]*)[ \t]*\r?\n(.*?)(?:\r?\n```[ \t]*)?\s*\Z", re.DOTALL)


def render_markdown_safe(text: str) -> str:
    """Markdown to HTML (tables, fenced code), then nh3 keeps only a conservative, link-safe subset."""
    html = markdown.markdown(
        nest_list_indents(text),
        extensions=["fenced_code", "tables", "sane_lists"],
        extension_configs={"tables": {"use_align_attribute": True}},  # align="", not style=""
    )
    return _clean_markdown_html(html)


def render_content(value: Any, fmt: str = "auto") -> Content:
    """Describe `value` for the review page: strings by `fmt`, everything else by its shape."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown content format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if isinstance(value, str):
        return _render_string(value, fmt)
    if isinstance(value, dict):
        if "image" in value:
            image = _image(value["image"])
            if image is not None:
                return image
        elif value and all(_is_scalar(v) for v in value.values()):
            return {
                "type": "fields",
                "fields": [
                    {
                        "name": str(name),
                        "content": _render_string(v, fmt) if isinstance(v, str) else {"type": "json", "value": v},
                    }
                    for name, v in value.items()
                ],
            }
        return {"type": "json", "value": value}
    if isinstance(value, list):
        return _table(value) or {"type": "json", "value": value}
    if value is None or isinstance(value, (bool, int, float)):
        return {"type": "json", "value": value}
    return _render_string(str(value), fmt)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float))


# "auto" shows a string as markdown when it carries markdown's marks. One block-level mark that plain text does not
# use (a fence, a table rule, a link) is enough; the others are each common in plain text or code on their own
# ("# comment", "**note**"), so two different kinds are needed, or a heading or a list in text that is not code.
_MARKDOWN_DECISIVE = (
    re.compile(r"^```", re.MULTILINE),
    re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$", re.MULTILINE),
    re.compile(r"\[[^\]\n]+\]\((?:https?://|mailto:)[^)\s]+\)"),
)
_MARKDOWN_HEADING = re.compile(r"^#{1,6}[ \t]+\S", re.MULTILINE)
_MARKDOWN_LIST = re.compile(r"(?:^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+\S.*\n){2}", re.MULTILINE)  # two items or more
_MARKDOWN_BLOCKS = (_MARKDOWN_HEADING, _MARKDOWN_LIST)
_MARKDOWN_HINTS = (
    *_MARKDOWN_BLOCKS,
    re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__"),
    re.compile(r"`[^`\n]+`"),
    re.compile(r"^>[ \t]?\S", re.MULTILINE),
)
_LOOKS_LIKE_CODE = re.compile(r"^\s*(?:def |class |import |from \S+ import |#include|function )|[;{]\s*$", re.MULTILINE)
MARKDOWN_SNIFF_CHARS = 20_000  # the marks are near the start; bound the regexes' cost on huge outputs


def looks_like_markdown(text: str) -> bool:
    """Whether an "auto" string is markdown a model wrote (rendered, sanitised) rather than plain text."""
    head = text[:MARKDOWN_SNIFF_CHARS]
    if not head.endswith("\n"):
        head += "\n"  # the list pattern reads whole lines
    if any(pattern.search(head) for pattern in _MARKDOWN_DECISIVE):
        return True
    hints = sum(1 for pattern in _MARKDOWN_HINTS if pattern.search(head))
    if hints >= 2:
        return True
    return any(pattern.search(head) for pattern in _MARKDOWN_BLOCKS) and not _LOOKS_LIKE_CODE.search(head)


def _render_string(text: str, fmt: str) -> Content:
    truncated = len(text) > MAX_STRING_CHARS
    if truncated:
        text = text[:MAX_STRING_CHARS] + TRUNCATION_MARK
    if fmt == "auto" and looks_like_markdown(text):
        fmt = "markdown"
    if fmt == "markdown":
        content: Content = {"type": "markdown", "html": render_markdown_safe(text), "text": text}
    elif fmt == "code":
        content = _code(text)
    else:
        content = {"type": "text", "text": text}
    if truncated:
        content["truncated"] = True
    return content


def _code(text: str) -> Content:
    """Highlight with Pygments; a leading ```lang fence names the language, otherwise it is guessed."""
    source, lexer = text, None
    fence = _FENCE.match(text)
    if fence:
        source = fence.group(2)
        if fence.group(1):
            with contextlib.suppress(ClassNotFound):
                lexer = get_lexer_by_name(fence.group(1))
    if lexer is None and _looks_like_json(source):
        lexer = JsonLexer()
    if lexer is None:
        try:
            lexer = guess_lexer(source[:GUESS_LEXER_CHARS])
        except ClassNotFound:
            lexer = TextLexer()
        if not GUESSABLE_LANGUAGES.intersection(lexer.aliases):
            lexer = TextLexer()
    html = _clean_code_html(highlight(source, lexer, _code_formatter))
    language = lexer.aliases[0] if lexer.aliases else lexer.name
    return {"type": "code", "html": html, "text": text, "language": language}


def _looks_like_json(source: str) -> bool:
    if not source.lstrip().startswith(("{", "[")):
        return False
    try:
        json.loads(source)
    except ValueError:
        return False
    return True


def _image(encoded: Any) -> Content | None:
    try:
        data, ext = decode_image(encoded)
    except ValueError:
        return None
    return {"type": "image", "src": f"data:{IMAGE_MIME[ext]};base64,{base64.b64encode(data).decode('ascii')}"}


def _table(rows: list) -> Content | None:
    """A non-empty list of flat records becomes a table; anything else is not one."""
    if not rows or not all(isinstance(row, dict) and all(_is_scalar(v) for v in row.values()) for row in rows):
        return None
    shown = rows[:MAX_TABLE_ROWS]
    columns: dict[str, None] = {}  # an ordered set: keys in first-seen order
    for row in shown:
        columns.update(dict.fromkeys(row))
    if not columns:
        return None
    table: Content = {
        "type": "table",
        "columns": [str(c) for c in columns],
        "rows": [[row.get(column) for column in columns] for row in shown],
    }
    if len(rows) > MAX_TABLE_ROWS:
        table["truncated"] = True
    return table
