"""Plotly figures as plain dicts (handed to pages with json_script): pure functions, no ORM.

The page's card carries each chart's title, so no figure has a layout title. Each figure names its
part in layout.meta.role, which is how static/js/monitoring.js finds the timeline a heatmap click
focuses, without depending on the template's element ids.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from monitoring.profiles import CategoricalHistogram, CategoricalProfile, NumericHistogram, NumericProfile

_LAYOUT: dict[str, Any] = {
    "margin": {"l": 60, "r": 20, "t": 20, "b": 60},
    "autosize": True,
    "font": {"family": "system-ui, sans-serif", "size": 12},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "#ffffff",
}

# Score / threshold bands of the heatmap, on a log scale: a cell 1.1x over its threshold and one 11x
# over differ by two bands, and cells under the threshold keep three shades of their own. Cool colours
# below the threshold, warm above, so the break at 1x is a change of hue (blue to yellow reads for
# red-green colour blindness too), and within each side darker means further from 1x... above it.
RATIO_BANDS: list[tuple[float, float, str, str]] = [
    # (from, to, colour, legend label)
    (0.0, 0.25, "#e3eef9", "< 0.25×"),
    (0.25, 0.5, "#b8d4ee", "0.25–0.5×"),
    (0.5, 1.0, "#7fb0dd", "0.5–1× (under threshold)"),
    (1.0, 2.0, "#fdd49e", "1–2× (drifted)"),
    (2.0, 5.0, "#fc8d59", "2–5×"),
    (5.0, 10.0, "#d7301f", "5–10×"),
    (10.0, math.inf, "#7f0000", "≥ 10×"),
]
# The colour axis spans 0.1x to 100x in log10; values outside are clipped to the end bands.
LOG_MIN, LOG_MAX = -1.0, 2.0
# A cell with no result for that window: mid grey and labelled, so it never passes for "fine".
NO_DATA_COLOUR = "#9e9e9e"
# Feature lines of the timeline: Okabe-Ito's colour-blind-safe set without its red (the threshold is
# neutral grey and the heatmap's red means "far over"), cycled with dash styles past seven features.
LINE_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#56B4E9", "#CC79A7", "#000000", "#F0E442"]
LINE_DASHES = ["solid", "dot", "dashdot"]
THRESHOLD_COLOUR = "#555555"
REFERENCE_COLOUR = "#b0bec5"
WINDOW_COLOUR = "#0d47a1"


def _layout(role: str, **extra: Any) -> dict[str, Any]:
    meta = {"role": role, **extra.pop("meta", {})}
    return {**_LAYOUT, "meta": meta, **extra}


def _log_position(ratio: float) -> float:
    """Where a ratio sits on the colour axis (0..1)."""
    return (math.log10(ratio) - LOG_MIN) / (LOG_MAX - LOG_MIN)


def ratio_colourscale() -> list[list[Any]]:
    """A stepped Plotly colourscale over log10(score / threshold): one flat colour per band."""
    scale: list[list[Any]] = []
    for low, high, colour, _ in RATIO_BANDS:
        start = 0.0 if low <= 10**LOG_MIN else _log_position(low)
        end = 1.0 if high >= 10**LOG_MAX else _log_position(high)
        scale += [[round(start, 6), colour], [round(end, 6), colour]]
    return scale


def ratio_label(ratio: float | None) -> str:
    """1.1 -> "1.1×", 11.4 -> "11×", 0.042 -> "0.04×": two significant digits, as read in a cell."""
    if ratio is None:
        return "no data"
    return f"{ratio:.2g}×" if ratio < 10 else f"{ratio:.0f}×"


def _label_colour(ratio: float | None) -> str:
    """White on the dark cells (5x and over, no data), near-black elsewhere."""
    return "#ffffff" if ratio is None or ratio >= 5 else "#1a1a1a"


def _log_ratio(ratio: float | None) -> float | None:
    if ratio is None:
        return None
    return round(min(max(math.log10(max(ratio, 1e-12)), LOG_MIN), LOG_MAX), 4)


def drift_heatmap(
    features: list[str],
    windows: list[str],
    scores: list[list[float | None]],
    drifted: list[list[bool | None]],
    *,
    window_rows: list[int] | None = None,
) -> dict[str, Any]:
    """Drift score by feature (rows) x window (columns). Scores are each result's score relative to
    its threshold (1 = at the threshold), so tests and distances share one colour axis; the colour is
    log10 of that ratio in bands, the cell and the hover say the ratio itself. Trace 0's customdata
    carries [feature, window, ratio label, window rows] for click-to-drill-down; cells without a
    result are drawn by a second, grey trace that says "no data"."""
    rows = window_rows or [0] * len(windows)
    customdata = [
        [[f, w, ratio_label(s), n] for w, s, n in zip(windows, row, rows, strict=True)]
        for f, row in zip(features, scores, strict=True)
    ]
    rows_line = "<br>window: %{customdata[3]:,} rows" if window_rows else ""
    text = [["drifted" if d else ("" if d is None else "ok") for d in row] for row in drifted]
    missing = [[1 if s is None else None for s in row] for row in scores]
    ticks = [0.1, 0.25, 0.5, 1, 2, 5, 10, 100]
    data: list[dict[str, Any]] = [
        {
            "type": "heatmap",
            "x": windows,
            "y": features,
            "z": [[_log_ratio(s) for s in row] for row in scores],
            "text": text,
            "customdata": customdata,
            "zmin": LOG_MIN,
            "zmax": LOG_MAX,
            "colorscale": ratio_colourscale(),
            "xgap": 1,
            "ygap": 1,
            "hoverongaps": False,
            "colorbar": {
                "title": {"text": "score ÷ threshold", "side": "right"},
                "tickvals": [round(math.log10(t), 4) for t in ticks],
                "ticktext": [f"{t:g}×" for t in ticks],
                "thickness": 14,
            },
            "hovertemplate": (
                "<b>%{y}</b> · window %{x}<br>score ÷ threshold: %{customdata[2]} (%{text})"
                f"{rows_line}<extra></extra>"
            ),
        }
    ]
    if any(v is not None for row in missing for v in row):
        data.append(
            {
                "type": "heatmap",
                "x": windows,
                "y": features,
                "z": missing,
                "name": "no data",
                "zmin": 0,
                "zmax": 1,
                "colorscale": [[0, NO_DATA_COLOUR], [1, NO_DATA_COLOUR]],
                "showscale": False,
                "xgap": 1,
                "ygap": 1,
                "hoverongaps": False,
                "hovertemplate": "<b>%{y}</b> · window %{x}<br>no result for this window<extra></extra>",
            }
        )
    # Each cell says its ratio (or "no data") in text: a text-only scatter on top, because a heatmap's
    # own texttemplate cannot read customdata and draws on gaps too. It takes no hover or click, so
    # those reach the heatmap beneath.
    cells = [(w, f, s) for f, row in zip(features, scores, strict=True) for w, s in zip(windows, row, strict=True)]
    data.append(
        {
            "type": "scatter",
            "mode": "text",
            "name": "cell labels",
            "meta": "cell-labels",
            "x": [w for w, _, _ in cells],
            "y": [f for _, f, _ in cells],
            "text": [ratio_label(s) for _, _, s in cells],
            "textfont": {"size": 10, "color": [_label_colour(s) for _, _, s in cells]},
            "hoverinfo": "skip",
            "showlegend": False,
        }
    )
    return {
        "data": data,
        "layout": _layout(
            "drift-heatmap",
            yaxis={"automargin": True, "type": "category"},
            xaxis={"type": "category", "tickangle": -45, "automargin": True},
            plot_bgcolor="#ffffff",
        ),
    }


def drift_timeline(
    series: dict[str, list[tuple[str, float | None]]],
    *,
    threshold_line: float = 1.0,
    window_rows: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Each feature's score / threshold per window on a log axis (1.1x and 11x stay apart), with the
    threshold as a dashed neutral line labelled on the plot, never in a feature's colour."""
    floor = 0.01  # log axis: a zero score is drawn at the floor, its hover still says 0
    windows = sorted({w for points in series.values() for w, _ in points})
    rows_by_window = window_rows or {}
    rows_line = "<br>window: %{customdata[1]:,} rows" if window_rows else ""
    data: list[dict[str, Any]] = []
    for i, (feature, points) in enumerate(series.items()):
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": feature,
                "x": [w for w, _ in points],
                "y": [None if v is None else max(v, floor) for _, v in points],
                "customdata": [[ratio_label(v), rows_by_window.get(w, 0)] for w, v in points],
                "line": {"color": LINE_COLOURS[i % len(LINE_COLOURS)], "width": 2, "dash": LINE_DASHES[i // 7 % 3]},
                "marker": {"size": 6},
                "hovertemplate": (
                    "<b>%{fullData.name}</b> · window %{x}<br>score ÷ threshold: %{customdata[0]}"
                    f"{rows_line}<extra></extra>"
                ),
            }
        )
    return {
        "data": data,
        "layout": _layout(
            "drift-timeline",
            xaxis={"type": "category", "categoryorder": "array", "categoryarray": windows, "automargin": True},
            yaxis={
                "type": "log",
                "title": {"text": "score ÷ threshold (log scale)"},
                "tickvals": [0.01, 0.1, 0.5, 1, 2, 5, 10, 100],
                "ticktext": ["0.01×", "0.1×", "0.5×", "1×", "2×", "5×", "10×", "100×"],
                "automargin": True,
            },
            shapes=[
                {
                    "type": "line",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "yref": "y",
                    "y0": threshold_line,
                    "y1": threshold_line,
                    "line": {"color": THRESHOLD_COLOUR, "width": 1.5, "dash": "dash"},
                }
            ],
            annotations=[
                {
                    "xref": "paper",
                    "x": 1,
                    "xanchor": "right",
                    "yref": "y",
                    "y": math.log10(threshold_line),
                    "yanchor": "bottom",
                    "text": f"threshold ({threshold_line:g}×)",
                    "showarrow": False,
                    "font": {"color": THRESHOLD_COLOUR, "size": 11},
                }
            ],
            legend={"title": {"text": "feature"}},
            hovermode="closest",
            meta={"threshold": threshold_line},
        ),
    }


def _numeric_bins(
    profile: NumericProfile, current: NumericHistogram, max_bars: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fine reference-quantile bins regrouped into at most max_bars bins of about equal reference mass
    (the grouping drift.coarse_counts uses), with their true value edges: the open outer bins end at
    the smallest and largest value either side saw. Returns (lower, upper, reference, window counts)."""
    ref_fine = np.asarray(profile.counts, dtype=float)
    cur_fine = np.asarray(current.counts, dtype=float)
    cum = np.cumsum(ref_fine)
    total = cum[-1] if cum.size else 0.0
    if total == 0 or ref_fine.size <= max_bars:
        starts = np.arange(ref_fine.size)
    else:
        starts = np.unique(
            np.concatenate(([0], np.searchsorted(cum, total * np.arange(1, max_bars) / max_bars, side="right")))
        )
        starts = starts[starts < ref_fine.size]
    lowest = min(profile.min, current.min) if np.isfinite(current.min) else profile.min
    highest = max(profile.max, current.max) if np.isfinite(current.max) else profile.max
    fine_lower = np.concatenate(([lowest], profile.edges)).astype(float)
    fine_upper = np.concatenate((profile.edges, [highest])).astype(float)
    ends = np.concatenate((starts[1:], [ref_fine.size])) - 1
    lower, upper = fine_lower[starts], fine_upper[ends]
    return lower, upper, np.add.reduceat(ref_fine, starts), np.add.reduceat(cur_fine, starts)


def distribution_overlay(
    feature: str,
    profile: NumericProfile | CategoricalProfile,
    current: NumericHistogram | CategoricalHistogram,
    *,
    max_bars: int = 40,
) -> dict[str, Any]:
    """Reference vs window. A numeric feature is drawn on its own value axis: one bar per bin, as
    wide as the bin, as high as the share of rows per unit of the feature (so each bar's area is its
    share, and the equal-mass reference bins show the reference's true shape). A categorical feature
    gets one pair of bars per category. The reference is solid grey, the window outlined and hatched,
    so the two differ without colour; the hover gives each side's share, rows and sample size."""
    ref_n, cur_n = int(profile.n), int(current.n)
    if isinstance(profile, NumericProfile):
        assert isinstance(current, NumericHistogram)
        lower, upper, ref, cur = _numeric_bins(profile, current, max_bars)
        widths = upper - lower
        # A point mass (a constant reference, or a bin between two equal edges) has no width: it is
        # drawn 1 % of the axis wide, its height its share over that width, so its area stays its share.
        span = float(upper[-1] - lower[0])
        tolerance = 1e-9 * max(1.0, float(np.abs(lower).max()))
        point = span / 100 if span > tolerance else 1.0
        widths = np.where(widths > max(span * 1e-6, tolerance), widths, point)
        x: list[Any] = ((lower + upper) / 2).round(10).tolist()
        ref_share, cur_share = ref / max(ref.sum(), 1.0), cur / max(cur.sum(), 1.0)
        ref_y, cur_y = (ref_share / widths).tolist(), (cur_share / widths).tolist()
        bins = [
            f"[{lo:.4g}, {hi:.4g}{']' if i == len(lower) - 1 else ')'}"
            for i, (lo, hi) in enumerate(zip(lower, upper, strict=True))
        ]
        width: list[float] | None = widths.round(10).tolist()
        xaxis = {"type": "linear", "title": {"text": feature}, "automargin": True}
        yaxis = {"title": {"text": "share of rows per unit"}, "rangemode": "tozero", "automargin": True}
        barmode = "overlay"
    else:
        assert isinstance(current, CategoricalHistogram)
        keys = sorted(set(profile.counts) | set(current.counts), key=lambda k: -(profile.counts.get(k, 0)))[:max_bars]
        ref = np.array([profile.counts.get(k, 0) for k in keys], dtype=float)
        cur = np.array([current.counts.get(k, 0) for k in keys], dtype=float)
        ref_share, cur_share = ref / max(ref.sum(), 1.0), cur / max(cur.sum(), 1.0)
        x, bins, width = list(keys), list(keys), None
        ref_y, cur_y = ref_share.round(5).tolist(), cur_share.round(5).tolist()
        xaxis = {"type": "category", "title": {"text": feature}, "automargin": True}
        yaxis = {"title": {"text": "share of rows"}, "tickformat": ".0%", "rangemode": "tozero", "automargin": True}
        barmode = "group"

    def trace(name: str, y: list[float], counts: np.ndarray, shares: np.ndarray, n: int, marker: dict) -> dict:
        bar: dict[str, Any] = {
            "type": "bar",
            "name": f"{name} (n = {n:,})",
            "x": x,
            "y": y,
            "marker": marker,
            "customdata": [[b, round(float(s), 6), int(c), n] for b, s, c in zip(bins, shares, counts, strict=True)],
            "hovertemplate": (
                f"<b>{name}</b> · {feature} in %{{customdata[0]}}<br>"
                "%{customdata[1]:.1%} of rows (%{customdata[2]:,} of %{customdata[3]:,})<extra></extra>"
            ),
        }
        if width is not None:
            bar["width"] = width
        return bar

    return {
        "data": [
            trace("reference", ref_y, ref, ref_share, ref_n, {"color": REFERENCE_COLOUR, "line": {"width": 0}}),
            trace(
                "window",
                cur_y,
                cur,
                cur_share,
                cur_n,
                {
                    "color": "rgba(13, 71, 161, 0.12)",
                    "line": {"color": WINDOW_COLOUR, "width": 1.5},
                    "pattern": {"shape": "/", "fgcolor": WINDOW_COLOUR, "size": 7, "solidity": 0.25},
                },
            ),
        ],
        "layout": _layout(
            "distribution",
            barmode=barmode,
            bargap=0,
            xaxis=xaxis,
            yaxis=yaxis,
            legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
            meta={"bins": bins},
        ),
    }


def distribution_table(figure: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(bin or category, reference share, window share) rows of a distribution_overlay figure, for the
    table under the chart: the bars' heights are densities on a numeric axis, not shares."""
    ref, cur = figure["data"][0], figure["data"][1]
    return [
        (label, r[1], c[1])
        for label, r, c in zip(figure["layout"]["meta"]["bins"], ref["customdata"], cur["customdata"], strict=True)
    ]


def volume_chart(
    windows: list[str], rows: list[int], medians: list[float | None], anomalies: list[str]
) -> dict[str, Any]:
    """Rows per window as bars (an anomalous window in red and hatched, so it reads without colour),
    with the trailing median as a dashed neutral line."""
    colors = ["#c62828" if a else "#1565c0" for a in anomalies]
    patterns = ["x" if a else "" for a in anomalies]
    return {
        "data": [
            {
                "type": "bar",
                "name": "rows",
                "x": windows,
                "y": rows,
                "marker": {"color": colors, "pattern": {"shape": patterns, "fgcolor": "#ffffff", "size": 6}},
                "customdata": [a or "normal volume" for a in anomalies],
                "hovertemplate": "window %{x}<br>%{y:,} rows · %{customdata}<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": "trailing median",
                "x": windows,
                "y": medians,
                "line": {"color": THRESHOLD_COLOUR, "dash": "dash", "width": 1.5},
                "hovertemplate": "window %{x}<br>trailing median: %{y:,.0f} rows<extra></extra>",
            },
        ],
        "layout": _layout(
            "volume",
            xaxis={"type": "category", "tickangle": -45, "automargin": True},
            yaxis={"title": {"text": "rows"}, "rangemode": "tozero", "automargin": True},
            legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        ),
    }
