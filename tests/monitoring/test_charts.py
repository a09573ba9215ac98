"""The monitoring charts as figure dicts: what an analyst reads off them (scales, bins, styles, hover)."""

import json
import math

import numpy as np
import pytest

from monitoring import charts, profiles


def colour_at(scale: list[list], position: float) -> str:
    """The colour a stepped Plotly colourscale gives a normalised position (the last stop at or before it)."""
    colour = scale[0][1]
    for stop, stop_colour in scale:
        if stop <= position:
            colour = stop_colour
    return colour


def heatmap_colour(figure: dict, ratio: float) -> str:
    trace = figure["data"][0]
    z = min(max(math.log10(ratio), trace["zmin"]), trace["zmax"])
    return colour_at(trace["colorscale"], (z - trace["zmin"]) / (trace["zmax"] - trace["zmin"]))


@pytest.fixture
def heatmap() -> dict:
    return charts.drift_heatmap(
        ["age", "income"],
        ["2026-11-01", "2026-11-02", "2026-11-03"],
        [[0.2, 1.1, 11.0], [0.9, None, 1.9]],
        [[False, True, True], [False, None, True]],
        window_rows=[1200, 0, 980],
    )


def test_the_heatmap_colours_the_log_of_score_over_threshold_in_bands(heatmap):
    trace = heatmap["data"][0]
    assert trace["z"][0] == [pytest.approx(math.log10(0.2), abs=1e-4), pytest.approx(math.log10(1.1), abs=1e-4), 1.0414]
    assert len({colour for _, colour in trace["colorscale"]}) == len(charts.RATIO_BANDS)
    # 1.1x and 11x over the threshold look different; so do 0.2x and 0.9x under it, and both
    # sides of the threshold.
    assert heatmap_colour(heatmap, 1.1) != heatmap_colour(heatmap, 11.0)
    assert heatmap_colour(heatmap, 0.2) != heatmap_colour(heatmap, 0.9)
    assert heatmap_colour(heatmap, 0.9) != heatmap_colour(heatmap, 1.1)
    assert trace["colorbar"]["ticktext"][3] == "1×" and trace["colorbar"]["tickvals"][3] == 0


def test_the_heatmap_says_each_cells_ratio_and_draws_missing_cells_grey_and_labelled(heatmap):
    labels = heatmap["data"][-1]
    assert labels["mode"] == "text" and labels["hoverinfo"] == "skip"
    assert labels["text"] == ["0.2×", "1.1×", "11×", "0.9×", "no data", "1.9×"]
    missing = heatmap["data"][1]
    assert missing["z"] == [[None, None, None], [None, 1, None]]
    assert {c for _, c in missing["colorscale"]} == {charts.NO_DATA_COLOUR}
    # The grey of "no data" is no band's colour, least of all the under-threshold ones.
    assert charts.NO_DATA_COLOUR not in {colour for _, _, colour, _ in charts.RATIO_BANDS}
    assert heatmap["data"][0]["z"][1][1] is None  # the coloured trace leaves the cell to the grey one


def test_the_heatmap_hover_gives_the_ratio_with_its_unit_and_the_window_rows(heatmap):
    trace = heatmap["data"][0]
    assert "score ÷ threshold: %{customdata[2]}" in trace["hovertemplate"]
    assert "%{customdata[3]:,} rows" in trace["hovertemplate"]
    assert trace["customdata"][0][2] == ["age", "2026-11-03", "11×", 980]
    # Drill-down keeps reading [feature, window] from the same places, and "drifted" from text.
    assert trace["text"][0] == ["ok", "drifted", "drifted"]


def test_the_timeline_draws_the_threshold_as_a_labelled_dashed_neutral_line_apart_from_the_features():
    figure = charts.drift_timeline(
        {"age": [("d1", 0.5), ("d2", 12.0)], "income": [("d1", 0.0), ("d2", 1.2)]},
        window_rows={"d1": 500, "d2": 800},
    )
    (threshold,) = figure["layout"]["shapes"]
    assert threshold["y0"] == threshold["y1"] == 1.0
    assert threshold["line"]["dash"] == "dash" and threshold["line"]["color"] == charts.THRESHOLD_COLOUR
    line_colours = {trace["line"]["color"] for trace in figure["data"]}
    assert charts.THRESHOLD_COLOUR not in line_colours and len(line_colours) == 2
    assert all(trace["line"]["dash"] == "solid" for trace in figure["data"])
    assert figure["layout"]["annotations"][0]["text"] == "threshold (1×)"
    assert figure["layout"]["yaxis"]["type"] == "log"
    assert figure["data"][1]["y"] == [0.01, 1.2]  # a zero sits on the log axis' floor ...
    assert figure["data"][1]["customdata"][0] == ["0×", 500]  # ... and its hover still says 0
    assert "%{customdata[1]:,} rows" in figure["data"][0]["hovertemplate"]
    assert figure["layout"]["xaxis"]["categoryarray"] == ["d1", "d2"]


@pytest.fixture
def numeric_overlay() -> tuple[dict, profiles.NumericProfile, profiles.NumericHistogram]:
    rng = np.random.default_rng(7)
    profile = profiles.profile_numeric(rng.lognormal(size=4000))
    window = profiles.bin_numeric(profile, rng.lognormal(0.4, 1.1, size=700))
    return charts.distribution_overlay("income", profile, window), profile, window


def test_numeric_distributions_are_drawn_on_a_value_axis_with_bars_as_wide_as_their_bins(numeric_overlay):
    figure, profile, window = numeric_overlay
    assert figure["layout"]["xaxis"]["type"] == "linear" and figure["layout"]["barmode"] == "overlay"
    for trace in figure["data"]:
        centres, widths = np.array(trace["x"]), np.array(trace["width"])
        lower, upper = centres - widths / 2, centres + widths / 2
        # Bars tile the axis: each starts where the previous ends, from the smallest value seen to the largest.
        np.testing.assert_allclose(lower[1:], upper[:-1], rtol=1e-9, atol=1e-9)
        assert lower[0] == pytest.approx(min(profile.min, window.min))
        assert upper[-1] == pytest.approx(max(profile.max, window.max))
        # Heights are densities: each bar's area is its share, and the shares add up to 1.
        assert float(np.sum(np.array(trace["y"]) * widths)) == pytest.approx(1.0, abs=1e-6)
        assert not any(isinstance(x, str) for x in trace["x"])  # no "< 2.81…" category labels
    # The reference's bins hold about equal mass, so their bars differ in width, not in area.
    widths = np.array(figure["data"][0]["width"])
    assert widths.max() > 5 * widths.min()


def test_reference_and_window_differ_without_colour_and_their_hover_gives_shares_and_sample_sizes(numeric_overlay):
    figure, profile, window = numeric_overlay
    reference, current = figure["data"]
    assert "pattern" not in reference["marker"] and current["marker"]["pattern"]["shape"] == "/"
    assert current["marker"]["line"]["width"] > 0 and reference["marker"]["line"]["width"] == 0
    assert reference["name"] == f"reference (n = {profile.n:,})" and current["name"] == f"window (n = {window.n:,})"
    assert "%{customdata[1]:.1%} of rows (%{customdata[2]:,} of %{customdata[3]:,})" in current["hovertemplate"]
    assert current["customdata"][0][3] == window.n and reference["customdata"][0][3] == profile.n
    assert sum(row[2] for row in current["customdata"]) == window.n
    table = charts.distribution_table(figure)
    assert table[0][0].startswith("[") and sum(r for _, r, _ in table) == pytest.approx(1.0, abs=1e-4)


def test_categorical_distributions_group_their_bars_per_category():
    figure = charts.distribution_overlay(
        "plan", profiles.profile_categorical(["a", "a", "b"]), profiles.bin_categorical(["b", "c"])
    )
    assert figure["layout"]["barmode"] == "group" and figure["layout"]["xaxis"]["type"] == "category"
    assert figure["data"][0]["x"] == ["a", "b", "c"] and figure["data"][1]["y"] == [0.0, 0.5, 0.5]
    assert "width" not in figure["data"][0]


def test_the_volume_chart_marks_anomalies_by_pattern_too_and_says_rows():
    figure = charts.volume_chart(["d1", "d2"], [1000, 120], [None, 1000.0], ["", "drop"])
    bars, median = figure["data"]
    assert bars["marker"]["pattern"]["shape"] == ["", "x"]
    assert "rows" in bars["hovertemplate"] and "rows" in median["hovertemplate"]
    assert median["line"]["dash"] == "dash"


def test_no_monitoring_figure_has_a_title_of_its_own_the_card_has_it(heatmap, numeric_overlay):
    figures = [
        heatmap,
        numeric_overlay[0],
        charts.drift_timeline({"a": [("d1", 0.5)]}),
        charts.volume_chart(["d1"], [10], [None], [""]),
    ]
    for figure in figures:
        assert "title" not in figure["layout"], figure["layout"]["meta"]["role"]
        json.dumps(figure)
    assert [f["layout"]["meta"]["role"] for f in figures] == [
        "drift-heatmap",
        "distribution",
        "drift-timeline",
        "volume",
    ]


def test_a_constant_reference_is_drawn_as_a_visible_bar_whose_area_is_its_share():
    profile = profiles.profile_numeric(np.full(200, 3.0))
    figure = charts.distribution_overlay("c", profile, profiles.bin_numeric(profile, np.array([1.0, 3.0, 5.0, 5.0])))
    reference, window = figure["data"]
    widths = np.array(reference["width"])
    assert (widths > 0.01).all() and np.isfinite(reference["y"]).all()
    assert float(np.sum(np.array(reference["y"]) * widths)) == pytest.approx(1.0)
    assert float(np.sum(np.array(window["y"]) * widths)) == pytest.approx(1.0)
