"""Figures per slice: any statistic recomputed on the judgments that carry each tag, small slices skipped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any

from core.lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
else:
    np = lazy_module("numpy")


@dataclass(frozen=True)
class SliceFigure:
    n: int  # judgments in the slice
    figure: Any  # what `compute` returned; None when skipped
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        figure = self.figure.as_dict() if hasattr(self.figure, "as_dict") else self.figure
        return {"n": self.n, "figure": figure, "note": self.note}


def by_slice(
    tags: list[list[str]], compute: Callable[[NDArray[np.int64]], Any], *, min_size: int = 30, all_label: str = "all"
) -> dict[str, SliceFigure]:
    """`compute(indices)` for every judgment (`all_label`, always computed) and for the judgments of each tag.

    tags: per judgment the list of its slice tags (a judgment may be in several slices, or none). compute receives
    the sorted positions of the judgments in the slice and returns the figure (slice your arrays with it). A tag
    with fewer than `min_size` judgments is listed with figure None and a note. Tags come out sorted."""
    n = len(tags)
    lengths = np.fromiter(map(len, tags), dtype=np.int64, count=n)
    flat = list(chain.from_iterable(tags))
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(t, len(index)) for t in flat), dtype=np.int64, count=len(flat))
    owners = np.repeat(np.arange(n), lengths)
    order = np.lexsort((owners, codes))  # by tag, then by judgment
    bounds = np.searchsorted(codes[order], np.arange(len(index) + 1))
    result = {all_label: SliceFigure(n, compute(np.arange(n)))}
    for tag in sorted(index, key=str):
        k = index[tag]
        members = owners[order[bounds[k] : bounds[k + 1]]]  # sorted
        members = members[np.r_[True, members[1:] != members[:-1]]]  # a tag listed twice counts once
        if len(members) < min_size:
            result[tag] = SliceFigure(len(members), None, f"{len(members)} judgments, fewer than the {min_size} needed")
        else:
            result[tag] = SliceFigure(len(members), compute(members))
    return result
