"""The only module that imports plotly: figures for the results page, as HTML fragments.

Labels that come from uploaded data (item tags, reviewer names) are escaped first: Plotly reads a few HTML-like
tags in text (<b>, <a href>), and uploaded text must never become markup.

A fragment holds no script: the figure travels as JSON in a `<script type="application/json">` block (data, which
the Content-Security-Policy does not run), and static/signoff/charts.js draws every such block. So the pages, and
the report frozen into a verdict, need no inline script and no nonce.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from core.lazy import lazy_module

if TYPE_CHECKING:
    import plotly.graph_objects as go
    import plotly.io as pio
    import plotly.offline as offline
else:  # plotly loads with the first page that draws a chart, not with every process
    go = lazy_module("plotly.graph_objects")
    pio = lazy_module("plotly.io")
    offline = lazy_module("plotly.offline")

BLUE, RED, GREEN, GREY = "#2557a7", "#b3261e", "#1e7b3a", "#5d6677"
CONFIG = {"displayModeBar": False, "responsive": True}


@lru_cache(maxsize=1)
def plotly_bundle() -> bytes:
    """Plotly's script from the installed package, so pages never load code from another host."""
    return offline.get_plotlyjs().encode()


@lru_cache(maxsize=1)
def plotly_style_ids() -> tuple[str, ...]:
    """Ids of the <style> elements Plotly would create at run time (its global rules; the map library's CSS, which
    it skips when an element with that id exists). A page puts empty ones there first, allowed by the page's nonce
    or, in the frozen report, by the hash of empty content; Plotly then writes through the CSSOM, which the
    Content-Security-Policy does not govern. Read from the bundle, so a Plotly upgrade brings its own ids."""
    bundle = plotly_bundle().decode()
    skipped_when_present = re.findall(
        r'getElementById\("([0-9a-f]{16,})"\)\)\{var \w+=document\.createElement\("style"\)', bundle
    )
    return ("plotly.js-style-global", *dict.fromkeys(skipped_when_present))


def _label(text: object) -> str:
    return html.escape(str(text), quote=False)


# Inside a <script> element only "</script" or "<!--" could end or bend it; JSON escapes of these three make sure
# neither can appear, whatever the labels say (Django's json_script does the same).
_JSON_IN_SCRIPT = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def _html(figure: go.Figure, div_id: str, height: int) -> str:
    figure.update_layout(
        height=height, margin={"l": 110, "r": 20, "t": 36, "b": 44}, template="plotly_white", showlegend=False
    )
    spec = pio.to_json({"data": figure.data, "layout": figure.layout, "config": CONFIG}, validate=False)
    return (
        f'<div id="{div_id}" class="plotly-chart" data-figure="{div_id}-figure">'
        '<p class="muted small chart-fallback">Open this page from Signoff to see the chart; its figures are in the text.</p></div>'
        f'<script type="application/json" id="{div_id}-figure">{spec.translate(_JSON_IN_SCRIPT)}</script>'
    )


def _interval_points(
    names: Sequence[object],
    estimates: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    *,
    color: str = BLUE,
    hover: str = "%{x:.3f}",
) -> go.Scatter:
    return go.Scatter(
        x=estimates,
        y=[_label(n) for n in names],
        mode="markers",
        marker={"size": 12, "color": color},
        error_x={
            "type": "data",
            "symmetric": False,
            "array": [h - e for e, h in zip(estimates, highs, strict=True)],
            "arrayminus": [e - lo for e, lo in zip(estimates, lows, strict=True)],
            "thickness": 2.5,
            "width": 8,
        },
        hovertemplate=hover + "<extra></extra>",
    )


def win_rate_chart(results: dict[str, Any]) -> str | None:
    rate = results["win_rate"]
    if rate["estimate"] is None:
        return None
    label = "agreement with experts" if results["kind"] == "labeling" else "win rate"
    figure = go.Figure(_interval_points(["candidate"], [rate["estimate"]], [rate["low"]], [rate["high"]]))
    threshold = results["policy"]["min_win_rate"]
    figure.add_vline(
        x=threshold,
        line_dash="dash",
        line_color=RED,
        annotation_text=f"rate to beat {threshold:.2f}",
        annotation_position="top",
    )
    figure.update_xaxes(range=[0, 1], title=f"{label} (95% interval, {results['judgments']} judgments)")
    return _html(figure, "win-rate-chart", 190)


def slices_chart(results: dict[str, Any]) -> str | None:
    rows = [
        (tag, s["figure"])
        for tag, s in results["slices"].items()
        if s["figure"] and s["figure"]["estimate"] is not None
    ]
    if len(rows) < 2:
        return None
    rows.sort(key=lambda r: (r[0] != "all", r[0]))
    figure = go.Figure(
        _interval_points(
            [t for t, _ in rows],
            [f["estimate"] for _, f in rows],
            [f["low"] for _, f in rows],
            [f["high"] for _, f in rows],
        )
    )
    figure.add_vline(x=results["policy"]["min_win_rate"], line_dash="dash", line_color=RED)
    figure.update_xaxes(range=[0, 1], title="win rate per slice (item tag), 95% interval")
    figure.update_yaxes(autorange="reversed")
    return _html(figure, "slices-chart", 80 + 28 * len(rows))


def sequence_chart(results: dict[str, Any]) -> str | None:
    """The gate's evidence over time: the log evidence ratio after each outcome, with both decision boundaries."""
    sequence = results.get("sequence")
    if not sequence or not sequence["n"]:
        return None
    figure = go.Figure(
        go.Scatter(
            x=sequence["n"],
            y=sequence["llr"],
            mode="lines",
            line={"color": BLUE, "width": 2},
            hovertemplate="after %{x}: log evidence %{y:.2f}<extra></extra>",
        )
    )
    figure.add_hline(
        y=sequence["log_pass"],
        line_dash="dash",
        line_color=GREEN,
        annotation_text=f"pass (evidence ratio {math.exp(sequence['log_pass']):.0f})",
        annotation_position="top left",
    )
    figure.add_hline(
        y=sequence["log_fail"],
        line_dash="dash",
        line_color=RED,
        annotation_text=f"fail (evidence ratio {math.exp(sequence['log_fail']):.2f})",
        annotation_position="bottom left",
    )
    if sequence["decided_at"]:
        figure.add_vline(
            x=sequence["decided_at"],
            line_color=GREY,
            line_dash="dot",
            annotation_text=f"decided at {sequence['decided_at']}",
            annotation_position="top right",
        )
    # the unit is a phrase ("item (mean of its 3 judgments)"): appending "s" to it read "judgments)s"
    figure.update_xaxes(title=f"outcomes in arrival order, one per {results['gate']['unit']}")
    figure.update_yaxes(title="log evidence ratio")
    return _html(figure, "sequence-chart", 280)


def agreement_chart(results: dict[str, Any]) -> str | None:
    """Cohen's kappa for every pair of reviewers, as a matrix."""
    agreement = results.get("agreement")
    if not agreement or not agreement["pairs"]:
        return None
    reviewers = sorted({p["a"] for p in agreement["pairs"]} | {p["b"] for p in agreement["pairs"]})
    index = {r: k for k, r in enumerate(reviewers)}
    z = [[None] * len(reviewers) for _ in reviewers]
    for pair in agreement["pairs"]:
        a, b = index[pair["a"]], index[pair["b"]]
        z[a][b] = z[b][a] = pair["kappa"]
    labels = [_label(r) for r in reviewers]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            hovertemplate="%{x} and %{y}: kappa %{z:.2f}<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed")
    return _html(figure, "agreement-chart", 120 + 30 * len(reviewers))


def position_bias_chart(results: dict[str, Any]) -> str | None:
    bias = results.get("position_bias")
    if not bias or bias.get("estimate") is None:
        return None
    figure = go.Figure(_interval_points(["side A wins"], [bias["estimate"]], [bias["low"]], [bias["high"]], color=GREY))
    figure.add_vline(x=0.5, line_dash="dash", line_color=GREY, annotation_text="no bias", annotation_position="top")
    figure.update_xaxes(range=[0, 1], title="share of decisive judgments won by the output shown as A (95% interval)")
    return _html(figure, "position-bias-chart", 170)


def timeline_chart(results: dict[str, Any]) -> str | None:
    timeline = results.get("timeline") or {}
    if len(timeline.get("times", [])) < 2:
        return None
    figure = go.Figure(
        go.Scatter(
            x=timeline["times"],
            y=timeline["cumulative"],
            mode="lines+markers",
            line={"color": BLUE},
            hovertemplate="%{x}: %{y} judgments<extra></extra>",
        )
    )
    figure.update_yaxes(title="judgments (cumulative)")
    return _html(figure, "timeline-chart", 220)


def scores_chart(results: dict[str, Any]) -> str | None:
    """Ranking: each version's Plackett–Luce score with its bootstrap interval."""
    fit = results.get("plackett_luce")
    if not fit:
        return None
    rows = [s for s in fit["scores"] if s["score"] is not None]
    if not rows:
        return None
    lows = [s["low"] if s["low"] is not None else s["score"] for s in rows]
    highs = [s["high"] if s["high"] is not None else s["score"] for s in rows]
    figure = go.Figure(
        _interval_points([s["item"] for s in rows], [s["score"] for s in rows], lows, highs, hover="%{x:.2f}")
    )
    figure.update_xaxes(title="Plackett–Luce log-strength (higher ranks better; 95% bootstrap interval)")
    return _html(figure, "scores-chart", 100 + 36 * len(rows))


def results_charts(results: dict[str, Any]) -> dict[str, str]:
    """Every chart that has something to show, by name."""
    charts = {
        "win_rate": win_rate_chart(results),
        "sequence": sequence_chart(results),
        "slices": slices_chart(results),
        "scores": scores_chart(results),
        "agreement": agreement_chart(results),
        "position_bias": position_bias_chart(results),
        "timeline": timeline_chart(results),
    }
    return {name: chart for name, chart in charts.items() if chart}


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)


def trend_chart(
    periods: Sequence[str],
    estimates: Sequence[float | None],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    *,
    title: str,
    floor: float | None = None,
    alerted: Sequence[bool] = (),
) -> str | None:
    """A quality over periods with its intervals (inspections/: expert-rated quality of a production model per
    period); alerted periods in red, the schedule's floor as a dashed line. None when no period has a value."""
    shown = [i for i, e in enumerate(estimates) if e is not None]
    if not shown:
        return None
    x = [_label(periods[i]) for i in shown]
    est = [float(e) for e in estimates if e is not None]
    lo = [_or(lows[i], e) for i, e in zip(shown, est, strict=True)]
    hi = [_or(highs[i], e) for i, e in zip(shown, est, strict=True)]
    colors = [RED if (alerted and alerted[i]) else BLUE for i in shown]
    figure = go.Figure(
        go.Scatter(
            x=x,
            y=est,
            mode="lines+markers",
            line={"color": GREY, "width": 1},
            marker={"size": 11, "color": colors},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [h - e for e, h in zip(est, hi, strict=True)],
                "arrayminus": [e - low for e, low in zip(est, lo, strict=True)],
                "thickness": 2,
                "width": 6,
            },
            hovertemplate="%{x}: %{y:.3f}<extra></extra>",
        )
    )
    if floor is not None:
        figure.add_hline(y=floor, line_dash="dash", line_color=RED, annotation_text=f"floor {floor:.2f}")
    figure.update_yaxes(range=[0, 1.02], title_text=_label(title))
    return _html(figure, "trend-chart", 320)
