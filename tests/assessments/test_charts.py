"""The maturity charts as figure dicts: one title per chart (the page's), hovers that say what they count."""

import json
from datetime import UTC, datetime

from assessments import charts


def figures() -> dict[str, dict]:
    return {
        "category": charts.category_bars({"experimentation": 50.0, "monitoring": 100.0}),
        "portfolio": charts.portfolio_heatmap([("Churn", "/p/churn/", {"experimentation": 50.0})]),
        "history": charts.history_lines([(datetime(2026, 11, 1, tzinfo=UTC), 1, 40.0)]),
    }


def test_no_maturity_figure_has_a_title_of_its_own_the_page_names_it():
    for name, figure in figures().items():
        assert "title" not in figure["layout"], name
        json.dumps(figure)


def test_every_maturity_hover_says_what_its_percent_counts():
    for name, figure in figures().items():
        hovers = [trace["hovertemplate"] for trace in figure["data"]]
        assert any("% of" in h and "criteria met" in h for h in hovers), name
    assert "maturity level %{y}" in figures()["history"]["data"][1]["hovertemplate"]
