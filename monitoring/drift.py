"""Drift statistics: pure functions over histograms or arrays, no ORM.

Defaults follow common practice (Evidently's and NannyML's): with a small reference (<= 1000 rows)
a test decides (KS for numeric features, two-sample chi-square for categorical ones, p < 0.05);
with a larger one a distance decides (Wasserstein / reference std for numeric, Jensen-Shannon
distance for categorical, >= 0.1). Every other statistic is computed too and recorded, and every
result says which method, threshold and sample sizes produced its verdict.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any

import numpy as np

from monitoring.profiles import CategoricalHistogram, CategoricalProfile, NumericHistogram, NumericProfile

EPS = 1e-4  # probability given to an empty bin so that no statistic is infinite
SMALL_REFERENCE_ROWS = 1000
# A reference needs this many rows with values before anything is judged against it.
MIN_REFERENCE_ROWS = 30
PSI_BINS = 10  # PSI is read on the industry's scale, which assumes ~10 quantile bins

# SciPy is imported inside the two functions that use it, not here.
# The models and services import this module for its constants, so a module-level import put 67 MB
# of SciPy into every web process, which never computes a statistic (bench/hostile_input.py's floor).


class Method:
    KS = "ks"
    WASSERSTEIN = "wasserstein"
    PSI = "psi"
    JENSEN_SHANNON = "jensen_shannon"
    KL = "kl"
    CHI_SQUARE = "chi_square"


NUMERIC_METHODS = (Method.KS, Method.WASSERSTEIN, Method.PSI, Method.JENSEN_SHANNON, Method.KL)
CATEGORICAL_METHODS = (Method.CHI_SQUARE, Method.PSI, Method.JENSEN_SHANNON)


def method_applies(kind: str, method: str) -> bool:
    """Whether `method` can judge a feature of `kind` ("numeric" or "categorical"): KS cannot judge
    categories, chi-square cannot judge numbers."""
    return method in (NUMERIC_METHODS if kind == "numeric" else CATEGORICAL_METHODS)


# Tests drift when the p-value is below the threshold; distances when the value is at or above it.
P_VALUE_METHODS = {Method.KS, Method.CHI_SQUARE}
# Distances between two samples of one distribution are biased upward on small samples (the
# Jensen-Shannon distance of two 50-row samples of one normal distribution is about 0.39): with a
# reference of at most SMALL_REFERENCE_ROWS rows a test decides, whatever method is configured.
DISTANCE_METHODS = {Method.WASSERSTEIN, Method.PSI, Method.JENSEN_SHANNON, Method.KL}
DEFAULT_THRESHOLDS: dict[str, float] = {
    Method.KS: 0.05,
    Method.CHI_SQUARE: 0.05,
    Method.WASSERSTEIN: 0.1,
    Method.PSI: 0.1,
    Method.JENSEN_SHANNON: 0.1,
    Method.KL: 0.1,
}
DEFAULT_DRIFT_SHARE = 0.5
# A distance over its threshold counts as drift only if the two-sample test agrees at this level.
CONFIRM_P_VALUE = 0.05
NO_DATA_WHY = "No data"  # how a window with nothing to judge begins its explanation


# ---------------------------------------------------------------- distributions


def _probabilities(counts: np.ndarray, eps: float = EPS) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    p = counts / total if total > 0 else np.full(counts.shape, 1.0 / max(counts.size, 1))
    p = np.clip(p, eps, None)
    return p / p.sum()


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray, eps: float = EPS) -> float:
    p, q = _probabilities(ref_counts, eps), _probabilities(cur_counts, eps)
    return float(np.sum((q - p) * np.log(q / p)))


def kl_divergence(ref_counts: np.ndarray, cur_counts: np.ndarray, eps: float = EPS) -> float:
    """KL(current || reference), in nats."""
    p, q = _probabilities(ref_counts, eps), _probabilities(cur_counts, eps)
    return float(np.sum(q * np.log(q / p)))


def jensen_shannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon distance in base 2: 0 for equal distributions, 1 for disjoint ones."""
    p = np.asarray(ref_counts, dtype=np.float64)
    q = np.asarray(cur_counts, dtype=np.float64)
    p = p / p.sum() if p.sum() > 0 else np.full(p.shape, 1.0 / p.size)
    q = q / q.sum() if q.sum() > 0 else np.full(q.shape, 1.0 / q.size)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_pm = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kl_qm = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(np.sqrt(max((kl_pm + kl_qm) / 2, 0.0)))


def ks_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Two-sample KS statistic read at the bin edges, and its asymptotic p-value. The edges are real
    points of both CDFs, so this is a lower bound of the exact statistic (see ks_upper_bound)."""
    n, m = float(np.sum(ref_counts)), float(np.sum(cur_counts))
    if n == 0 or m == 0:
        return 0.0, 1.0
    d = float(np.max(np.abs(np.cumsum(ref_counts) / n - np.cumsum(cur_counts) / m)))
    return d, ks_p_value(d, int(n), int(m))


def ks_upper_bound(ref_counts: np.ndarray, cur_counts: np.ndarray, edges: np.ndarray | None = None) -> float:
    """The largest the exact KS statistic can be given the histograms: inside bin i the reference
    CDF lies between its values at the bin's two edges, and so does the current one. A bin that
    holds a single representable value (a constant reference's [c, next float after c)) has no
    inside: both CDFs jump there at once, and the edges already tell the difference."""
    n, m = float(np.sum(ref_counts)), float(np.sum(cur_counts))
    if n == 0 or m == 0:
        return 0.0
    f = np.concatenate(([0.0], np.cumsum(ref_counts) / n))
    g = np.concatenate(([0.0], np.cumsum(cur_counts) / m))
    inside = np.maximum(f[1:] - g[:-1], g[1:] - f[:-1])
    if edges is not None and edges.size > 1:
        single = np.concatenate(([False], np.nextafter(edges[:-1], np.inf) >= edges[1:], [False]))
        inside = np.where(single, np.abs(f[1:] - g[1:]), inside)
    return float(min(1.0, max(float(np.max(inside)), float(np.max(np.abs(f - g))))))


def _cdf_knots(counts: np.ndarray, bounds: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Knots (x, F) of a histogram's CDF with each bin's mass spread evenly over the part of the bin
    where this side has values (the whole bin inside the side's range, from its minimum or to its
    maximum in the bins that hold them, a single point when all its values are one), and how far
    the true CDF can be from that, integrated: the sum of each bin's mass times its spread."""
    total = float(counts.sum())
    left = np.maximum(bounds[:-1], lo)
    right = np.maximum(np.minimum(bounds[1:], hi), left)
    keep = counts > 0
    mass = counts[keep] / total
    upper = np.cumsum(counts)[keep] / total
    xs = np.column_stack([left[keep], right[keep]]).ravel()
    fs = np.column_stack([upper - mass, upper]).ravel()
    return xs, fs, float(np.sum(mass * (right[keep] - left[keep])))


def wasserstein_from_counts(
    ref_counts: np.ndarray,
    cur_counts: np.ndarray,
    edges: np.ndarray,
    ref_range: tuple[float, float],
    cur_range: tuple[float, float],
) -> tuple[float, float]:
    """W1 between two histograms on the same edges, and a bound on its distance from the exact W1.

    Each side's mass is spread evenly over the part of a bin where that side has values (ranges are
    each side's smallest and largest value), so a reference that is one value stays a point, and an
    outer bin's long tail is only as long as the side that reaches into it. Both CDFs are then
    piecewise linear and |F - G| is integrated exactly, sign changes included. The true CDFs differ
    from these by at most each bin's mass inside the bin, so |W1 - exact W1| <= the returned bound:
    sum over bins of (reference mass x its spread + current mass x its spread)."""
    n, m = float(np.sum(ref_counts)), float(np.sum(cur_counts))
    if n == 0 or m == 0:
        return 0.0, 0.0
    bounds = np.concatenate(([-np.inf], edges, [np.inf]))
    xa, fa, bound_a = _cdf_knots(np.asarray(ref_counts, dtype=np.float64), bounds, *ref_range)
    xb, fb, bound_b = _cdf_knots(np.asarray(cur_counts, dtype=np.float64), bounds, *cur_range)
    x = np.unique(np.concatenate([xa, xb]))
    if x.size < 2:
        return 0.0, bound_a + bound_b
    width = np.diff(x)
    # The difference of the CDFs is linear between consecutive knots: read it at the quarter points
    # (strictly inside, away from jumps at the knots) and extend it to the segment's ends.
    q1, q3 = x[:-1] + width / 4, x[:-1] + 3 * width / 4
    d1 = np.interp(q1, xa, fa, left=0.0, right=1.0) - np.interp(q1, xb, fb, left=0.0, right=1.0)
    d3 = np.interp(q3, xa, fa, left=0.0, right=1.0) - np.interp(q3, xb, fb, left=0.0, right=1.0)
    start, stop = 1.5 * d1 - 0.5 * d3, 1.5 * d3 - 0.5 * d1
    a, b = np.abs(start), np.abs(stop)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(a + b > 0, (start**2 + stop**2) / (2 * (a + b)), 0.0)
    area = np.where(start * stop >= 0, (a + b) / 2, crossing) * width
    return float(np.sum(area)), bound_a + bound_b


# Above this effective sample size n·m/(n+m) the p-value comes from Kolmogorov's limit distribution.
# SciPy's kstwo.sf (what ks_2samp(method="asymp") uses) takes 10 ms at 10,000 and 0.5-0.65 s at
# 500,000 (two million-row samples), which made it most of the exact path's time; the limit is within
# 1.5 % of it at 10,000 and 0.2 % at 500,000 where p is near usual thresholds, and always larger, so
# it never calls drift where kstwo would not (tests/monitoring/test_statistics.py checks both).
KS_LIMIT_FROM = 10_000


def ks_p_value(d: float, n: int, m: int) -> float:
    """Two-sided two-sample KS p-value: scipy.stats.ks_2samp(method="asymp")'s for small samples,
    Kolmogorov's limit distribution for large ones."""
    from scipy import stats  # here, not at the top: see the note on SciPy above

    en = n * m / (n + m)
    if en >= KS_LIMIT_FROM:
        return float(np.clip(stats.kstwobign.sf(d * np.sqrt(en)), 0.0, 1.0))
    return float(np.clip(stats.kstwo.sf(d, max(np.round(en), 1)), 0.0, 1.0))


def coarse_counts(
    ref_counts: np.ndarray, cur_counts: np.ndarray, bins: int = PSI_BINS
) -> tuple[np.ndarray, np.ndarray]:
    """Groups fine reference-quantile bins into about `bins` bins of equal reference mass."""
    cum = np.cumsum(ref_counts)
    total = cum[-1] if cum.size else 0
    if total == 0 or ref_counts.size <= bins:
        return np.asarray(ref_counts), np.asarray(cur_counts)
    starts = np.unique(np.concatenate(([0], np.searchsorted(cum, total * np.arange(1, bins) / bins, side="right"))))
    starts = starts[starts < ref_counts.size]
    return np.add.reduceat(ref_counts, starts), np.add.reduceat(cur_counts, starts)


def chi_square(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Two-sample (contingency) chi-square test of "did the category mix change"."""
    table = np.vstack([ref_counts, cur_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    from scipy import stats  # here, not at the top: see the note on SciPy above

    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


# ---------------------------------------------------------------- exact path (raw arrays)


def ks_wasserstein_exact(ref_sorted: np.ndarray, cur: np.ndarray) -> tuple[float, float, float]:
    """Exact two-sample KS statistic, its p-value and exact W1, with the reference already sorted."""
    cur_sorted = np.sort(cur)
    n, m = ref_sorted.size, cur_sorted.size
    if n == 0 or m == 0:
        return 0.0, 1.0, 0.0
    combined = np.concatenate([ref_sorted, cur_sorted])
    del cur_sorted
    # Two sorted runs: a stable argsort merges them in linear time, and says which side each came from.
    order = np.argsort(combined, kind="stable")
    values = combined[order]
    del combined
    from_ref = order < n
    del order
    # |F_ref - F_cur| after each merged value: seen_ref/n - (k - seen_ref)/m, computed in place
    # (each temporary is 16 MB for two million-row samples; counts are exact in float64).
    gaps = np.cumsum(from_ref, dtype=np.float64)
    del from_ref
    gaps *= 1 / n + 1 / m
    seen = np.arange(1, n + m + 1, dtype=np.float64)
    seen /= m
    gaps -= seen
    del seen
    np.abs(gaps, out=gaps)
    steps = np.diff(values)
    w = float(np.dot(gaps[:-1], steps))
    # Within a run of tied values (step 0) only the last position has both CDFs complete.
    d = max(float(np.max(gaps[:-1], where=steps > 0, initial=0.0)), float(gaps[-1]))
    return d, ks_p_value(d, n, m), w


@dataclass
class ExactStatistics:
    ks: float
    p_value: float
    wasserstein: float  # divided by the reference standard deviation


def exact_statistics(
    columns: dict[str, tuple[np.ndarray, np.ndarray]], *, reference_sorted: bool = False, workers: int | None = None
) -> dict[str, ExactStatistics]:
    """Exact KS (with p-value) and normalised Wasserstein for {feature: (reference, current)} raw
    columns. NumPy's sorts release the GIL, so columns run in parallel threads."""

    def finite(values: np.ndarray) -> np.ndarray:
        mask = np.isfinite(values)
        return values if mask.all() else values[mask]

    def one(pair: tuple[np.ndarray, np.ndarray]) -> ExactStatistics:
        ref, cur = finite(pair[0]), finite(pair[1])
        ref_sorted = ref if reference_sorted else np.sort(ref)
        d, p, w = ks_wasserstein_exact(ref_sorted, cur)
        std = float(ref_sorted.std()) if ref_sorted.size else 0.0
        return ExactStatistics(d, p, w / std if std > 0 else w)

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        return dict(zip(columns, pool.map(one, columns.values()), strict=True))


# ---------------------------------------------------------------- results


@dataclass
class FeatureResult:
    feature: str
    kind: str
    method: str
    statistic: float
    threshold: float
    drifted: bool
    reference_n: int
    current_n: int
    why: str
    p_value: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    # The binned estimate could fall on either side of the threshold: the job decides again on the
    # exact value from raw values (exact_numeric_drift).
    needs_exact: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_method(kind: str, reference_n: int) -> str:
    small = reference_n <= SMALL_REFERENCE_ROWS
    if kind == "numeric":
        return Method.KS if small else Method.WASSERSTEIN
    return Method.CHI_SQUARE if small else Method.JENSEN_SHANNON


def _verdict(
    feature: str,
    kind: str,
    method: str,
    threshold: float,
    scores: dict[str, float],
    p_values: dict[str, float],
    reference_n: int,
    current_n: int,
) -> FeatureResult:
    if current_n == 0:
        return FeatureResult(
            feature, kind, method, 0.0, threshold, False, reference_n, 0, "no values in this window", scores=scores
        )
    if method in P_VALUE_METHODS:
        p = p_values[method]
        drifted = p < threshold
        why = (
            f"{method} p-value {p:.3g} {'<' if drifted else '>='} {threshold:g} "
            f"(reference n={reference_n}, current n={current_n})"
        )
        return FeatureResult(
            feature, kind, method, scores[method], threshold, drifted, reference_n, current_n, why, p, scores
        )
    value = scores[method]
    drifted = value >= threshold
    why = (
        f"{method} {value:.3g} {'>=' if drifted else '<'} {threshold:g} "
        f"(reference n={reference_n}, current n={current_n})"
    )
    # A distance over its threshold is drift only when the two samples can be told apart at all:
    # on a small window sampling noise alone reaches 0.1 (a 500-row window of a count feature
    # reads Wasserstein/std 0.1 against its own reference). The two-sample test says whether it can.
    test = Method.KS if kind == "numeric" else Method.CHI_SQUARE
    p = p_values.get(test)
    if drifted and p is not None and p >= CONFIRM_P_VALUE:
        drifted = False
        why += f", but the {test} test cannot tell the window from the reference at this size (p={p:.3g})"
    return FeatureResult(feature, kind, method, value, threshold, drifted, reference_n, current_n, why, None, scores)


def _decided_method(kind: str, method: str, reference_n: int, *, constant: bool = False) -> tuple[str, str]:
    """The method that decides, and why it is not the configured one ("" when it is)."""
    test = Method.KS if kind == "numeric" else Method.CHI_SQUARE
    if method in DISTANCE_METHODS and reference_n <= SMALL_REFERENCE_ROWS:
        return test, (
            f"{method} would decide, but the reference has {reference_n} rows (at most {SMALL_REFERENCE_ROWS}): "
            f"distances between samples this small exceed common thresholds with no drift at all, so the "
            f"{test} test decides. "
        )
    if method == Method.WASSERSTEIN and constant:
        return test, "The reference is one constant value: Wasserstein / reference std is undefined, so KS decides. "
    return method, ""


def numeric_drift(
    feature: str,
    profile: NumericProfile,
    current: NumericHistogram,
    *,
    method: str | None = None,
    threshold: float | None = None,
) -> FeatureResult:
    ref, cur = profile.counts, current.counts
    configured = method or default_method("numeric", profile.n)
    # Numerically constant: a spread below float64's resolution at the reference's scale is rounding.
    constant = profile.std <= 1e-12 * max(1.0, abs(profile.mean))
    method, note = _decided_method("numeric", configured, profile.n, constant=constant)
    threshold = DEFAULT_THRESHOLDS[method] if threshold is None or method != configured else threshold
    d, p = ks_from_counts(ref, cur)
    w, w_bound = wasserstein_from_counts(
        ref, cur, profile.edges, (profile.min, profile.max), (current.min, current.max)
    )
    scale = profile.std if not constant else 1.0
    ref_c, cur_c = coarse_counts(ref, cur)
    scores = {
        Method.KS: d,
        Method.WASSERSTEIN: w / scale,
        Method.PSI: psi(ref_c, cur_c),
        Method.JENSEN_SHANNON: jensen_shannon(ref, cur),
        Method.KL: kl_divergence(ref_c, cur_c),
    }
    result = _verdict(feature, "numeric", method, threshold, scores, {Method.KS: p}, profile.n, current.n)
    result.why = note + result.why
    if current.n:
        # The exact KS statistic lies between the binned one and ks_upper_bound, so its p-value lies
        # between these two; the exact Wasserstein lies within w_bound of the binned one.
        p_low = ks_p_value(ks_upper_bound(ref, cur, profile.edges), profile.n, current.n)
        test_unsure = (p_low < threshold) != (p < threshold)
        confirm_unsure = (p_low < CONFIRM_P_VALUE) != (p < CONFIRM_P_VALUE)
        if method == Method.KS:
            result.needs_exact = test_unsure
        else:
            margin = w_bound / scale if method == Method.WASSERSTEIN else 0.0
            value = scores[method]
            # A distance that may be over its threshold is drift only if the KS test confirms it.
            result.needs_exact = abs(value - threshold) <= margin or (value + margin >= threshold and confirm_unsure)
    return result


def exact_numeric_drift(
    binned: FeatureResult,
    profile: NumericProfile,
    values: np.ndarray,
    *,
    threshold: float,
    window_n: int | None = None,
) -> FeatureResult:
    """Decide a feature whose binned estimate lay within its margin of the threshold on the exact
    statistic: the window's raw values against the reference's stored sample (the whole reference
    up to DEFAULT_SAMPLE_SIZE rows, else that many values spread over its quantiles).

    `window_n`, when `values` are a uniform sample of the window's, is how many finite values the
    window has: the statistics are the sample's, and so is the KS p-value (its n is the sample's
    size: a sample's distance read as the whole window's would find drift in sampling noise)."""
    finite = np.isfinite(values)
    current = values if finite.all() else values[finite]
    del finite
    d, _, w = ks_wasserstein_exact(np.sort(profile.sample), current)
    p = ks_p_value(d, profile.n, current.size)
    std = float(profile.sample.std()) if profile.sample.size else 0.0
    scores = {**binned.scores, Method.KS: d, Method.WASSERSTEIN: w / std if std > 0 else w}
    sampled = window_n is not None and window_n > current.size
    result = _verdict(
        binned.feature,
        "numeric",
        binned.method,
        threshold,
        scores,
        {Method.KS: p},
        profile.n,
        window_n if sampled else current.size,
    )
    sample = "the whole reference" if profile.sample.size >= profile.n else f"{profile.sample.size} reference values"
    raw = (
        f"test on a uniform sample of {current.size:,} of the window's {window_n:,} values"
        if sampled
        else "on the window's raw values"
    )
    result.why = (
        f"{result.why}; exact {raw} and {sample}, because the binned "
        f"{binned.method} {binned.statistic:.3g} lay within its error bound of the threshold"
    )
    return result


def categorical_drift(
    feature: str,
    profile: CategoricalProfile,
    current: CategoricalHistogram,
    *,
    method: str | None = None,
    threshold: float | None = None,
) -> FeatureResult:
    categories = list(dict.fromkeys([*profile.counts, *current.counts]))
    ref = np.array([profile.counts.get(c, 0) for c in categories], dtype=np.float64)
    cur = np.array([current.counts.get(c, 0) for c in categories], dtype=np.float64)
    configured = method or default_method("categorical", profile.n)
    method, note = _decided_method("categorical", configured, profile.n)
    threshold = DEFAULT_THRESHOLDS[method] if threshold is None or method != configured else threshold
    chi, p = chi_square(ref, cur)
    scores = {Method.CHI_SQUARE: chi, Method.PSI: psi(ref, cur), Method.JENSEN_SHANNON: jensen_shannon(ref, cur)}
    result = _verdict(feature, "categorical", method, threshold, scores, {Method.CHI_SQUARE: p}, profile.n, current.n)
    result.why = note + result.why
    return result


def feature_drift(
    feature: str,
    profile: NumericProfile | CategoricalProfile,
    current: NumericHistogram | CategoricalHistogram,
    *,
    method: str | None = None,
    threshold: float | None = None,
) -> FeatureResult:
    if isinstance(profile, NumericProfile):
        assert isinstance(current, NumericHistogram)
        return numeric_drift(feature, profile, current, method=method, threshold=threshold)
    assert isinstance(current, CategoricalHistogram)
    return categorical_drift(feature, profile, current, method=method, threshold=threshold)


@dataclass
class WindowVerdict:
    drifted: bool
    share: float
    drifted_features: list[str]
    threshold_share: float
    why: str
    no_data: bool = False  # no feature had a value in the window: nothing to judge, not "no drift"


def window_verdict(
    results: list[FeatureResult], *, share: float = DEFAULT_DRIFT_SHARE, others: list[FeatureResult] = ()
) -> WindowVerdict:
    """Input features decide the window; `others` (the prediction and label columns) are reported
    beside them, by name, so a summary and the table it sits above count the same things."""
    checked = [r for r in results if r.current_n > 0]
    drifted = [r.feature for r in checked if r.drifted]
    fraction = len(drifted) / len(checked) if checked else 0.0
    if not checked:
        why = f"{NO_DATA_WHY}: no feature had a value in this window."
        return WindowVerdict(False, 0.0, [], share, why, no_data=True)
    is_drifted = fraction >= share
    why = (
        f"{len(drifted)} of {len(checked)} input features drifted ({fraction:.0%}); "
        f"the window drifts when {share:.0%} do"
    )
    also = [r.feature for r in others if r.current_n > 0 and r.drifted]
    if also:
        why += f". Also drifted, not counted among the inputs: {', '.join(also)}"
    return WindowVerdict(is_drifted, fraction, drifted, share, why)


@dataclass
class VolumeCheck:
    rows: int
    trailing_median: float | None
    ratio: float | None
    anomaly: str  # "", "drop" or "spike"
    why: str


def volume_check(
    rows: int, trailing: list[int], *, drop_below: float = 0.5, spike_above: float = 2.0, min_history: int = 3
) -> VolumeCheck:
    """Rows in a window against the median of the trailing windows: a large drop or spike is an anomaly."""
    if len(trailing) < min_history:
        return VolumeCheck(rows, None, None, "", f"{len(trailing)} earlier windows; {min_history} needed to judge")
    med = float(median(trailing))
    if med <= 0:
        return VolumeCheck(rows, med, None, "spike" if rows > 0 else "", "trailing median is 0")
    ratio = rows / med
    if ratio < drop_below:
        return VolumeCheck(rows, med, ratio, "drop", f"{rows} rows is {ratio:.0%} of the trailing median {med:g}")
    if ratio > spike_above:
        return VolumeCheck(rows, med, ratio, "spike", f"{rows} rows is {ratio:.0%} of the trailing median {med:g}")
    return VolumeCheck(rows, med, ratio, "", f"{rows} rows, {ratio:.0%} of the trailing median {med:g}")
