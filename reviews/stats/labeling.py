"""Labeling: gold labels by majority of the experts, each model version's accuracy against them, and the
confusion matrix with per-class precision and recall. Labels are any hashable values (a label set as a frozenset
for multi-label campaigns). Pure numpy."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.lazy import lazy_module
from reviews.stats._arrays import LabelsLike, as_label_array, factorize
from reviews.stats.proportions import Interval, wilson_interval

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
else:
    np = lazy_module("numpy")


@dataclass(frozen=True)
class GoldLabels:
    gold: dict[Any, Any]  # item -> label chosen by a plurality of its experts
    tied: list[Any]  # items whose top labels tied: no gold
    too_few: list[Any]  # items whose top label had fewer than min_votes votes
    support: dict[Any, tuple[int, int]]  # item -> (votes for its top label, votes cast)

    def as_dict(self) -> dict[str, Any]:
        return {"gold": self.gold, "tied": self.tied, "too_few": self.too_few}


def gold_labels(items: LabelsLike, labels: LabelsLike, *, min_votes: int = 1) -> GoldLabels:
    """Gold label per item: the label most of its judgments gave (plurality). A tie for the top gives no gold and
    the item is listed in `tied`; so is a top label with fewer than `min_votes` votes, in `too_few`.

    items, labels: one entry per judgment (the item judged and the label given)."""
    item_names, ic = factorize(items)
    label_names, lc = factorize(labels)
    if len(ic) != len(lc):
        raise ValueError("items and labels must have one entry per judgment")
    n_items, n_labels = len(item_names), len(label_names)
    counts = np.bincount(ic * n_labels + lc, minlength=n_items * n_labels).reshape(n_items, n_labels)
    top = counts.max(axis=1, initial=0)
    tied = (counts == top[:, None]).sum(axis=1) > 1
    enough = top >= min_votes
    best = counts.argmax(axis=1) if n_labels else np.zeros(n_items, dtype=np.int64)
    total = counts.sum(axis=1)
    has_gold = ~tied & enough
    return GoldLabels(
        gold={item_names[k]: label_names[best[k]] for k in np.flatnonzero(has_gold)},
        tied=[item_names[k] for k in np.flatnonzero(tied)],
        too_few=[item_names[k] for k in np.flatnonzero(~tied & ~enough)],
        support={item_names[k]: (int(top[k]), int(total[k])) for k in np.flatnonzero(has_gold)},
    )


def _aligned(gold: Mapping[Any, Any], predictions: Mapping[Any, Any]) -> tuple[NDArray[Any], NDArray[Any], int]:
    keys = [k for k in gold if k in predictions]
    return (
        as_label_array([gold[k] for k in keys]),
        as_label_array([predictions[k] for k in keys]),
        len(gold) - len(keys),
    )


@dataclass(frozen=True)
class Accuracy:
    correct: int
    n: int  # gold items the version has a prediction for
    missing: int  # gold items without a prediction, left out
    rate: Interval

    def as_dict(self) -> dict[str, Any]:
        return {"correct": self.correct, "n": self.n, "missing": self.missing, **self.rate.as_dict()}


def accuracy_vs_gold(gold: Mapping[Any, Any], predictions: Mapping[Any, Any]) -> Accuracy:
    """Share of gold items where the version's prediction equals the gold label, with a Wilson 95% interval."""
    g, p, missing = _aligned(gold, predictions)
    correct = (
        int(sum(a == b for a, b in zip(g, p, strict=True))) if g.dtype == object else int(np.count_nonzero(g == p))
    )
    return Accuracy(correct, len(g), missing, wilson_interval(correct, len(g)))


@dataclass(frozen=True, eq=False)
class ConfusionMatrix:
    labels: list[Any]
    matrix: NDArray[np.intp]  # rows: gold label, columns: the model's label (sklearn's layout)
    precision: list[float | None]  # per label; None where the model never gave the label
    recall: list[float | None]  # per label; None where the label is never gold
    f1: list[float | None]  # 2tp / (2tp + fp + fn); None where the label appears on neither side
    support: list[int]  # gold count per label

    def as_dict(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "matrix": self.matrix.tolist(),
            "per_label": [
                {
                    "label": label,
                    "precision": self.precision[k],
                    "recall": self.recall[k],
                    "f1": self.f1[k],
                    "support": self.support[k],
                }
                for k, label in enumerate(self.labels)
            ],
        }


def confusion(
    gold: Mapping[Any, Any], predictions: Mapping[Any, Any], labels: Iterable[Hashable] | None = None
) -> ConfusionMatrix:
    """Confusion matrix (gold × model) over the gold items the version predicted, and per-label precision, recall
    and F1 with division by zero reported as None. labels: the order of rows and columns (default: sorted union)."""
    g, p, _ = _aligned(gold, predictions)
    names, codes = factorize(np.concatenate([g, p]) if len(g) else np.zeros(0), labels)
    if labels is None and not len(g):
        names = []
    L, N = len(names), len(g)
    matrix = np.bincount(codes[:N] * L + codes[N:], minlength=L * L).reshape(L, L)
    tp = np.diag(matrix)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)

    def ratio(num: NDArray[np.intp], den: NDArray[np.intp]) -> list[float | None]:
        return [float(n) / float(d) if d else None for n, d in zip(num, den, strict=True)]

    return ConfusionMatrix(
        names,
        matrix,
        ratio(tp, predicted),
        ratio(tp, actual),
        ratio(2 * tp, predicted + actual),
        [int(x) for x in actual],
    )
