"""Plotly figures of a shadow evaluation, as plain dicts: pure functions over its stored results."""

from __future__ import annotations

import itertools
from typing import Any

from monitoring.charts import LINE_COLOURS, _layout

HOLDER_COLOUR, CANDIDATE_COLOUR = LINE_COLOURS[0], LINE_COLOURS[1]


def confusion_heatmap(agreement: dict[str, Any], *, holder: str, candidate: str) -> dict[str, Any]:
    """Rows: what the holder predicted; columns: what the candidate predicted; the diagonal agrees."""
    classes = agreement["classes"]
    counts = {(cell["holder"], cell["candidate"]): cell["rows"] for cell in agreement["confusion"]}
    z = [[counts.get((h, c), 0) for c in classes] for h in classes]
    return {
        "data": [
            {
                "type": "heatmap",
                "x": classes,
                "y": classes,
                "z": z,
                "text": [[f"{value:,}" for value in row] for row in z],
                "texttemplate": "%{text}",
                "colorscale": [[0, "#f7fbff"], [1, "#08306b"]],
                "showscale": False,
                "hovertemplate": f"{holder}: %{{y}}<br>{candidate}: %{{x}}<br>%{{z:,}} rows<extra></extra>",
            }
        ],
        "layout": _layout(
            "confusion",
            xaxis={"title": {"text": f"{candidate} predicts"}, "type": "category", "side": "bottom"},
            yaxis={"title": {"text": f"{holder} predicts"}, "type": "category", "autorange": "reversed"},
            height=max(220, 70 * len(classes) + 110),
        ),
    }


def class_shares(agreement: dict[str, Any], *, holder: str, candidate: str) -> dict[str, Any]:
    classes = agreement["classes"]
    bars = [
        (holder, agreement["holder_shares"], HOLDER_COLOUR),
        (candidate, agreement["candidate_shares"], CANDIDATE_COLOUR),
    ]
    return {
        "data": [
            {
                "type": "bar",
                "name": name,
                "x": classes,
                "y": [shares.get(c, 0.0) for c in classes],
                "marker": {"color": colour},
                "hovertemplate": f"{name}: %{{y:.1%}} of rows predict %{{x}}<extra></extra>",
            }
            for name, shares, colour in bars
        ],
        "layout": _layout(
            "class-shares",
            barmode="group",
            xaxis={"title": {"text": "Predicted class"}, "type": "category"},
            yaxis={"title": {"text": "Share of rows"}, "tickformat": ".0%"},
            legend={"orientation": "h", "y": -0.3},
            height=300,
        ),
    }


def prediction_histograms(histograms: dict[str, Any], *, holder: str, candidate: str) -> dict[str, Any]:
    """Both versions' predictions on the same bins."""
    edges = histograms["edges"]
    centres = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    return {
        "data": [
            {
                "type": "bar",
                "name": name,
                "x": centres,
                "y": histograms[role],
                "opacity": 0.6,
                "marker": {"color": colour},
                "hovertemplate": f"{name}: %{{y:,}} rows near %{{x:.4g}}<extra></extra>",
            }
            for name, role, colour in ((holder, "holder", HOLDER_COLOUR), (candidate, "candidate", CANDIDATE_COLOUR))
        ],
        "layout": _layout(
            "prediction-histograms",
            barmode="overlay",
            bargap=0,
            xaxis={"title": {"text": "Prediction"}},
            yaxis={"title": {"text": "Rows"}},
            legend={"orientation": "h", "y": -0.3},
            height=300,
        ),
    }


def shadow_figures(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The figures the evaluation page shows, by name; empty when nothing was compared."""
    holder = f"v{(results.get('holder') or {}).get('version')}"
    candidate = f"v{(results.get('candidate') or {}).get('version')}"
    figures: dict[str, dict[str, Any]] = {}
    if results.get("agreement"):
        figures["confusion"] = confusion_heatmap(results["agreement"], holder=holder, candidate=candidate)
        figures["shares"] = class_shares(results["agreement"], holder=holder, candidate=candidate)
    if results.get("histograms"):
        figures["histograms"] = prediction_histograms(results["histograms"], holder=holder, candidate=candidate)
    return figures
