"""Nested list indentation as people write it (two spaces, or under the text of "1. "), for Python-Markdown,
which nests only at four spaces a level: with two, the demo guidelines' sub-lists ran inline into their parent."""

from __future__ import annotations

import re

_ITEM = re.compile(r"( *)([-*+]|\d{1,9}[.)])( +)(?=\S)")
_FENCE = re.compile(r" {0,3}(```|~~~)")
LEVEL = 4  # Python-Markdown's tab_length


def nest_list_indents(text: str) -> str:
    """Re-indent list items to four spaces a level, keeping each item's nesting as CommonMark reads it: an item is
    inside the one above when it starts at or past that item's text column. Lines that continue an item move with
    it (four spaces past its text, a code block, stays one). Fenced code is untouched."""
    out: list[str] = []
    items: list[int] = []  # the text column of each open item, outermost first
    fence: str | None = None
    previous_blank = True
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if fence is not None:
            out.append(line)
            fence = None if stripped.startswith(fence) else fence
            continue
        if opening := _FENCE.match(line):
            fence, items = opening.group(1), []
            out.append(line)
            continue
        if not stripped:
            out.append(line)
            previous_blank = True
            continue
        item = _ITEM.match(line)
        if item and (items or indent < LEVEL):  # four spaces with no list open is a code block
            while items and indent < items[-1]:
                items.pop()
            items.append(indent + len(item.group(2)) + len(item.group(3)))
            out.append(" " * (LEVEL * (len(items) - 1)) + stripped)
        elif items and indent > 0:
            inside = [column for column in items if column <= indent]
            if inside:  # the text of the deepest item it is under; four spaces past that text is a code block
                past = indent - inside[-1]
                out.append(" " * (LEVEL * len(inside) + (past if past >= LEVEL else 0)) + stripped)
            elif not previous_blank:  # a lazy continuation of the deepest item: say so with its indentation
                out.append(" " * (LEVEL * len(items)) + stripped)
            else:  # short of every item's text after a blank line: the list has ended
                items = []
                out.append(stripped if indent < LEVEL else line)
        else:
            if previous_blank and indent == 0:
                items = []  # a paragraph after a blank line ends the list
            out.append(line)
        previous_blank = False
    return "\n".join(out)
