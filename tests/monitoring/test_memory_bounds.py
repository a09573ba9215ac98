"""Memory of the drift job's exact path and of profiling a reference: bounded whatever the input's size.

tracemalloc sees NumPy's allocations (and Python's), not Arrow's memory pool: the figures below are
the arrays this code makes, which is what grew with the window (1.9 GB traced for the exact check of a
24.8 M-row window before it was sampled) and with a reference column (three arrays of its size)."""

import tracemalloc
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring import profiles
from monitoring.models import DriftRun
from monitoring.services import batches, drift_runs, exact_recheck, files, references
from tests.monitoring.conftest import reference_frame, to_parquet

DAY = datetime(2026, 11, 10, tzinfo=UTC)
MB = 2**20


def traced_peak(call, *args, **kwargs):
    tracemalloc.start()
    try:
        result = call(*args, **kwargs)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.django_db
def test_the_exact_check_of_a_large_window_holds_a_bounded_sample_of_it(monitor):
    """Six batches of a million rows, both numeric features moved near their Wasserstein threshold so
    that both are decided exactly: 6 M values a feature, where the sample holds 2 M."""
    assert exact_recheck.EXACT_MAX_VALUES == 2_000_000
    rows, batch_count = 1_000_000, 6
    for i in range(batch_count):
        frame = reference_frame(rows, seed=100 + i)
        frame["feature_a"] += np.float32(0.1)
        frame["feature_b"] += np.float32(0.2)
        batch = batches.batch_ingest(
            monitor=monitor, body=to_parquet(frame), fmt="parquet", received_at=DAY + timedelta(minutes=i)
        ).batch
        batches.batch_bin(batch_id=batch.pk)  # as a worker does on arrival, outside the measure
    del frame

    run, peak = traced_peak(
        drift_runs.drift_run_now, monitor=monitor, window_start=DAY, trigger=DriftRun.Trigger.MANUAL
    )

    exact = run.results.filter(why__contains="exact test on a uniform sample")
    assert sorted(exact.values_list("feature", flat=True)) == ["feature_a", "feature_b"]
    for result in exact:
        assert "of 2,000,000 of the window's 6,000,000 values" in result.why
        assert result.current_n == rows * batch_count
    # The sample (16 MB) and the exact statistic's sort and merge of it, one feature at a time: 63 MB.
    # Holding the window's values and merging all of them, as the check did, took 468 MB here.
    assert peak < 100 * MB, f"{peak / MB:.0f} MB traced"


def test_profiling_a_numeric_column_takes_one_float64_copy_of_it():
    values = np.random.default_rng(0).normal(0, 1, 2_000_000).astype(np.float32)  # the row cap
    values[::1000] = np.nan

    profile, peak = traced_peak(profiles.profile_numeric, pd.Series(values))

    assert profile.n == 1_998_000 and profile.nulls == 2000
    # A float64 copy of the column, sorted in place, is 16 MB (15.3 traced in all); a float64 copy, the
    # finite values, a sorted copy and a bin index of each value took 46 MB.
    assert peak < 20 * MB, f"{peak / MB:.0f} MB traced"


@pytest.mark.django_db
def test_profiling_a_near_cap_reference_goes_column_by_column(monitor, monkeypatch):
    """The bench's near-cap Parquet reference: the row cap, the monitor's three features and five
    float64 columns it does not use. What profiling adds to the parsed frame is one column's work."""
    rows = 2_000_000 - 1
    base = reference_frame(rows, seed=5)
    data = {name: pa.array(base[name]) for name in base} | {f"zero_{i}": pa.array(np.zeros(rows)) for i in range(5)}
    del base
    buffer = pa.BufferOutputStream()
    pq.write_table(pa.table(data), buffer, compression="zstd")
    body = buffer.getvalue().to_pybytes()
    del data, buffer

    parsed_at = []
    parse = references.parse_batch

    def parse_then_measure(*args, **kwargs):
        parsed = parse(*args, **kwargs)
        parsed_at.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.reset_peak()  # the parse is ingest's; what follows is profiling
        return parsed

    monkeypatch.setattr(references, "parse_batch", parse_then_measure)
    reference, peak = traced_peak(
        references.reference_upload, actor=None, monitor_id=monitor.pk, body=body, fmt="parquet"
    )

    assert reference.rows == rows and sorted(reference.profile) == ["feature_a", "feature_b", "segment"]
    added = peak - parsed_at[0]
    # One float64 copy of a 2 M-row feature at a time (16 MB, 15.4 traced in all); it was 46 MB.
    assert added < 20 * MB, f"{added / MB:.0f} MB traced over the parsed frame"


@pytest.mark.django_db
def test_one_column_of_a_stored_json_batch_is_read_without_holding_the_others(monitor):
    """JSON has no columns to skip: every record is walked, but only the wanted column's values are
    kept. Reading the whole batch, as the exact check and the label metric did, kept all three."""
    frame = reference_frame(200_000, seed=7)
    body = frame.to_json(orient="records").encode()
    batch = batches.batch_ingest(monitor=monitor, body=body, fmt="json", received_at=DAY).batch
    del frame, body

    whole, whole_peak = traced_peak(files.batch_frame, batch)
    column, column_peak = traced_peak(files.batch_columns, batch, ["feature_a"])

    pd.testing.assert_frame_equal(column, whole[["feature_a"]])
    # The decoded text is common to both; on top of it the whole read kept three columns of Python
    # objects (a string each for the segment), the column read one.
    assert column_peak < 0.7 * whole_peak, f"{column_peak / MB:.0f} MB against {whole_peak / MB:.0f} MB"
