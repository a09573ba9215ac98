"""The metric-history chart as a figure dict: its one title, and a hover with step and metric."""

from registry.mirror.charts import metric_history_figure


def test_a_metric_history_has_one_title_and_a_hover_naming_step_and_metric():
    figure = metric_history_figure(metric="val_%{loss}", series=[("run a", [[0, 1, 0.5], [1, 2, 0.4]])])
    # The run page's chart card has no heading, so the figure's title is the chart's only title ...
    assert figure["layout"]["title"]["text"] == "val_%{loss}"
    # ... and the axis does not say it again.
    assert figure["layout"]["yaxis"]["title"]["text"] == "value"
    (trace,) = figure["data"]
    assert trace["hovertemplate"] == "<b>%{fullData.name}</b><br>step %{x:,}<br>%{meta}: %{y:.6g}<extra></extra>"
    assert trace["meta"] == "val_%{loss}"  # a name with template syntax is shown, never interpreted
