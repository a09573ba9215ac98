"""Plotly figures as plain dicts (data + layout), built from scores; the page renders them with the
bundled plotly.min.js. Pure: no ORM, no request. The page's card or heading names each chart, so
no figure has a title of its own; hovers say what the number counts ("% of criteria met")."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from assessments.models import Category

Figure = dict[str, Any]
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif", "size": 12}
# Red to green through amber: 0 % is a gap, 100 % is met.
SCALE = [[0.0, "#b42318"], [0.5, "#f0b429"], [1.0, "#1d7a46"]]


def _layout(**extra: Any) -> dict[str, Any]:
    return {"font": FONT, "margin": {"l": 10, "r": 10, "t": 10, "b": 10}, "paper_bgcolor": "rgba(0,0,0,0)", **extra}


# Column labels of the heatmap: short enough for a phone screen; the hover shows the full name.
CATEGORY_SHORT = {
    "experimentation": "Tracking",
    "reproducibility": "Reproducible",
    "validation": "Validation",
    "registry": "Registry",
    "continuous_training": "Cont. training",
    "cicd": "CI/CD",
    "monitoring": "Monitoring",
    "features": "Features",
    "release": "Release",
    "documentation": "Docs",
}


def category_label(category: str) -> str:
    try:
        return Category(category).label
    except ValueError:
        return category


def category_bars(category_percents: dict[str, float]) -> Figure:
    """One horizontal bar per category: percent of its applicable criteria met."""
    categories = [c for c in Category.values if c in category_percents]
    categories += sorted(c for c in category_percents if c not in categories)
    labels = [category_label(c) for c in categories]
    values = [category_percents[c] for c in categories]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": values,
                "y": labels,
                "text": [f"{v:.0f} %" for v in values],
                "textposition": "auto",
                "marker": {"color": values, "colorscale": SCALE, "cmin": 0, "cmax": 100},
                "hovertemplate": "%{y}: %{x:.0f} % of its applicable criteria met<extra></extra>",
            }
        ],
        "layout": _layout(
            height=60 + 28 * len(labels),
            margin={"l": 10, "r": 30, "t": 10, "b": 30},  # room for the "100 %" tick
            xaxis={
                "range": [0, 100],
                "tickvals": [0, 25, 50, 75, 100],
                "ticksuffix": " %",
                "fixedrange": True,
                "automargin": True,
            },
            yaxis={"autorange": "reversed", "automargin": True, "fixedrange": True},
        ),
    }


def portfolio_heatmap(
    projects: Sequence[tuple[str, str, dict[str, float]]], categories: Sequence[str] | None = None
) -> Figure:
    """Projects (rows) x categories (columns), cell = percent met. `projects` holds
    (name, url, category percents); the urls let a click open the project's scorecard."""
    categories = list(categories or Category.values)
    z = [[percents.get(c) for c in categories] for _, _, percents in projects]
    names = [name for name, _, _ in projects]
    return {
        "data": [
            {
                "type": "heatmap",
                "z": z,
                "x": [CATEGORY_SHORT.get(c, c) for c in categories],
                "y": names,
                "customdata": [[category_label(c) for c in categories] for _ in names],
                "zmin": 0,
                "zmax": 100,
                "colorscale": SCALE,
                "xgap": 2,
                "ygap": 2,
                "colorbar": {"ticksuffix": " %", "thickness": 12},
                "hovertemplate": "<b>%{y}</b><br>%{customdata}: %{z:.0f} % of criteria met<extra></extra>",
            }
        ],
        "layout": _layout(
            height=max(220, 110 + 28 * len(names)),
            xaxis={"side": "top", "tickangle": -45, "automargin": True, "fixedrange": True},
            yaxis={"autorange": "reversed", "automargin": True, "fixedrange": True},
            meta={"links": [url for _, url, _ in projects]},
        ),
    }


def history_lines(points: Sequence[tuple[datetime, int, float]]) -> Figure:
    """Overall percent met over time, with the level as a step line on a second axis."""
    times = [t.isoformat() for t, _, _ in points]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Criteria met (%)",
                "x": times,
                "y": [p for _, _, p in points],
                "line": {"color": "#2f5bd3"},
                "hovertemplate": "%{x|%Y-%m-%d %H:%M}<br>%{y:.0f} % of criteria met<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": "Level",
                "x": times,
                "y": [lvl for _, lvl, _ in points],
                "yaxis": "y2",
                "line": {"shape": "hv", "color": "#1d7a46", "dash": "dot"},
                "hovertemplate": "%{x|%Y-%m-%d %H:%M}<br>maturity level %{y}<extra></extra>",
            },
        ],
        "layout": _layout(
            height=260,
            margin={"l": 40, "r": 40, "t": 10, "b": 30},
            yaxis={"range": [0, 100], "ticksuffix": " %", "title": {"text": ""}},
            yaxis2={"overlaying": "y", "side": "right", "range": [-0.1, 2.1], "dtick": 1, "title": {"text": "level"}},
            legend={"orientation": "h", "y": -0.2},
        ),
    }
