"""Shadow evaluation: a candidate model's predictions against the alias holder's on the same rows.

Pure functions over two (or, with labels, three) pandas Series aligned on one index; no Django, no
I/O. Intervals are 95 % percentile bootstrap intervals, deterministic for a given seed.

Classes are compared by their text, normalised so that 1, 1.0 and "1" are one class (and True is 1
beside numbers): labels of one dtype and predictions of another (int labels, "0"/"1" predictions)
compare as a person would read them, and for two series of one dtype this is the same as comparing
the values themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from monitoring import drift, profiles

PredictionKind = Literal["classes", "values"]

# Integer predictions with more distinct values than this are counts or scores, not classes.
MAX_CLASSES = 50
# A missing prediction is a class of its own: a model that answers nothing differs from one that answers.
MISSING = "(missing)"
# Resampled row indices are drawn this many at a time (8 MB an int64 array; a chunk's work holds a
# handful), so 100,000 rows x 1,000 resamples never builds one 800 MB matrix of indices.
CHUNK_ELEMENTS = 1_000_000
# What experiment trackers put before a metric's name (MLflow autolog: "training_accuracy_score").
PREFIXES = ("validation", "evaluation", "training", "valid", "train", "test", "eval", "val")
SEPARATORS = "_-/. "


# ---------------------------------------------------------------- reading predictions


def _check_aligned(first: pd.Series, *others: pd.Series, resamples: int = 1) -> None:
    if len(first) == 0:
        raise ValueError("There are no rows to compare.")
    if resamples < 1:
        raise ValueError("At least one resample is needed.")
    for other in others:
        if not other.index.equals(first.index):
            raise ValueError("The series must be aligned on the same index.")


def _is_number(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _floats(series: pd.Series) -> np.ndarray:
    numbers = series if _is_number(series) else pd.to_numeric(series, errors="coerce")
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _label(value: Any, bools_as_numbers: bool) -> str:
    if bools_as_numbers and isinstance(value, bool | np.bool_):
        return str(int(value))
    if not isinstance(value, float | np.floating):
        return str(value)  # ints, bools, text (NumPy's scalars print as Python's do)
    return str(int(value)) if float(value).is_integer() else str(float(value))  # 1.0 is the class 1


def _labels(*series: pd.Series) -> list[np.ndarray]:
    """Each row's class as normalised text; only the distinct values are converted. Bools read as 1
    and 0 when another series holds numbers (bool labels against a model's 0/1 predictions)."""
    bools_as_numbers = any(map(_is_number, series)) and any(map(pd.api.types.is_bool_dtype, series))
    texts = []
    for one in series:
        codes, uniques = pd.factorize(one, use_na_sentinel=True)
        names = np.array([*(_label(v, bools_as_numbers) for v in uniques), MISSING], dtype=str)
        texts.append(names[codes])  # the sentinel -1 picks MISSING, the last name
    return texts


def _numeric_order(label: str) -> tuple[int, float, str]:
    """Numbers by value ("2" before "10"), then text; what decides a binary metric's positive class."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def predictions_kind(holder: pd.Series, candidate: pd.Series) -> PredictionKind:
    """Classes for labels (text, bools, categories, or few integer values), values for other numbers."""
    _check_aligned(holder, candidate)
    if not (_is_number(holder) and _is_number(candidate)):
        return "classes"
    values = np.concatenate([_floats(holder), _floats(candidate)])
    values = values[np.isfinite(values)]
    if np.all(values == np.round(values)) and np.unique(values).size <= MAX_CLASSES:
        return "classes"
    return "values"


def _interval(draws: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(draws, [2.5, 97.5])
    return (float(low), float(high))


class _AsDict:
    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable: the intervals' tuples become lists."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


# ---------------------------------------------------------------- agreement of classes


@dataclass(frozen=True)
class ClassAgreement(_AsDict):
    rows: int
    disagreeing: int
    share: float
    interval: tuple[float, float]
    confusion: list[dict]
    classes: list[str]
    holder_shares: dict[str, float]
    candidate_shares: dict[str, float]


def class_agreement(holder: pd.Series, candidate: pd.Series, *, seed: int = 0, resamples: int = 1000) -> ClassAgreement:
    _check_aligned(holder, candidate, resamples=resamples)
    h, c = _labels(holder, candidate)
    n = h.size
    disagreeing = int(np.count_nonzero(h != c))
    # Drawing n rows with replacement picks a disagreeing row with probability k/n each time, so a
    # resample's disagreements are Binomial(n, k/n): the bootstrap distribution itself, exactly and
    # in O(resamples), with no index drawn.
    draws = np.random.default_rng(seed).binomial(n, disagreeing / n, size=resamples) / n
    classes, codes = np.unique(np.concatenate([h, c]), return_inverse=True)
    m = classes.size
    # Pairs as one code: np.unique sorts them by holder, then candidate, and keeps only non-zero cells.
    cells, counts = np.unique(codes[:n] * m + codes[n:], return_counts=True)
    names = classes.tolist()
    confusion = [
        {"holder": names[cell // m], "candidate": names[cell % m], "rows": int(rows)}
        for cell, rows in zip(cells.tolist(), counts.tolist(), strict=True)
    ]
    holder_shares, candidate_shares = ((np.bincount(side, minlength=m) / n).tolist() for side in (codes[:n], codes[n:]))
    return ClassAgreement(
        rows=n,
        disagreeing=disagreeing,
        share=disagreeing / n,
        interval=_interval(draws),
        confusion=confusion,
        classes=names,
        holder_shares=dict(zip(names, holder_shares, strict=True)),
        candidate_shares=dict(zip(names, candidate_shares, strict=True)),
    )


# ---------------------------------------------------------------- differences of values


@dataclass(frozen=True)
class ValueDifferences(_AsDict):
    rows: int  # rows where both models gave a finite number
    median_abs: float
    p95_abs: float
    max_abs: float
    mean_difference: float  # candidate - holder


def value_differences(holder: pd.Series, candidate: pd.Series) -> ValueDifferences:
    _check_aligned(holder, candidate)
    difference = _floats(candidate) - _floats(holder)
    difference = difference[np.isfinite(difference)]
    if difference.size == 0:
        raise ValueError("No row has a finite number from both models.")
    absolute = np.abs(difference)
    return ValueDifferences(
        rows=int(difference.size),
        median_abs=float(np.median(absolute)),
        p95_abs=float(np.percentile(absolute, 95)),
        max_abs=float(absolute.max()),
        mean_difference=float(difference.mean()),
    )


def most_different_rows(holder: pd.Series, candidate: pd.Series, *, limit: int = 100) -> list:
    """Index labels of differing rows: classes in index order, values by |candidate - holder|, largest first."""
    if predictions_kind(holder, candidate) == "classes":
        positions = np.flatnonzero(np.not_equal(*_labels(holder, candidate)))
    else:
        h, c = _floats(holder), _floats(candidate)
        gap = np.nan_to_num(np.abs(c - h), nan=0.0, posinf=np.inf)
        # A number against no number is the largest difference there is; two missing ones are none.
        gap[np.isnan(h) != np.isnan(c)] = np.inf
        positions = np.argsort(-gap, kind="stable")
        positions = positions[gap[positions] > 0]
    return holder.index[positions[: max(limit, 0)]].tolist()


def prediction_drift(
    holder: pd.Series, candidate: pd.Series, *, method: str = "", threshold: float | None = None
) -> dict:
    """The monitor's drift statistic between the predictions: the holder's are the reference, the
    candidate's the current window. ValueError when values are compared and the holder gave no number."""
    kind = predictions_kind(holder, candidate)
    values = None
    if kind == "classes":
        reference, current_texts = _labels(holder, candidate)
        profile = profiles.profile_categorical(pd.Series(reference))
        current = profiles.bin_categorical(pd.Series(current_texts))
    else:
        values = _floats(candidate)
        profile = profiles.profile_numeric(_floats(holder))
        current = profiles.bin_numeric(profile, values)
    # A method not for this kind (KS on classes): the default decides at its default threshold, and says so.
    applies = not method or drift.method_applies(profile.kind, method)
    result = drift.feature_drift(
        "prediction",
        profile,
        current,
        method=(method or None) if applies else None,
        threshold=threshold if applies else None,
    )
    note = "" if applies else f"{method} does not apply to predictions that are {kind}, so {result.method} decides. "
    if result.needs_exact and values is not None:
        # Within the binned estimate's error bound of the threshold: decide on the raw values, as a monitor does.
        result = drift.exact_numeric_drift(result, profile, values, threshold=result.threshold)
    return {
        "method": result.method,
        "score": float(result.statistic),
        "threshold": float(result.threshold),
        "drifted": bool(result.drifted),
        "why": note + result.why,
        "p_value": None if result.p_value is None else float(result.p_value),
    }


# ---------------------------------------------------------------- metrics against labels
#
# A metric is computed from sums over rows, so a bootstrap resample needs only those sums:
# for classes, per-class counts of true labels, predictions and hits; for values, sums of |error|,
# error², and the (centred) label and its square. Each resample's sums come from its drawn rows.


def _class_sums(y: np.ndarray, p: np.ndarray, m: int, idx: np.ndarray) -> tuple[np.ndarray, ...]:
    yy, pp = y[idx], p[idx]
    offset = np.arange(idx.shape[0])[:, None] * m  # one block of m counters per resample
    yy += offset
    pp += offset
    size = idx.shape[0] * m
    hits = np.bincount(yy[yy == pp], minlength=size).reshape(-1, m)
    true = np.bincount(yy.ravel(), minlength=size).reshape(-1, m)
    predicted = np.bincount(pp.ravel(), minlength=size).reshape(-1, m)
    return hits, predicted, true


def _value_sums(y: np.ndarray, p: np.ndarray, m: int, idx: np.ndarray) -> tuple[np.ndarray, ...]:
    error, label = (p - y)[idx], y[idx]
    squares = np.einsum("ij,ij->i", error, error), np.einsum("ij,ij->i", label, label)
    return np.abs(error).sum(axis=1), squares[0], label.sum(axis=1), squares[1]


def _per_class(which: str) -> Callable[..., np.ndarray]:
    def finish(sums: tuple[np.ndarray, ...], n: int, positive: int | None) -> np.ndarray:
        hits, predicted, true = (s.astype(np.float64) for s in sums)
        denominator = {"precision": predicted, "recall": true, "f1": (predicted + true) / 2}[which]
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(denominator > 0, hits / denominator, 0.0)  # 0 when undefined, as sklearn
        if positive is not None:
            return score[:, positive]
        present = (predicted + true) > 0  # macro: over the classes the rows have (sklearn's labels)
        return (score * present).sum(axis=1) / present.sum(axis=1)

    return finish


def _r2(sums: tuple[np.ndarray, ...], n: int, positive: int | None) -> np.ndarray:
    squared, label, label_squared = sums[1], sums[2], sums[3]
    total = label_squared - label * label / n
    with np.errstate(divide="ignore", invalid="ignore"):
        # Constant labels: 1 for a perfect prediction, else 0 (sklearn's force_finite).
        return np.where(total > 0, 1 - squared / total, np.where(squared == 0, 1.0, 0.0))


@dataclass(frozen=True)
class _Metric:
    direction: str
    classes: bool
    finish: Callable[[tuple[np.ndarray, ...], int, int | None], np.ndarray]

    def scores(
        self, y: np.ndarray, preds: list[np.ndarray], m: int, positive: int | None, idx: np.ndarray
    ) -> np.ndarray:
        """One row per model, one column per resample (a row of `idx`)."""
        sums = _class_sums if self.classes else _value_sums
        return np.stack([self.finish(sums(y, p, m, idx), y.size, positive) for p in preds])


_METRICS = {
    "accuracy": _Metric("higher", True, lambda s, n, _: s[0].sum(axis=1) / n),
    "f1": _Metric("higher", True, _per_class("f1")),
    "precision": _Metric("higher", True, _per_class("precision")),
    "recall": _Metric("higher", True, _per_class("recall")),
    "rmse": _Metric("lower", False, lambda s, n, _: np.sqrt(s[1] / n)),
    "mae": _Metric("lower", False, lambda s, n, _: s[0] / n),
    "mse": _Metric("lower", False, lambda s, n, _: s[1] / n),
    "r2": _Metric("higher", False, _r2),
}
# scikit-learn's function names, which MLflow autolog logs: "accuracy_score", "mean_squared_error", ...
_ALIASES = {name: name for name in _METRICS} | {f"{name}_score": name for name in ("accuracy", "f1", "precision")}
_ALIASES |= {"recall_score": "recall", "r2_score": "r2", "root_mean_squared_error": "rmse"}
_ALIASES |= {"mean_absolute_error": "mae", "mean_squared_error": "mse"}


def _prepare(
    metric: _Metric, labels: pd.Series, *predictions: pd.Series
) -> tuple[np.ndarray, list[np.ndarray], int, int | None] | None:
    """Labels and predictions as arrays over the usable rows, the number of classes and the positive one."""
    if not metric.classes:
        y, preds = _floats(labels), [_floats(p) for p in predictions]
        keep = np.isfinite(y) & np.logical_and.reduce([np.isfinite(p) for p in preds])
        if not keep.any():
            return None
        y, preds = y[keep], [p[keep] for p in preds]
        mean = y.mean()  # centred labels keep R²'s sums of squares accurate; errors do not change
        return y - mean, [p - mean for p in preds], 0, None
    keep = labels.notna().to_numpy()
    if not keep.any():
        return None
    texts = _labels(*(s[keep] for s in (labels, *predictions)))
    found = set(np.unique(np.concatenate(texts)).tolist())
    answers = found - {MISSING}  # a missing prediction is wrong, never a class of its own to average over
    # 0/1 and False/True are binary with positive 1 and True even when a sample shows only 0 or False.
    for pair in ({"0", "1"}, {"False", "True"}):
        if answers <= pair:
            answers |= pair
    classes = sorted(answers, key=_numeric_order)
    positive = len(classes) - 1 if len(classes) <= 2 else None  # the larger label
    position = {label: i for i, label in enumerate([*classes, *(found - answers)])}
    codes = []
    for text in texts:
        distinct, inverse = np.unique(text, return_inverse=True)
        codes.append(np.array([position[d] for d in distinct.tolist()], dtype=np.intp)[inverse])
    return codes[0], codes[1:], len(position), positive


def _function(metric: _Metric) -> Callable[[np.ndarray, np.ndarray], float]:
    def compute(labels: np.ndarray, predictions: np.ndarray) -> float:
        prepared = _prepare(metric, pd.Series(np.asarray(labels)), pd.Series(np.asarray(predictions)))
        if prepared is None:
            return float("nan")
        y, preds, m, positive = prepared
        return float(metric.scores(y, preds, m, positive, np.arange(y.size)[None, :])[0, 0])

    return compute


_FUNCTIONS = {name: _function(metric) for name, metric in _METRICS.items()}
METRICS: dict[str, tuple[Callable[[np.ndarray, np.ndarray], float], str]] = {
    alias: (_FUNCTIONS[name], _METRICS[name].direction) for alias, name in _ALIASES.items()
}


def _canonical(name: str) -> str | None:
    key = name.strip().lower()
    while key not in _ALIASES:
        for prefix in PREFIXES:
            if key.startswith(prefix) and len(key) > len(prefix) + 1 and key[len(prefix)] in SEPARATORS:
                key = key[len(prefix) + 1 :]
                break
        else:
            return None
    return _ALIASES[key]


def metric_function(name: str) -> tuple[Callable[[np.ndarray, np.ndarray], float], str] | None:
    """(function(labels, predictions) -> float, "higher" | "lower") for a metric name, None if unknown."""
    canonical = _canonical(name)
    return None if canonical is None else METRICS[canonical]


@dataclass(frozen=True)
class MetricComparison(_AsDict):
    metric: str  # canonical name: "accuracy" for "test_accuracy_score"
    direction: str
    rows: int  # labelled rows (for values: with a finite label and both predictions finite)
    holder: float
    candidate: float
    difference: float  # candidate - holder
    difference_interval: tuple[float, float]
    holder_interval: tuple[float, float]
    candidate_interval: tuple[float, float]


def metric_comparison(
    *, metric: str, labels: pd.Series, holder: pd.Series, candidate: pd.Series, seed: int = 0, resamples: int = 1000
) -> MetricComparison | None:
    """Both models scored on the labelled rows; a paired bootstrap (the same rows for both) for intervals."""
    _check_aligned(labels, holder, candidate, resamples=resamples)
    name = _canonical(metric)
    if name is None:
        return None
    spec = _METRICS[name]
    prepared = _prepare(spec, labels, holder, candidate)
    if prepared is None:
        return None
    y, preds, m, positive = prepared
    n = y.size
    point = spec.scores(y, preds, m, positive, np.arange(n)[None, :])[:, 0]
    rng = np.random.default_rng(seed)
    draws = np.empty((2, resamples))
    chunk = max(1, CHUNK_ELEMENTS // n)
    for start in range(0, resamples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, resamples - start), n))
        draws[:, start : start + idx.shape[0]] = spec.scores(y, preds, m, positive, idx)
    return MetricComparison(
        metric=name,
        direction=spec.direction,
        rows=int(n),
        holder=float(point[0]),
        candidate=float(point[1]),
        difference=float(point[1] - point[0]),
        difference_interval=_interval(draws[1] - draws[0]),
        holder_interval=_interval(draws[0]),
        candidate_interval=_interval(draws[1]),
    )
