"""Array plumbing shared by the statistics modules: turning labels into integer codes."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from core.lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
else:
    np = lazy_module("numpy")

# Labels of any hashable kind, one per entry (model version ids, strings, label sets as frozensets...).
LabelsLike: TypeAlias = "Iterable[Hashable] | NDArray[Any]"  # a string: NDArray would load numpy at import


def as_label_array(values: LabelsLike) -> NDArray[Any]:
    """A 1-D array of labels that never turns a mix of numbers and strings into strings."""
    if isinstance(values, np.ndarray):
        return values.ravel()
    values = list(values)
    arr = np.asarray(values)
    if arr.ndim != 1 or (arr.dtype.kind in "US" and not all(isinstance(v, str) for v in values)):
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
    return arr


def factorize(values: LabelsLike, labels: Iterable[Hashable] | None = None) -> tuple[list[Any], NDArray[np.int64]]:
    """(labels, codes) with labels[codes[k]] == values[k]. Labels are sorted when they are all numbers or all
    strings, else in order of first appearance; with `labels` given they are kept as given (a value outside
    them is an error)."""
    arr = as_label_array(values)
    uniques: list[Any]
    inverse: NDArray[np.intp] | NDArray[np.int64]
    if arr.dtype.kind in "iufbUS":
        unique_values, inverse = np.unique(arr, return_inverse=True)
        uniques = unique_values.tolist()
    else:
        index: dict = {}
        inverse = np.fromiter((index.setdefault(v, len(index)) for v in arr), dtype=np.int64, count=len(arr))
        uniques = list(index)
        kinds = {type(u) for u in uniques}
        if kinds <= {int, float, np.int64, np.float64} or kinds == {str}:
            order = sorted(range(len(uniques)), key=uniques.__getitem__)
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order))
            uniques, inverse = [uniques[k] for k in order], rank[inverse] if len(order) else inverse
    codes = np.asarray(inverse, dtype=np.int64).ravel()
    if labels is None:
        return uniques, codes
    given = list(labels)
    position = {label: k for k, label in enumerate(given)}
    try:
        remap = np.array([position[u] for u in uniques], dtype=np.int64)
    except KeyError as missing:
        raise ValueError(f"{missing.args[0]!r} is not one of the given labels") from None
    return given, (remap[codes] if len(remap) else codes)


def distinct_count(values: NDArray[Any] | Sequence[Any]) -> int:
    """How many distinct values (by sorting: numpy 2's hash-based np.unique is slower on large integer arrays)."""
    if len(values) == 0:
        return 0
    s = np.sort(values, kind="stable")
    return int(np.count_nonzero(s[1:] != s[:-1])) + 1


def unique_rows(matrix: NDArray[Any]) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """(index of one occurrence of each distinct row, inverse, counts), rows in a fixed order.

    Each row becomes one int64 key (mixed radix over each column's distinct values), so this is one 1-D sort
    instead of np.unique(axis=0)'s row-wise comparison; it falls back to that when the keys would not fit."""
    a = np.asarray(matrix)
    n, c = a.shape
    keys = np.zeros(n, dtype=np.int64)
    radix = 1
    for j in range(c):
        column = a[:, j]
        if column.dtype.kind in "iu" and (n == 0 or column.min() >= 0):
            codes, card = column.astype(np.int64), (int(column.max()) + 1 if n else 1)
        else:
            values, codes = np.unique(column, return_inverse=True)
            card = len(values)
        if radix * max(card, 1) >= 2**62:
            _, first, inverse, counts = np.unique(a, axis=0, return_index=True, return_inverse=True, return_counts=True)
            return first, inverse.ravel(), counts
        keys += codes.ravel() * radix
        radix *= max(card, 1)
    _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    return first, inverse.ravel(), counts
