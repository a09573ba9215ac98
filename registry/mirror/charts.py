"""Plotly figures for the mirror's pages: pure functions from numbers to a figure dict.

The chart cards of the run pages have no heading, so here the figure's own title is the chart's one
title (the metric), and the y axis says "value" rather than repeating it."""

import json
from typing import Any

import plotly.graph_objects as go


def metric_history_figure(*, metric: str, series: list[tuple[str, list[list]]]) -> dict[str, Any]:
    """One metric's history for one or several runs, overlaid: series = [(run label, [[step, ts, value]])]."""
    figure = go.Figure()
    for label, points in series:
        figure.add_trace(
            go.Scatter(
                x=[p[0] for p in points],
                y=[p[2] for p in points],
                mode="lines+markers" if len(points) < 30 else "lines",
                name=label,
                meta=metric,  # named in the hover through %{meta}: a metric's name is data, not a template
                hovertemplate="<b>%{fullData.name}</b><br>step %{x:,}<br>%{meta}: %{y:.6g}<extra></extra>",
            )
        )
    figure.update_layout(
        title={"text": metric, "x": 0},
        xaxis_title="step",
        yaxis_title="value",
        margin={"l": 50, "r": 10, "t": 40, "b": 40},
        height=320,
        legend={"orientation": "h", "y": -0.25},
        template="plotly_white",
    )
    return json.loads(figure.to_json())  # plain lists and numbers, ready for json_script
