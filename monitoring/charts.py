"""Plotly figures as plain dicts (handed to pages with json_script): pure functions, no ORM."""

from __future__ import annotations

from typing import Any

import numpy as np

from .profiles import CategoricalHistogram, CategoricalProfile, NumericHistogram, NumericProfile

_LAYOUT: dict[str, Any] = {
    "margin": {"l": 60, "r": 20, "t": 40, "b": 60},
    "autosize": True,
    "font": {"family": "system-ui, sans-serif", "size": 12},
}


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {**_LAYOUT, "title": {"text": title}, **extra}


def drift_heatmap(
    features: list[str], windows: list[str], scores: list[list[float | None]], drifted: list[list[bool | None]]
) -> dict[str, Any]:
    """Drift score by feature (rows) x window (columns); scores are each result's score relative to
    its threshold (1 = at the threshold), so tests and distances share one colour scale. The cell's
    customdata carries [feature, window] for click-to-drill-down."""
    customdata = [[[f, w] for w in windows] for f in features]
    text = [["drifted" if d else ("" if d is None else "ok") for d in row] for row in drifted]
    return {
        "data": [
            {
                "type": "heatmap",
                "x": windows,
                "y": features,
                "z": scores,
                "text": text,
                "customdata": customdata,
                "zmin": 0,
                "zmax": 2,
                "colorscale": [[0, "#e8f5e9"], [0.5, "#fff3c4"], [0.75, "#f9a825"], [1, "#c62828"]],
                "colorbar": {"title": {"text": "score / threshold"}},
                "hovertemplate": "%{y} · %{x}<br>score/threshold %{z:.2f} %{text}<extra></extra>",
            }
        ],
        "layout": _layout(
            "Drift by feature and window",
            yaxis={"automargin": True},
            xaxis={"type": "category", "tickangle": -45, "automargin": True},
        ),
    }


def drift_timeline(series: dict[str, list[tuple[str, float | None]]], *, threshold_line: float = 1.0) -> dict[str, Any]:
    """Each feature's score / threshold per window, with the threshold as a line at 1."""
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": feature,
            "x": [w for w, _ in points],
            "y": [v for _, v in points],
        }
        for feature, points in series.items()
    ]
    windows = sorted({w for points in series.values() for w, _ in points})
    if windows:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "threshold",
                "x": [windows[0], windows[-1]],
                "y": [threshold_line, threshold_line],
                "line": {"dash": "dash", "color": "#c62828"},
            }
        )
    return {"data": data, "layout": _layout("Score against threshold", yaxis={"title": {"text": "score / threshold"}})}


def distribution_overlay(
    feature: str,
    profile: NumericProfile | CategoricalProfile,
    current: NumericHistogram | CategoricalHistogram,
    *,
    max_bars: int = 40,
) -> dict[str, Any]:
    """Reference vs window shares: binned bars for a numeric feature, category bars for a categorical one."""
    if isinstance(profile, NumericProfile):
        assert isinstance(current, NumericHistogram)
        # Fine bins regrouped into at most max_bars bars of equal reference mass.
        from .drift import coarse_counts

        ref, cur = coarse_counts(profile.counts, current.counts, bins=max_bars)
        cum_fine = np.cumsum(profile.counts)
        cum_coarse = np.cumsum(ref)
        idx = np.searchsorted(cum_fine, cum_coarse[:-1], side="left")
        upper = [float(profile.edges[min(i, profile.edges.size - 1)]) for i in idx] if profile.edges.size else []
        labels = [f"< {u:.3g}" for u in upper] + [f"≥ {upper[-1]:.3g}" if upper else "all"]
    else:
        assert isinstance(current, CategoricalHistogram)
        keys = sorted(set(profile.counts) | set(current.counts), key=lambda k: -(profile.counts.get(k, 0)))[:max_bars]
        ref = np.array([profile.counts.get(k, 0) for k in keys], dtype=float)
        cur = np.array([current.counts.get(k, 0) for k in keys], dtype=float)
        labels = keys
    ref_share = (np.asarray(ref, float) / max(float(np.sum(ref)), 1.0)).round(5).tolist()
    cur_share = (np.asarray(cur, float) / max(float(np.sum(cur)), 1.0)).round(5).tolist()
    return {
        "data": [
            {"type": "bar", "name": "reference", "x": labels, "y": ref_share, "marker": {"color": "#90a4ae"}},
            {
                "type": "bar",
                "name": "window",
                "x": labels,
                "y": cur_share,
                "marker": {"color": "#1565c0"},
                "opacity": 0.75,
            },
        ],
        "layout": _layout(f"{feature}: reference vs window", barmode="overlay", yaxis={"title": {"text": "share"}}),
    }


def volume_chart(
    windows: list[str], rows: list[int], medians: list[float | None], anomalies: list[str]
) -> dict[str, Any]:
    colors = ["#c62828" if a else "#1565c0" for a in anomalies]
    return {
        "data": [
            {"type": "bar", "name": "rows", "x": windows, "y": rows, "marker": {"color": colors}},
            {"type": "scatter", "mode": "lines", "name": "trailing median", "x": windows, "y": medians},
        ],
        "layout": _layout("Rows per window", xaxis={"type": "category", "tickangle": -45, "automargin": True}),
    }
