"""Shadow evaluation statistics: hand examples, generated data with known answers, scikit-learn as the
reference for metrics, and properties (hypothesis)."""

import json
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk

from monitoring.shadow import stats as shadow_stats
from monitoring.shadow.stats import (
    METRICS,
    class_agreement,
    metric_comparison,
    metric_function,
    most_different_rows,
    prediction_drift,
    predictions_kind,
    value_differences,
)

small_classes = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=60)
finite = st.floats(-1e6, 1e6, allow_nan=False)


# ---------------------------------------------------------------- kinds


@pytest.mark.parametrize(
    ("holder", "candidate", "kind"),
    [
        (["cat", "dog"], ["dog", "dog"], "classes"),
        ([True, False], [False, False], "classes"),
        ([0, 1], [1.0, 0.0], "classes"),
        ([0, 1], ["0", "1"], "classes"),
        (list(range(30)), list(range(20, 50)), "classes"),
        (list(range(30)), list(range(30, 60)), "values"),
        ([0.1, 0.7], [0.2, 0.9], "values"),
        ([1, 2], [1.5, 2.0], "values"),
    ],
)
def test_predictions_are_classes_unless_both_sides_are_numbers_other_than_a_few_integers(holder, candidate, kind):
    assert predictions_kind(pd.Series(holder), pd.Series(candidate)) == kind


def test_categorical_predictions_are_classes_even_with_numeric_categories():
    holder = pd.Series([1.5, 2.5]).astype("category")
    assert predictions_kind(holder, pd.Series([1.5, 2.5])) == "classes"


def test_series_on_different_indexes_or_with_no_rows_are_refused():
    with pytest.raises(ValueError, match="aligned"):
        class_agreement(pd.Series([1, 2], index=[0, 1]), pd.Series([1, 2], index=[1, 2]))
    with pytest.raises(ValueError, match="no rows"):
        value_differences(pd.Series([], dtype=float), pd.Series([], dtype=float))
    with pytest.raises(ValueError, match="aligned"):
        metric_comparison(
            metric="accuracy", labels=pd.Series([1], index=[5]), holder=pd.Series([1]), candidate=pd.Series([1])
        )


# ---------------------------------------------------------------- class agreement


def test_identical_predictions_disagree_on_no_row_and_the_interval_is_zero():
    predictions = pd.Series(np.random.default_rng(0).choice(["a", "b", "c"], 1000))
    result = class_agreement(predictions, predictions.copy())
    assert (result.rows, result.disagreeing, result.share) == (1000, 0, 0.0)
    assert result.interval == (0.0, 0.0)
    assert result.holder_shares == result.candidate_shares


def test_a_candidate_flipping_rows_with_probability_p_measures_p_within_its_interval():
    rng = np.random.default_rng(7)
    holder = rng.integers(0, 2, 20_000)
    flipped = rng.random(20_000) < 0.07
    result = class_agreement(pd.Series(holder), pd.Series(np.where(flipped, 1 - holder, holder)), seed=3)
    assert result.disagreeing == flipped.sum()
    low, high = result.interval
    assert low < result.share < high
    assert low < 0.07 < high
    # The binomial standard error at n=20,000, p=0.07 is 0.0018: the 95 % interval is about ±0.0035.
    assert 0.005 < high - low < 0.009


def test_confusion_lists_each_non_zero_cell_sorted_by_holder_then_candidate():
    holder = pd.Series(["b", "a", "a", "c", "b", "a"])
    candidate = pd.Series(["b", "a", "c", "c", "a", "c"])
    result = class_agreement(holder, candidate)
    assert result.confusion == [
        {"holder": "a", "candidate": "a", "rows": 1},
        {"holder": "a", "candidate": "c", "rows": 2},
        {"holder": "b", "candidate": "a", "rows": 1},
        {"holder": "b", "candidate": "b", "rows": 1},
        {"holder": "c", "candidate": "c", "rows": 1},
    ]
    assert result.classes == ["a", "b", "c"]
    assert (result.disagreeing, result.share) == (3, 0.5)


def test_class_shares_are_each_models_predicted_mix_over_the_union_of_classes():
    result = class_agreement(pd.Series(["x", "x", "x", "y"]), pd.Series(["x", "z", "z", "z"]))
    assert result.holder_shares == {"x": 0.75, "y": 0.25, "z": 0.0}
    assert result.candidate_shares == {"x": 0.25, "y": 0.0, "z": 0.75}


def test_classes_of_different_dtypes_compare_by_their_text():
    ints, floats, strings = pd.Series([0, 1, 1]), pd.Series([0.0, 1.0, 1.0]), pd.Series(["0", "1", "1"])
    assert class_agreement(ints, floats).disagreeing == 0
    assert class_agreement(ints, strings).disagreeing == 0
    assert class_agreement(ints, strings).classes == ["0", "1"]
    bools = pd.Series([False, True, True])
    assert class_agreement(bools, ints).disagreeing == 0  # True is 1 beside numbers
    assert class_agreement(bools, pd.Series(["False", "True", "False"])).classes == ["False", "True"]


def test_a_missing_prediction_is_a_class_of_its_own():
    result = class_agreement(pd.Series(["a", None, "b"]), pd.Series(["a", "a", None]))
    assert result.disagreeing == 2
    assert shadow_stats.MISSING in result.classes


def test_class_agreement_is_deterministic_for_a_seed():
    rng = np.random.default_rng(1)
    holder, candidate = pd.Series(rng.integers(0, 3, 500)), pd.Series(rng.integers(0, 3, 500))
    assert class_agreement(holder, candidate, seed=5) == class_agreement(holder, candidate, seed=5)
    assert class_agreement(holder, candidate, seed=5).interval != class_agreement(holder, candidate, seed=6).interval


@settings(max_examples=60, deadline=None)
@given(small_classes)
def test_class_agreement_counts_add_up_and_its_interval_holds_the_share(pairs):
    holder, candidate = pd.Series([h for h, _ in pairs]), pd.Series([c for _, c in pairs])
    result = class_agreement(holder, candidate, resamples=300)
    assert sum(cell["rows"] for cell in result.confusion) == result.rows == len(pairs)
    assert sum(c["rows"] for c in result.confusion if c["holder"] != c["candidate"]) == result.disagreeing
    assert result.share == result.disagreeing / result.rows
    assert 0 <= result.interval[0] <= result.share <= result.interval[1] <= 1
    assert sum(result.holder_shares.values()) == pytest.approx(1)
    assert sum(result.candidate_shares.values()) == pytest.approx(1)
    swapped = class_agreement(candidate, holder, resamples=300)
    assert (swapped.share, swapped.interval) == (result.share, result.interval)


# ---------------------------------------------------------------- value differences


def test_value_differences_on_a_hand_example_skip_rows_without_two_numbers():
    holder = pd.Series([1.0, 2.0, 3.0, 4.0, np.nan])
    candidate = pd.Series([1.5, 2.0, 1.0, 4.0, 7.0])
    result = value_differences(holder, candidate)
    # Differences 0.5, 0, -2, 0: |d| sorted 0, 0, 0.5, 2.
    assert result.rows == 4
    assert result.median_abs == 0.25
    assert result.p95_abs == pytest.approx(0.5 + 0.85 * 1.5)
    assert result.max_abs == 2.0
    assert result.mean_difference == -0.375


def test_value_differences_need_one_row_with_two_numbers():
    with pytest.raises(ValueError, match="finite"):
        value_differences(pd.Series([np.nan, 1.0]), pd.Series([2.0, np.nan]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=50))
def test_value_differences_are_ordered_and_antisymmetric(pairs):
    holder, candidate = pd.Series([h for h, _ in pairs]), pd.Series([c for _, c in pairs])
    forward, backward = value_differences(holder, candidate), value_differences(candidate, holder)
    assert 0 <= forward.median_abs <= forward.p95_abs <= forward.max_abs
    assert (forward.median_abs, forward.p95_abs, forward.max_abs) == (
        backward.median_abs,
        backward.p95_abs,
        backward.max_abs,
    )
    assert forward.mean_difference == pytest.approx(-backward.mean_difference, abs=1e-6)


def test_results_are_json_serialisable():
    labels = pd.Series([0, 1, 1, 0])
    for result in (
        class_agreement(pd.Series(["a", "b"]), pd.Series(["a", "a"])),
        value_differences(pd.Series([1.0, 2.0]), pd.Series([1.5, 2.0])),
        metric_comparison(metric="f1", labels=labels, holder=pd.Series([0, 1, 0, 0]), candidate=labels),
    ):
        data = json.loads(json.dumps(result.as_dict()))
        assert data == result.as_dict()
    assert class_agreement(pd.Series(["a"]), pd.Series(["a"])).as_dict()["interval"] == [0.0, 0.0]


# ---------------------------------------------------------------- most different rows


def test_most_different_classes_are_the_differing_rows_in_index_order():
    holder = pd.Series(["a", "b", "c", "d", "e"], index=["r1", "r2", "r3", "r4", "r5"])
    candidate = pd.Series(["a", "x", "c", "x", "x"], index=holder.index)
    assert most_different_rows(holder, candidate) == ["r2", "r4", "r5"]
    assert most_different_rows(holder, candidate, limit=2) == ["r2", "r4"]


def test_most_different_values_come_largest_difference_first_and_a_missing_one_before_all():
    holder = pd.Series([0.5, 1.5, 2.5, 3.5, 4.5, np.nan], index=[10, 11, 12, 13, 14, 15])
    candidate = pd.Series([0.5, 1.0, 5.5, 3.4, np.nan, np.nan], index=holder.index)
    assert most_different_rows(holder, candidate) == [14, 12, 11, 13]
    assert most_different_rows(holder, candidate, limit=1) == [14]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=50))
def test_most_different_values_never_grow_down_the_list(pairs):
    holder, candidate = pd.Series([h for h, _ in pairs]), pd.Series([c for _, c in pairs])
    assume(predictions_kind(holder, candidate) == "values")  # a few integers would be classes
    gaps = (candidate - holder).abs()
    rows = most_different_rows(holder, candidate)
    assert list(gaps[rows]) == sorted(gaps[rows], reverse=True)
    assert set(rows) == set(gaps[gaps > 0].index)


# ---------------------------------------------------------------- prediction drift


def test_identical_prediction_distributions_do_not_drift_and_shifted_ones_do():
    rng = np.random.default_rng(0)
    holder = pd.Series(rng.normal(0.5, 0.1, 5000))
    same = prediction_drift(holder, pd.Series(rng.permutation(holder.to_numpy())))
    sampled = prediction_drift(holder, pd.Series(rng.normal(0.5, 0.1, 5000)))
    shifted = prediction_drift(holder, pd.Series(rng.normal(0.6, 0.1, 5000)))
    assert (same["drifted"], sampled["drifted"], shifted["drifted"]) == (False, False, True)
    assert shifted["method"] == "wasserstein"
    assert shifted["score"] == pytest.approx(1.0, abs=0.1)  # one reference standard deviation
    assert "wasserstein" in shifted["why"]
    json.dumps(shifted)
    assert set(shifted) >= {"method", "score", "threshold", "drifted", "why"}


def test_a_small_holder_sample_is_judged_by_a_test_as_the_monitor_does():
    rng = np.random.default_rng(1)
    holder = pd.Series(rng.normal(size=300))
    result = prediction_drift(holder, pd.Series(rng.normal(1.0, 1.0, 300)))
    assert (result["method"], result["drifted"]) == ("ks", True)
    assert result["p_value"] < 0.05


def test_class_prediction_drift_compares_the_class_mix():
    rng = np.random.default_rng(2)
    holder = pd.Series(rng.choice(["a", "b"], 4000, p=[0.5, 0.5]))
    same_mix = prediction_drift(holder, pd.Series(rng.choice(["a", "b"], 4000, p=[0.5, 0.5])))
    new_mix = prediction_drift(holder, pd.Series(rng.choice(["a", "b"], 4000, p=[0.2, 0.8])))
    assert (same_mix["method"], same_mix["drifted"], new_mix["drifted"]) == ("jensen_shannon", False, True)


def test_a_configured_method_and_threshold_decide_and_one_that_does_not_apply_gives_way_to_the_default():
    rng = np.random.default_rng(3)
    holder, candidate = pd.Series(rng.normal(size=5000)), pd.Series(rng.normal(0.2, 1.0, 5000))
    assert not prediction_drift(holder, candidate, method="psi")["drifted"]  # PSI 0.035 < its default 0.1
    psi = prediction_drift(holder, candidate, method="psi", threshold=0.01)
    assert (psi["method"], psi["threshold"], psi["drifted"]) == ("psi", 0.01, True)
    fallback = prediction_drift(holder, candidate, method="chi_square")
    assert fallback["method"] == "wasserstein"
    assert fallback["why"].startswith("chi_square does not apply")


# ---------------------------------------------------------------- metrics


def test_metric_names_are_matched_case_insensitively_without_tracker_prefixes():
    assert metric_function("test_accuracy_score") is METRICS["accuracy"]
    assert metric_function("Val_F1") is METRICS["f1"]
    assert metric_function("training_root_mean_squared_error") == METRICS["rmse"]
    assert metric_function("eval/mean_absolute_error") == METRICS["mae"]
    assert metric_function("r2_score")[1] == "higher"
    assert metric_function("log_loss") is None
    assert metric_function("test_") is None


@pytest.mark.parametrize("classes", [2, 3, 6])
def test_classification_metrics_match_scikit_learn(classes):
    rng = np.random.default_rng(classes)
    labels = rng.integers(0, classes, 700)
    predictions = np.where(rng.random(700) < 0.4, rng.integers(0, classes, 700), labels)
    average = "binary" if classes == 2 else "macro"
    assert METRICS["accuracy"][0](labels, predictions) == pytest.approx(sk.accuracy_score(labels, predictions))
    for name, reference in (("f1", sk.f1_score), ("precision", sk.precision_score), ("recall", sk.recall_score)):
        expected = reference(labels, predictions, average=average, zero_division=0)
        assert METRICS[name][0](labels, predictions) == pytest.approx(expected)


def test_the_positive_class_of_a_binary_metric_is_the_larger_label():
    labels = np.array(["no", "yes", "yes", "no", "yes"])
    predictions = np.array(["no", "no", "yes", "yes", "yes"])
    assert METRICS["f1"][0](labels, predictions) == pytest.approx(sk.f1_score(labels, predictions, pos_label="yes"))
    only_zeros = np.array([0, 0, 0])
    assert METRICS["f1"][0](only_zeros, only_zeros) == 0.0  # the positive class 1 never appears, as sklearn says


def test_regression_metrics_match_scikit_learn():
    rng = np.random.default_rng(4)
    labels = rng.normal(1000, 2, 500)  # a large offset: R² must not lose its precision to it
    predictions = labels + rng.normal(0, 1, 500)
    assert METRICS["rmse"][0](labels, predictions) == pytest.approx(sk.mean_squared_error(labels, predictions) ** 0.5)
    assert METRICS["mse"][0](labels, predictions) == pytest.approx(sk.mean_squared_error(labels, predictions))
    assert METRICS["mae"][0](labels, predictions) == pytest.approx(sk.mean_absolute_error(labels, predictions))
    assert METRICS["r2"][0](labels, predictions) == pytest.approx(sk.r2_score(labels, predictions), rel=1e-9)
    assert METRICS["r2"][0](np.ones(3), np.ones(3)) == 1.0


def test_a_strictly_better_classifier_gets_a_positive_difference_with_an_interval_above_zero():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 3000)
    holder = np.where(rng.random(3000) < 0.25, 1 - labels, labels)
    candidate = np.where(rng.random(3000) < 0.4, labels, holder)  # right wherever the holder is, and more
    result = metric_comparison(
        metric="test_accuracy_score", labels=pd.Series(labels), holder=pd.Series(holder), candidate=pd.Series(candidate)
    )
    assert (result.metric, result.direction, result.rows) == ("accuracy", "higher", 3000)
    assert result.holder == pytest.approx((holder == labels).mean())
    assert result.candidate == pytest.approx((candidate == labels).mean())
    assert result.difference == pytest.approx(result.candidate - result.holder) and result.difference > 0
    assert 0 < result.difference_interval[0] < result.difference < result.difference_interval[1]
    assert result.holder_interval[0] < result.holder < result.holder_interval[1]
    # Paired: the same rows for both models make the difference's interval narrower than either model's.
    width = result.difference_interval[1] - result.difference_interval[0]
    assert width < result.holder_interval[1] - result.holder_interval[0]


def test_a_more_accurate_regressor_has_a_lower_rmse_and_rmse_says_lower_is_better():
    rng = np.random.default_rng(6)
    labels = pd.Series(rng.normal(size=2000))
    holder, candidate = labels + rng.normal(0, 1.0, 2000), labels + rng.normal(0, 0.7, 2000)
    result = metric_comparison(metric="rmse", labels=labels, holder=holder, candidate=candidate)
    assert result.direction == "lower"
    assert result.difference_interval[1] < 0
    assert result.holder == pytest.approx(sk.mean_squared_error(labels, holder) ** 0.5)


def test_unknown_metric_or_no_label_gives_no_comparison():
    predictions = pd.Series([0, 1, 1])
    assert metric_comparison(metric="auc_pr", labels=predictions, holder=predictions, candidate=predictions) is None
    unlabelled = pd.Series([None, None, None], dtype=object)
    assert metric_comparison(metric="accuracy", labels=unlabelled, holder=predictions, candidate=predictions) is None
    no_values = pd.Series([np.nan] * 3)
    assert metric_comparison(metric="rmse", labels=no_values, holder=predictions, candidate=predictions) is None


def test_rows_without_a_label_are_dropped_first():
    labels = pd.Series([1, None, 0, None], dtype="Int64")
    holder, candidate = pd.Series([1, 0, 0, 0]), pd.Series([0, 1, 1, 1])
    result = metric_comparison(metric="accuracy", labels=labels, holder=holder, candidate=candidate)
    assert (result.rows, result.holder, result.candidate) == (2, 1.0, 0.0)


def test_integer_labels_and_text_predictions_compare_as_one_class():
    labels = pd.Series([0, 1, 1, 0, 1])
    result = metric_comparison(
        metric="accuracy", labels=labels, holder=pd.Series(["0", "1", "0", "0", "1"]), candidate=labels.astype(float)
    )
    assert (result.holder, result.candidate) == (0.8, 1.0)
    bools, ints = pd.Series([True, False, True, True]), pd.Series([1, 0, 0, 1])
    f1 = metric_comparison(metric="f1", labels=bools, holder=ints, candidate=ints)
    assert f1.holder == pytest.approx(sk.f1_score(bools, ints.astype(bool)))


def test_the_paired_bootstrap_does_not_depend_on_its_chunk_size(monkeypatch):
    rng = np.random.default_rng(8)
    labels = pd.Series(rng.integers(0, 3, 1001))
    holder, candidate = pd.Series(rng.integers(0, 3, 1001)), labels.where(rng.random(1001) < 0.5, 0)
    whole = metric_comparison(metric="f1", labels=labels, holder=holder, candidate=candidate, resamples=101)
    monkeypatch.setattr(shadow_stats, "CHUNK_ELEMENTS", 3003)  # three resamples a chunk
    assert metric_comparison(metric="f1", labels=labels, holder=holder, candidate=candidate, resamples=101) == whole


def test_a_bootstrap_of_many_rows_stays_within_its_memory_bound():
    rng = np.random.default_rng(9)
    labels = pd.Series(rng.normal(size=100_000))
    holder, candidate = labels + rng.normal(size=100_000), labels + rng.normal(0, 0.9, 100_000)
    tracemalloc.start()
    try:
        # Unchunked, 300 resamples of 100,000 rows would be a 240 MB matrix of indices alone.
        metric_comparison(metric="mae", labels=labels, holder=holder, candidate=candidate, resamples=300)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 80e6


@settings(max_examples=40, deadline=None)
@given(small_classes, st.sampled_from(["accuracy", "f1", "precision", "recall"]))
def test_a_candidate_identical_to_the_holder_differs_by_exactly_zero(pairs, metric):
    labels, predictions = pd.Series([y for y, _ in pairs]), pd.Series([p for _, p in pairs])
    result = metric_comparison(metric=metric, labels=labels, holder=predictions, candidate=predictions, resamples=200)
    assert (result.difference, result.difference_interval) == (0.0, (0.0, 0.0))
    assert result.holder_interval == result.candidate_interval
    assert 0 <= result.holder_interval[0] <= result.holder_interval[1] <= 1


@settings(max_examples=40, deadline=None)
@given(small_classes)
def test_accuracy_is_the_share_of_rows_where_prediction_and_label_agree(pairs):
    labels, predictions = np.array([y for y, _ in pairs]), np.array([p for _, p in pairs])
    assert METRICS["accuracy"][0](labels, predictions) == pytest.approx((labels == predictions).mean())
    assert 1 - class_agreement(pd.Series(labels), pd.Series(predictions), resamples=10).share == pytest.approx(
        METRICS["accuracy"][0](labels, predictions)
    )
