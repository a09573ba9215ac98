"""Drift statistics against SciPy on random data, and their properties (hypothesis)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from scipy.spatial.distance import jensenshannon

from monitoring import drift, profiles

counts = arrays(np.int64, st.integers(2, 30), elements=st.integers(0, 1000))


@given(counts)
def test_psi_of_a_distribution_with_itself_is_zero(c):
    assert drift.psi(c, c) == pytest.approx(0.0, abs=1e-12)


@given(
    st.integers(2, 30).flatmap(
        lambda k: st.tuples(
            arrays(np.int64, k, elements=st.integers(0, 1000)), arrays(np.int64, k, elements=st.integers(0, 1000))
        )
    )
)
def test_psi_and_kl_are_never_negative_and_always_finite_even_with_empty_bins(pair):
    ref, cur = pair
    for value in (drift.psi(ref, cur), drift.kl_divergence(ref, cur)):
        assert np.isfinite(value)
        assert value >= -1e-12


@given(
    st.integers(2, 30).flatmap(
        lambda k: st.tuples(
            arrays(np.int64, k, elements=st.integers(0, 1000)), arrays(np.int64, k, elements=st.integers(0, 1000))
        )
    )
)
def test_jensen_shannon_is_symmetric_and_between_zero_and_one(pair):
    ref, cur = pair
    forward, backward = drift.jensen_shannon(ref, cur), drift.jensen_shannon(cur, ref)
    assert forward == pytest.approx(backward, abs=1e-12)
    assert -1e-12 <= forward <= 1 + 1e-12


@given(
    st.integers(2, 30).flatmap(
        lambda k: st.tuples(
            arrays(np.int64, k, elements=st.integers(0, 1000)), arrays(np.int64, k, elements=st.integers(0, 1000))
        )
    )
)
def test_binned_ks_statistic_is_between_zero_and_one_and_its_p_value_a_probability(pair):
    ref, cur = pair
    d, p = drift.ks_from_counts(ref, cur)
    assert 0 <= d <= 1
    assert 0 <= p <= 1


def test_jensen_shannon_matches_scipy_on_random_histograms():
    rng = np.random.default_rng(1)
    for _ in range(20):
        p, q = rng.integers(0, 100, 12), rng.integers(1, 100, 12)
        p[0] = 1
        assert drift.jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q, base=2), abs=1e-9)


def test_exact_ks_and_wasserstein_match_scipy_on_random_data():
    rng = np.random.default_rng(2)
    for shift in (0.0, 0.1, 0.5):
        ref = rng.normal(size=3000)
        cur = rng.normal(shift, 1.2, size=2000)
        d, p, w = drift.ks_wasserstein_exact(np.sort(ref), cur)
        expected = stats.ks_2samp(ref, cur, method="asymp")
        assert d == pytest.approx(expected.statistic, abs=1e-12)
        assert p == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
        assert w == pytest.approx(stats.wasserstein_distance(ref, cur), rel=1e-9)


@pytest.mark.parametrize("en", [10_000, 100_000, 500_000])
def test_large_samples_take_kolmogorovs_limit_close_to_and_never_below_scipys_p_value(en):
    n = m = 2 * en
    for z in (1.0, 1.36, 1.5, 2.0, 3.0, 4.0):  # p from 0.27 down to 1e-14
        d = z / np.sqrt(en)
        exact = stats.kstwo.sf(d, en)
        p = drift.ks_p_value(d, n, m)
        assert exact <= p <= exact * 1.04


def test_small_samples_keep_scipys_p_value():
    assert drift.ks_p_value(0.05, 3000, 2000) == pytest.approx(stats.kstwo.sf(0.05, 1200), rel=1e-12)


def test_binned_ks_and_wasserstein_are_close_to_the_exact_values_with_fine_bins():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=50_000)
    cur = rng.normal(0.3, 1.0, size=20_000)
    profile = profiles.profile_numeric(ref)
    hist = profiles.bin_numeric(profile, cur)
    d, _ = drift.ks_from_counts(profile.counts, hist.counts)
    w, _ = drift.wasserstein_from_counts(
        profile.counts, hist.counts, profile.edges, (ref.min(), ref.max()), (cur.min(), cur.max())
    )
    assert d == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=0.01)
    assert w == pytest.approx(stats.wasserstein_distance(ref, cur), rel=0.05)


def test_chi_square_is_scipys_two_sample_contingency_test():
    ref, cur = np.array([50, 30, 20, 0]), np.array([40, 30, 25, 5])
    chi, p = drift.chi_square(ref, cur)
    expected = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert chi == pytest.approx(expected.statistic)
    assert p == pytest.approx(expected.pvalue)


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, st.integers(20, 400), elements=st.floats(-1e6, 1e6)), st.randoms(use_true_random=False))
def test_drift_results_do_not_depend_on_row_order(values, rnd):
    profile = profiles.profile_numeric(values, bins=20)
    shuffled = values.copy()
    rnd.shuffle(shuffled)
    a = drift.numeric_drift("x", profile, profiles.bin_numeric(profile, values))
    b = drift.numeric_drift("x", profiles.profile_numeric(shuffled, bins=20), profiles.bin_numeric(profile, shuffled))
    assert a.scores == pytest.approx(b.scores)
    assert a.drifted is False and a.scores["ks"] == pytest.approx(0.0)


def test_a_profile_keeps_quantile_edges_counts_stats_and_a_bounded_sorted_sample():
    rng = np.random.default_rng(4)
    values = np.concatenate([rng.exponential(size=10_000), [np.nan, np.inf]])
    profile = profiles.profile_numeric(values, bins=200, sample_size=500)
    assert profile.nulls == 2 and profile.n == 10_000
    assert np.all(np.diff(profile.edges) > 0)
    assert profile.counts.sum() == 10_000
    assert profile.counts.max() <= 2 * 10_000 / 200
    assert profile.sample.size == 500 and np.all(np.diff(profile.sample) >= 0)
    assert profile.min == profile.sample[0] and profile.max == profile.sample[-1]
    restored = profiles.NumericProfile.from_dict(profile.to_dict())
    assert np.array_equal(restored.edges, profile.edges) and restored.std == profile.std


def test_binning_batches_and_merging_them_equals_binning_the_whole_window():
    rng = np.random.default_rng(5)
    profile = profiles.profile_numeric(rng.normal(size=5000))
    batches = [rng.normal(0.2, 1, size=n) for n in (100, 2000, 333)]
    merged = profiles.merge_histograms([profiles.bin_numeric(profile, b) for b in batches])
    whole = profiles.bin_numeric(profile, np.concatenate(batches))
    assert np.array_equal(merged.counts, whole.counts)
    assert merged.total == pytest.approx(whole.total) and merged.min == whole.min and merged.max == whole.max
    cats = profiles.merge_histograms([profiles.bin_categorical(["a", "b", None]), profiles.bin_categorical(["b", "c"])])
    assert cats.counts == {"a": 1, "b": 2, "c": 1} and cats.nulls == 1


def test_values_outside_the_reference_range_fall_in_the_outer_bins():
    profile = profiles.profile_numeric(np.arange(1000, dtype=float), bins=10)
    hist = profiles.bin_numeric(profile, [-50.0, 5000.0])
    assert hist.counts[0] == 1 and hist.counts[-1] == 1


def test_small_references_are_judged_by_tests_and_large_ones_by_distances():
    rng = np.random.default_rng(6)
    small = profiles.profile_numeric(rng.normal(size=500))
    large = profiles.profile_numeric(rng.normal(size=5000))
    cur = profiles.bin_numeric(small, rng.normal(1.0, 1, size=500))
    result = drift.numeric_drift("f", small, cur)
    assert result.method == "ks" and result.drifted and result.p_value < 0.05
    assert "p-value" in result.why and "reference n=500" in result.why and "current n=500" in result.why
    result = drift.numeric_drift("f", large, profiles.bin_numeric(large, rng.normal(0.0, 1, size=5000)))
    assert result.method == "wasserstein" and not result.drifted
    small_cat = profiles.profile_categorical(["a"] * 300 + ["b"] * 300)
    assert (
        drift.categorical_drift("c", small_cat, profiles.bin_categorical(["a"] * 100 + ["b"] * 300)).method
        == "chi_square"
    )
    large_cat = profiles.profile_categorical(["a"] * 3000 + ["b"] * 3000)
    shifted = drift.categorical_drift(
        "c", large_cat, profiles.bin_categorical(["a"] * 100 + ["b"] * 300 + ["new"] * 200)
    )
    assert shifted.method == "jensen_shannon" and shifted.drifted


def test_a_shifted_feature_drifts_and_an_unshifted_one_does_not_with_every_method():
    rng = np.random.default_rng(7)
    profile = profiles.profile_numeric(rng.normal(size=20_000))
    same = drift.numeric_drift("a", profile, profiles.bin_numeric(profile, rng.normal(size=20_000)))
    moved = drift.numeric_drift("b", profile, profiles.bin_numeric(profile, rng.normal(0.8, 1, size=20_000)))
    for method, threshold in drift.DEFAULT_THRESHOLDS.items():
        if method in drift.NUMERIC_METHODS and method != "ks":
            assert same.scores[method] < threshold <= moved.scores[method], method


def test_the_window_drifts_when_the_configured_share_of_features_drift():
    def result(name, drifted):
        return drift.FeatureResult(name, "numeric", "psi", 0.3 if drifted else 0.0, 0.1, drifted, 10, 10, "")

    results = [result("a", True), result("b", False), result("c", False)]
    assert not drift.window_verdict(results, share=0.5).drifted
    verdict = drift.window_verdict(results, share=0.3)
    assert verdict.drifted and verdict.drifted_features == ["a"]
    assert "1 of 3 input features drifted" in verdict.why


def test_a_window_summary_names_the_drifted_columns_it_does_not_count():
    def result(name, drifted):
        return drift.FeatureResult(name, "numeric", "psi", 0.3 if drifted else 0.0, 0.1, drifted, 10, 10, "")

    verdict = drift.window_verdict(
        [result("a", True), result("b", True), result("c", False)], share=0.5, others=[result("churn_score", True)]
    )
    assert verdict.why.startswith("2 of 3 input features drifted")
    assert "Also drifted, not counted among the inputs: churn_score" in verdict.why


def test_a_window_where_no_feature_has_a_value_is_no_data_not_no_drift():
    empty = drift.FeatureResult("a", "numeric", "ks", 0.0, 0.05, False, 100, 0, "no values in this window")
    verdict = drift.window_verdict([empty])
    assert verdict.no_data and not verdict.drifted
    assert verdict.why.startswith(drift.NO_DATA_WHY)


def _decide(ref, cur, **options):
    profile = profiles.profile_numeric(np.asarray(ref, dtype=np.float64))
    return drift.numeric_drift(
        "x", profile, profiles.bin_numeric(profile, np.asarray(cur, dtype=np.float64)), **options
    )


@pytest.mark.parametrize(
    ("current", "drifts"),
    [(np.full(1000, 6.0), True), (np.random.default_rng(0).normal(5, 1, 1000), True), (np.full(1000, 5.0), False)],
    ids=["another-constant", "spread-around-it", "the-same-constant"],
)
def test_a_constant_reference_is_judged_by_ks_and_catches_any_change(current, drifts):
    result = _decide(np.full(5000, 5.0), current)
    assert result.method == "ks" and result.drifted is drifts
    assert result.statistic == pytest.approx(stats.ks_2samp(np.full(5000, 5.0), current).statistic, abs=1e-9)
    assert "one constant value" in result.why


def test_a_tiny_reference_is_judged_by_a_test_not_a_raw_distance():
    rng = np.random.default_rng(4)
    ref, cur = rng.normal(size=50), rng.normal(size=5000)  # the same distribution
    result = _decide(ref, cur, method="jensen_shannon", threshold=0.1)
    assert result.scores["jensen_shannon"] > 0.1  # what used to fire
    assert result.method == "ks" and not result.drifted
    assert "50 rows" in result.why


def test_a_distance_over_its_threshold_on_a_window_too_small_to_tell_is_not_drift():
    rng = np.random.default_rng(11)
    ref = rng.poisson(1.5, 20_000)
    noisy = next(
        cur
        for seed in range(200)
        if (cur := np.random.default_rng(seed).poisson(1.5, 300)) is not None
        and _decide(ref, cur).scores["wasserstein"] >= 0.1
    )
    result = _decide(ref, noisy)
    assert result.method == "wasserstein" and not result.drifted
    assert "cannot tell the window from the reference" in result.why


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(["normal", "lognormal", "integers", "uniform", "constant"]),
    st.floats(-1.0, 1.0),
    st.integers(30, 3000),
)
def test_the_binned_estimates_bound_the_exact_statistics(seed, family, shift, rows):
    rng = np.random.default_rng(seed)
    draw = {
        "normal": lambda n, s: rng.normal(s, 1, n),
        "lognormal": lambda n, s: rng.lognormal(s, 1, n),
        "integers": lambda n, s: rng.poisson(2 + s, n).astype(np.float64),
        "uniform": lambda n, s: rng.uniform(s, 1 + s, n),
        "constant": lambda n, s: np.full(n, 3.0 + round(s)),
    }[family]
    ref, cur = draw(5000, 0.0), draw(rows, shift)
    profile = profiles.profile_numeric(ref)
    hist = profiles.bin_numeric(profile, cur)
    w, bound = drift.wasserstein_from_counts(
        profile.counts, hist.counts, profile.edges, (profile.min, profile.max), (hist.min, hist.max)
    )
    exact_w = stats.wasserstein_distance(ref, cur)
    assert abs(w - exact_w) <= bound + 1e-9 * max(1.0, exact_w)
    d, _ = drift.ks_from_counts(profile.counts, hist.counts)
    exact_d = stats.ks_2samp(ref, cur).statistic
    assert d - 1e-12 <= exact_d <= drift.ks_upper_bound(profile.counts, hist.counts, profile.edges) + 1e-12


def test_near_the_threshold_the_exact_value_decides():
    """A lognormal window whose binned Wasserstein lies just over 0.1 while the exact one is under:
    the binned verdict is flagged, and the exact decision reverses it."""
    rng = np.random.default_rng(5)
    ref = rng.lognormal(0, 1, 20_000)
    profile = profiles.profile_numeric(ref)
    for shift in np.linspace(0.05, 0.2, 61):
        cur = np.random.default_rng(6).lognormal(shift, 1, 20_000)
        binned = drift.numeric_drift("x", profile, profiles.bin_numeric(profile, cur))
        exact = drift.exact_numeric_drift(binned, profile, cur, threshold=binned.threshold)
        if binned.drifted != exact.drifted:
            break
    else:
        pytest.fail("no window straddles the threshold")
    assert binned.needs_exact, "a verdict the exact value reverses was inside the margin"
    assert exact.drifted == (stats.wasserstein_distance(profile.sample, cur) / profile.sample.std() >= 0.1)
    assert "exact on the window's raw values" in exact.why


def test_volume_check_flags_a_drop_and_a_spike_against_the_trailing_median():
    assert drift.volume_check(100, [1000, 1100, 900]).anomaly == "drop"
    assert drift.volume_check(5000, [1000, 1100, 900]).anomaly == "spike"
    assert drift.volume_check(1000, [1000, 1100, 900]).anomaly == ""
    assert drift.volume_check(10, [1000]).anomaly == ""  # too little history to judge


def test_categorical_columns_of_a_frame_are_counted_as_strings():
    frame = pd.DataFrame({"x": [1.0, 2.0, None], "c": ["a", "a", None]})
    profs = profiles.profile_frame(frame, {"x": "numeric", "c": "categorical"})
    hists = profiles.bin_frame(profs, frame)
    assert hists["c"].counts == {"a": 2} and hists["c"].nulls == 1
    assert hists["x"].n == 2 and hists["x"].nulls == 1


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 300), elements=st.floats(-1e3, 1e3)),
    arrays(np.float64, st.integers(0, 300), elements=st.floats(-2e3, 2e3)),
    st.integers(2, 50),
)
def test_the_grid_lookup_bins_exactly_like_searchsorted(reference, batch, bins):
    profile = profiles.profile_numeric(reference, bins=bins)
    expected = np.searchsorted(profile.edges, batch, side="right")
    assert np.array_equal(profile.bin_index(batch), expected)


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 60), elements=st.integers(-5, 5).map(float)),
    arrays(np.float64, st.integers(1, 60), elements=st.integers(-5, 5).map(float)),
)
def test_exact_ks_and_wasserstein_match_scipy_with_ties(ref, cur):
    d, _, w = drift.ks_wasserstein_exact(np.sort(ref), cur)
    assert d == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=1e-12)
    assert w == pytest.approx(stats.wasserstein_distance(ref, cur), abs=1e-9)


def test_exact_statistics_for_many_columns_in_threads_equal_scipys():
    rng = np.random.default_rng(9)
    columns = {f"f{i}": (rng.normal(size=2000), rng.normal(i / 4, 1, size=1500)) for i in range(4)}
    columns["f0"][0][0] = np.nan  # nulls are left out, not compared
    result = drift.exact_statistics(columns, workers=2)
    for name, (ref, cur) in columns.items():
        ref = ref[np.isfinite(ref)]
        assert result[name].ks == pytest.approx(stats.ks_2samp(ref, cur).statistic)
        assert result[name].wasserstein == pytest.approx(stats.wasserstein_distance(ref, cur) / ref.std())
    assert result["f3"].p_value < 0.05 < result["f0"].p_value


def test_an_exact_check_on_a_sample_of_the_window_tests_the_sample_and_says_so():
    rng = np.random.default_rng(8)
    profile = profiles.profile_numeric(rng.normal(0, 1, 50_000))
    window = rng.normal(0.02, 1, 400_000)
    binned = drift.numeric_drift("x", profile, profiles.bin_numeric(profile, window), method="ks", threshold=0.05)
    sample = window[:40_000]

    result = drift.exact_numeric_drift(binned, profile, sample, threshold=0.05, window_n=window.size)

    d, _, _ = drift.ks_wasserstein_exact(np.sort(profile.sample), sample)
    assert result.statistic == d
    assert result.p_value == drift.ks_p_value(d, profile.n, sample.size)  # the sample's n, not the window's
    assert result.current_n == 400_000
    assert "exact test on a uniform sample of 40,000 of the window's 400,000 values" in result.why
    whole = drift.exact_numeric_drift(binned, profile, window, threshold=0.05, window_n=window.size)
    assert "exact on the window's raw values" in whole.why and whole.current_n == 400_000
