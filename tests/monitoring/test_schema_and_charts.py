"""Schema comparison with the model signature, and chart figures."""

import json

import numpy as np
import pandas as pd

from monitoring import charts, drift, profiles
from monitoring.schema import Change, schema_compare, schema_from_frame, schema_from_signature

EXPECTED = [
    {"name": "feature_a", "type": "float", "required": True},
    {"name": "feature_b", "type": "float", "required": True},
]


def test_an_extra_float64_column_and_a_float64_sent_for_float32_are_both_named():
    frame = pd.DataFrame(
        {
            "feature_a": np.array([1.0, 2.0], dtype=np.float32),
            "feature_b": np.array([1.0, 2.0], dtype=np.float64),
            "feature_c": np.array([1.0, 2.0], dtype=np.float64),
        }
    )
    diffs = schema_compare(EXPECTED, frame, typed=True)
    assert [(d.column, d.change, d.expected, d.received) for d in diffs] == [
        ("feature_b", Change.TYPE, "float", "double"),
        ("feature_c", Change.EXTRA, "", "double"),
    ]
    assert "feature_b: expected float, received double" in diffs[0].detail


def test_missing_inputs_strings_for_numbers_and_nulls_in_required_inputs_are_reported():
    frame = pd.DataFrame({"feature_a": ["x", "y"], "prediction": [0.1, 0.2]})
    diffs = schema_compare(EXPECTED, frame, typed=False, ignore={"prediction"})
    assert {(d.column, d.change) for d in diffs} == {("feature_a", Change.TYPE), ("feature_b", Change.MISSING)}
    assert "string where a number is expected" in next(d.detail for d in diffs if d.column == "feature_a")
    nulls = schema_compare(EXPECTED, pd.DataFrame({"feature_a": [1.0, None], "feature_b": [1.0, 2.0]}), typed=False)
    assert [(d.column, d.change) for d in nulls] == [("feature_a", Change.NULLS)]


def test_untyped_numbers_match_any_numeric_signature_type():
    frame = pd.DataFrame({"feature_a": [1.5, 2.0], "feature_b": [1, 2]})
    assert schema_compare(EXPECTED, frame, typed=False) == []


def test_schemas_come_from_signatures_or_from_a_reference_frame():
    assert schema_from_signature([{"name": "a", "type": "double"}, {"name": None, "type": "tensor"}]) == [
        {"name": "a", "type": "double", "required": True}
    ]
    frame = pd.DataFrame({"a": np.array([1.0], dtype=np.float32), "b": ["x"], "c": [1]})
    assert [c["type"] for c in schema_from_frame(frame)] == ["float", "string", "long"]


def test_figures_are_json_serialisable_plotly_dicts_with_drill_down_data():
    heat = charts.drift_heatmap(["a", "b"], ["d1", "d2"], [[0.1, 1.5], [0.2, None]], [[False, True], [False, None]])
    assert heat["data"][0]["type"] == "heatmap" and heat["data"][0]["customdata"][0][1][:2] == ["a", "d2"]
    rng = np.random.default_rng(0)
    profile = profiles.profile_numeric(rng.normal(size=1000))
    overlay = charts.distribution_overlay("a", profile, profiles.bin_numeric(profile, rng.normal(size=100)))
    assert abs(sum(charts.distribution_table(overlay)[i][1] for i in range(len(overlay["data"][0]["x"]))) - 1) < 1e-3
    cat = charts.distribution_overlay("c", profiles.profile_categorical(["x", "y"]), profiles.bin_categorical(["z"]))
    assert set(cat["data"][0]["x"]) == {"x", "y", "z"}
    timeline = charts.drift_timeline({"a": [("d1", 0.5), ("d2", 1.5)]})
    assert timeline["layout"]["shapes"][0]["y0"] == 1.0  # the threshold
    volume = charts.volume_chart(["d1", "d2"], [10, 2], [None, 10.0], ["", "drop"])
    for figure in (heat, overlay, cat, timeline, volume):
        json.dumps(figure)
    assert drift.DEFAULT_THRESHOLDS["psi"] == 0.1
