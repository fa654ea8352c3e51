"""`signoff results CAMPAIGN` as text: the campaign's figures (GET /api/v1/campaigns/{id}/results/) for a CI log.

Only what a person reads in a log: the gate, the headline win rate, agreement and each kind's own table. Anything
else (timeline, disagreements, per-reviewer detail, the confusion matrix) is in `--json`, as the server sent it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any


def number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def interval(figure: dict[str, Any] | None, key: str = "estimate") -> str:
    """`0.720 [0.610, 0.810]`; a dash where there is no figure yet (too few judgments)."""
    if not figure or figure.get(key) is None:
        return "–"
    if figure.get("low") is None or figure.get("high") is None:
        return number(figure[key])
    return f"{number(figure[key])} [{number(figure['low'])}, {number(figure['high'])}]"


def _gate(results: dict[str, Any]) -> Iterator[str]:
    gate = results.get("gate") or {}
    yield f"gate: {gate.get('status', '?')}"  # its reasons say when it decided, in the test's own unit
    for reason in gate.get("reasons") or []:
        yield f"  {reason}"
    if gate.get("method"):
        yield f"  test: {gate['method']}"


def _headline(results: dict[str, Any]) -> Iterator[str]:
    counts = results.get("candidate") or {}
    yield (
        f"candidate win rate: {interval(results.get('win_rate'))} ({results.get('win_rate_method', '')}); "
        f"wins {counts.get('wins', 0)}, losses {counts.get('losses', 0)}, ties {counts.get('ties', 0)}, "
        f"both bad {counts.get('both_bad', 0)}"
    )
    progress = results.get("progress") or {}
    if progress:
        yield (
            f"progress: {progress.get('judgments', 0)} of {progress.get('judgments_planned', '?')} judgments planned, "
            f"{progress.get('tasks_open', 0)} of {progress.get('tasks', '?')} tasks open, "
            f"{progress.get('flagged_items', 0)} items flagged"
        )
    agreement = results.get("agreement")
    if agreement:
        yield (
            f"agreement: Krippendorff's alpha {number(agreement.get('krippendorff_alpha'))} "
            f"({agreement.get('metric', '')}, {agreement.get('units', 0)} items)"
        )


def _pairwise(results: dict[str, Any]) -> Iterator[str]:
    bias = results.get("position_bias")
    if bias:
        yield (
            f"position bias: output shown as A won {interval(bias)} of decisive judgments "
            f"(A {bias.get('slot_a', 0)}, B {bias.get('slot_b', 0)}, p = {number(bias.get('p_value'))})"
        )


def _scores(title: str, fit: dict[str, Any] | None) -> Iterator[str]:
    if not fit:
        return
    yield f"{title}:"
    for row in sorted(fit.get("scores") or [], key=lambda s: -(s.get("score") or 0)):
        yield f"  {row.get('item')}: {interval(row, 'score')}"


def _ranking(results: dict[str, Any]) -> Iterator[str]:
    mean_rank = results.get("mean_rank") or {}
    if mean_rank:
        yield "mean rank (1 is best):"
        for version, figure in sorted(mean_rank.items(), key=lambda pair: pair[1].get("mean") or 0):
            yield f"  {version}: {interval(figure, 'mean')} (n {figure.get('n', 0)})"
    yield from _scores("Plackett–Luce scores", results.get("plackett_luce"))
    yield from _scores("Bradley–Terry scores", results.get("bradley_terry"))


def _rating(results: dict[str, Any]) -> Iterator[str]:
    for version, criteria in (results.get("criteria") or {}).items():
        yield f"{version}:"
        for name, figure in criteria.items():
            yield f"  {name}: {interval(figure, 'mean')} (n {figure.get('n', 0)})"
    difference = results.get("difference_to_baseline")
    if difference:
        yield "candidate minus baseline:"
        for name, figure in (difference.get("criteria") or {}).items():
            yield f"  {name}: {interval(figure)}"
        yield f"  all criteria, normalised: {interval(difference.get('normalised'))}"


def _labeling(results: dict[str, Any]) -> Iterator[str]:
    labeling = results.get("labeling") or {}
    if labeling:
        yield f"gold labels: {labeling.get('gold_items', 0)} items ({labeling.get('tied_items', 0)} tied)"
        for version, figure in (labeling.get("accuracy") or {}).items():
            yield f"  {version} accuracy: {interval(figure)} ({figure.get('correct', 0)} of {figure.get('n', 0)})"


KIND_LINES: dict[str, Callable[[dict[str, Any]], Iterator[str]]] = {
    "pairwise": _pairwise,
    "ranking": _ranking,
    "rating": _rating,
    "labeling": _labeling,
}


def _slices(results: dict[str, Any]) -> Iterator[str]:
    slices = {name: s for name, s in (results.get("slices") or {}).items() if name != "all"}
    if slices:
        yield "by slice:"
        for name, figure in slices.items():
            yield f"  {name}: {interval(figure.get('figure'))} (n {figure.get('n', 0)})" + (
                f" – {figure['note']}" if figure.get("note") else ""
            )


def _problems(results: dict[str, Any]) -> Iterator[str]:
    for problem in results.get("problems") or []:
        yield f"problem ({problem.get('block', '?')}): {problem.get('message', '')}"


def results_text(results: dict[str, Any]) -> str:
    """The campaign's results as lines of text, in the order a reader asks: decided? by how much? how sure?"""
    versions = ", ".join(results.get("versions") or []) or "–"
    header = f"campaign {results.get('campaign')} ({results.get('kind')}): {results.get('judgments', 0)} judgments"
    lines = [
        f"{header}, versions {versions}",
        *_gate(results),
        *_headline(results),
        *KIND_LINES.get(str(results.get("kind")), lambda _: iter(()))(results),
        *_slices(results),
        *_problems(results),
        f"computed at {results.get('computed_at', '?')}",
    ]
    return "\n".join(lines)
