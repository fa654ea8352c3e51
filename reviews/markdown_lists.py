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
    lists = _Lists()
    return "\n".join(lists.line(line) for line in text.split("\n"))


class _Lists:
    """The open list items while the lines go by."""

    def __init__(self) -> None:
        self.items: list[int] = []  # the text column of each open item, outermost first
        self.fence: str | None = None
        self.previous_blank = True

    def line(self, line: str) -> str:
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if self.fence is not None:
            self.fence = None if stripped.startswith(self.fence) else self.fence
            return line
        if opening := _FENCE.match(line):
            self.fence, self.items = opening.group(1), []
            return line
        blank = not stripped
        out = line if blank else self._text(line, stripped, indent)
        self.previous_blank = blank
        return out

    def _text(self, line: str, stripped: str, indent: int) -> str:
        item = _ITEM.match(line)
        if item and (self.items or indent < LEVEL):  # four spaces with no list open is a code block
            while self.items and indent < self.items[-1]:
                self.items.pop()
            self.items.append(indent + len(item.group(2)) + len(item.group(3)))
            return " " * (LEVEL * (len(self.items) - 1)) + stripped
        if not self.items or not indent:
            if self.previous_blank:
                self.items = []  # a paragraph after a blank line ends the list
            return line
        inside = [column for column in self.items if column <= indent]
        if inside:  # under the text of the deepest such item; four spaces past that text is a code block
            past = indent - inside[-1]
            return " " * (LEVEL * len(inside) + (past if past >= LEVEL else 0)) + stripped
        if not self.previous_blank:  # a lazy continuation of the deepest item: say so with its indentation
            return " " * (LEVEL * len(self.items)) + stripped
        self.items = []  # short of every item's text after a blank line: the list has ended
        return stripped if indent < LEVEL else line
