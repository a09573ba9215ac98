"""Plotly figures for the mirror's pages: pure functions from numbers to a figure dict."""

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
            )
        )
    figure.update_layout(
        title={"text": metric, "x": 0},
        xaxis_title="step",
        yaxis_title=metric,
        margin={"l": 50, "r": 10, "t": 40, "b": 40},
        height=320,
        legend={"orientation": "h", "y": -0.25},
        template="plotly_white",
    )
    return json.loads(figure.to_json())  # plain lists and numbers, ready for json_script
