"""The exact re-check of features whose binned estimate lies near their threshold."""

from __future__ import annotations

import logging
import zlib
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from monitoring import drift, profiles
from monitoring.services import files

logger = logging.getLogger(__name__)


# The exact re-check of a feature near its threshold holds at most this many of the window's values:
# a uniform sample of that many rows across the window's batches when it has more. Its sort and merge
# take a few arrays of the sample's size (8 bytes a value): with 2,000,000 values the check of a
# 24.8 M-row window traces 64 MB and adds ~95 MB to a worker, where holding every value took 1.9 GB
# traced and 2 GB more RSS (tests/monitoring/test_memory_bounds.py). A sample this size has
# its empirical CDF within 0.001 of the window's with 95 % probability (DKW inequality), on the order
# of the reference side, which is a sample of at most profiles.DEFAULT_SAMPLE_SIZE quantiles; and the
# KS p-value is the sample's own (drift.exact_numeric_drift), so a sampled test stays a valid test.
EXACT_MAX_VALUES = 2_000_000
EXACT_SAMPLE_SEED = 2026  # fixed: a window re-run draws the same sample and reaches the same verdict


def _numeric_values(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column as bin_frame bins it: numbers, anything else NaN."""
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


# The re-check of one feature at the cap holds its sample and, deciding it, about three arrays of the
# sample's size (sort and merge): 4 x EXACT_MAX_VALUES values. One pass over the window's files reads
# as many features as stay within that: their samples, their columns of the largest batch (read
# together) and one decision's arrays. Reading each file once per feature made the re-check of 25
# features on a window of 90 batches of 1,000 rows open 2,250 files (10-16 s, bench/drift.py); they
# now take one pass (90 files, 2-3 s). A window over the cap still takes a pass per feature: two
# samples of 2,000,000 values held at once took the check of test_memory_bounds' 6 M-row window to
# 105 MB traced (63 MB one at a time).
EXACT_PASS_VALUES = 4 * EXACT_MAX_VALUES
_READ_ERRORS = (OSError, ValueError, pa.ArrowException)


class _WindowSample:
    """One feature's finite values in the window, taken batch by batch (in event-time order): all of
    them, or when the window has more than `limit` rows, `limit` rows drawn uniformly without
    replacement across its batches (seeded by the feature's name), their finite values."""

    def __init__(self, name: str, rows: np.ndarray, limit: int) -> None:
        self.sampled = int(rows.sum()) > limit
        self.rng = np.random.default_rng([EXACT_SAMPLE_SEED, zlib.crc32(name.encode())])
        self.quota = self.rng.multivariate_hypergeometric(rows, limit, method="marginals") if self.sampled else rows
        self.out = np.empty(int(self.quota.sum()), dtype=np.float64)
        self.filled = self.finite = 0

    def add(self, index: int, column: np.ndarray) -> None:
        """The column of the batch at `index`."""
        self.finite += int(np.isfinite(column).sum())
        if self.sampled:
            take = min(int(self.quota[index]), column.size)
            column = column[np.sort(self.rng.choice(column.size, size=take, replace=False))]
        column = column[np.isfinite(column)][: self.out.size - self.filled]
        self.out[self.filled : self.filled + column.size] = column
        self.filled += column.size

    def values(self) -> tuple[np.ndarray, int]:
        return self.out[: self.filled], self.finite


def _window_samples(batches: list[Any], names: list[str], limit: int) -> dict[str, tuple[np.ndarray, int] | Exception]:
    """Each named feature's finite values in the window (a sample of `limit` rows when it has more,
    as _WindowSample draws it) and how many the window has; or the error that stopped its read. Each
    batch file is opened once for all of them, its wanted columns folded into each feature's sample
    and dropped before the next file. A file whose columns cannot be read together is read again one
    column at a time, so that a column that cannot be read fails only its own feature."""
    batches = sorted(batches, key=lambda b: (b.event_time, b.pk))
    rows = np.array([max(b.rows, 0) for b in batches], dtype=np.int64)
    samples: dict[str, _WindowSample] = {}
    failed: dict[str, Exception] = {}
    for name in names:
        try:
            samples[name] = _WindowSample(name, rows, limit)
        except _READ_ERRORS as exc:
            failed[name] = exc
    for index, batch in enumerate(batches):
        if not samples:
            break
        try:
            frame: pd.DataFrame | None = files.batch_columns(batch, list(samples))
        except _READ_ERRORS:
            frame = None
        for name in list(samples):
            try:
                source = files.batch_columns(batch, [name]) if frame is None else frame
                if name in source:
                    samples[name].add(index, _numeric_values(source, name))
                del source
            except _READ_ERRORS as exc:
                failed[name] = exc
                del samples[name]
        del frame
    return {name: failed[name] if name in failed else samples.pop(name).values() for name in names}


def _window_values(batches: list[Any], name: str, limit: int) -> tuple[np.ndarray, int]:
    """One feature's finite values in the window, and how many the window has (_window_samples)."""
    got = _window_samples(batches, [name], limit)[name]
    if isinstance(got, Exception):
        raise got
    return got


def _exact_passes(names: list[str], batches: list[Any]) -> list[list[str]]:
    """The features near their threshold, in groups that hold at most EXACT_PASS_VALUES values: each
    one's sample and column of the largest batch, and the arrays deciding one of them (one feature a
    group, at least)."""
    rows = [max(b.rows, 0) for b in batches]
    sample = min(sum(rows), EXACT_MAX_VALUES)  # every feature's: the quotas are drawn from the same rows
    size = max(1, (EXACT_PASS_VALUES - 3 * sample) // max(sample + max(rows, default=0), 1))
    return [names[i : i + size] for i in range(0, len(names), size)]


def decide_near_thresholds_exactly(
    results: list[tuple[str, drift.FeatureResult]], profs: dict[str, profiles.Profile], batches: list[Any]
) -> list[tuple[str, drift.FeatureResult]]:
    """Features whose binned estimate lay within its error bound of the threshold are decided again on
    their exact value, from the window's raw files (kept for this) and the reference's stored sample,
    on at most EXACT_MAX_VALUES of the window's values each. Each pass over the files reads a group of
    them (_exact_passes), each file once; a group is decided and dropped before the next is read. A
    file that cannot be read leaves the binned verdict, which says so."""
    near = {r.feature: r for _role, r in results if r.needs_exact}
    exact: dict[str, drift.FeatureResult] = {}
    for group in _exact_passes(list(near), batches):
        samples = _window_samples(batches, group, EXACT_MAX_VALUES)
        for name in group:
            r, got = near[name], samples.pop(name)
            if isinstance(got, Exception):
                logger.warning("Exact drift check of %s skipped, a batch file could not be read: %s", name, got)
                exact[name] = replace(r, why=f"{r.why}; near the threshold, but the raw files could not be re-read")
                continue
            values, finite = got
            del got
            exact[name] = drift.exact_numeric_drift(r, profs[name], values, threshold=r.threshold, window_n=finite)
            del values
    return [(role, exact[r.feature] if r.needs_exact else r) for role, r in results]
