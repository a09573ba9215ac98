"""The drift job's exact re-check reads each of a window's batch files once, whatever the number of
features near their threshold, and decides them exactly as reading the files once per feature did."""

import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from django.core.files.storage import storages

from monitoring import drift
from monitoring.models import DriftRun
from monitoring.services import batches, drift_runs, exact_recheck, files, monitors, references
from tests.factories import ProjectFactory
from tests.monitoring.conftest import to_parquet

DAY = datetime(2026, 11, 10, tzinfo=UTC)
FEATURES = [f"f_{i}" for i in range(6)]
BATCH_ROWS = (400, 250, 600, 300, 500, 350, 450, 200)  # 3,050 rows in the window


def file_per_feature_window_values(batches, name, limit):
    """The re-check's read as it was before it read each file once: every file once per feature."""
    batches = sorted(batches, key=lambda b: (b.event_time, b.pk))
    rows = np.array([max(b.rows, 0) for b in batches], dtype=np.int64)
    sampled = int(rows.sum()) > limit
    rng = np.random.default_rng([exact_recheck.EXACT_SAMPLE_SEED, zlib.crc32(name.encode())])
    quota = rng.multivariate_hypergeometric(rows, limit, method="marginals") if sampled else rows
    out = np.empty(int(quota.sum()), dtype=np.float64)
    filled = finite = 0
    for batch, take in zip(batches, quota, strict=True):
        frame = files.batch_columns(batch, [name])
        if name not in frame:
            continue
        column = exact_recheck._numeric_values(frame, name)
        del frame
        finite += int(np.isfinite(column).sum())
        if sampled:
            column = column[np.sort(rng.choice(column.size, size=min(int(take), column.size), replace=False))]
        column = column[np.isfinite(column)][: out.size - filled]
        out[filled : filled + column.size] = column
        filled += column.size
    return out[:filled], finite


def file_per_feature_decide(results, profs, batches):
    """_decide_near_thresholds_exactly as it was, on the read above."""
    decided = []
    for role, r in results:
        if not r.needs_exact:
            decided.append((role, r))
            continue
        try:
            values, finite = file_per_feature_window_values(batches, r.feature, exact_recheck.EXACT_MAX_VALUES)
        except (OSError, ValueError, pa.ArrowException):
            decided.append(
                (role, replace(r, why=f"{r.why}; near the threshold, but the raw files could not be re-read"))
            )
            continue
        decided.append(
            (role, drift.exact_numeric_drift(r, profs[r.feature], values, threshold=r.threshold, window_n=finite))
        )
    return decided


@pytest.fixture
def wide_monitor():
    """Six numeric features, each moved by about its Wasserstein threshold (0.1 std) in every batch of
    the window: all six inside the binned estimate's error bound, so all six are re-checked exactly.
    Missing values in two features; one batch lacks f_5 altogether."""
    monitor = monitors.monitor_create(
        actor=None,
        project=ProjectFactory(name="Wide"),
        name="wide",
        model_name="wide",
        expected_schema=[{"name": name, "type": "float"} for name in FEATURES],
    )
    rng = np.random.default_rng(11)
    reference = pd.DataFrame({name: rng.normal(0, 1, 5000) for name in FEATURES})
    references.reference_upload(actor=None, monitor_id=monitor.pk, body=to_parquet(reference), fmt="parquet")
    for i, rows in enumerate(BATCH_ROWS):
        frame = pd.DataFrame({name: rng.normal(0.1, 1, rows) for name in FEATURES})
        frame.loc[:: 7 + i, "f_1"] = np.nan
        frame.loc[3 :: 11 + i, "f_2"] = np.nan
        if i == 3:
            frame = frame.drop(columns=["f_5"])
        batch = batches.batch_ingest(
            monitor=monitor, body=to_parquet(frame), fmt="parquet", received_at=DAY + timedelta(minutes=i)
        ).batch
        batches.batch_bin(batch_id=batch.pk)  # as a worker does on arrival
    return monitor


@pytest.fixture
def storage_opens(monkeypatch):
    """How many files the monitoring storage opens from now on."""
    storage = storages["monitoring"]
    opened = []
    open_file = storage.open

    def counted_open(name, *args, **kwargs):
        opened.append(name)
        return open_file(name, *args, **kwargs)

    monkeypatch.setattr(storage, "open", counted_open)
    return opened


def run_window(monitor):
    run = drift_runs.drift_run_now(monitor=monitor, window_start=DAY, trigger=DriftRun.Trigger.MANUAL)
    return (
        run,
        {
            r.feature: (r.method, r.statistic, r.p_value, r.threshold, r.drifted, r.current_n, r.why, r.scores)
            for r in run.results.all()
        },
        (run.drifted, run.drifted_share, run.why),
    )


@pytest.mark.django_db
def test_the_exact_re_check_opens_each_batch_file_of_the_window_once(wide_monitor, storage_opens):
    run, results, _ = run_window(wide_monitor)

    exact = sorted(feature for feature, result in results.items() if "exact on the window's raw values" in result[6])
    assert exact == FEATURES  # six features re-checked ...
    assert len(storage_opens) == len(BATCH_ROWS)  # ... on one read of each of the 8 files, not 48
    assert sorted(storage_opens) == sorted(run.monitor.batches.values_list("file_name", flat=True))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cap", "pass_values"),
    [
        pytest.param(None, None, id="every value"),
        pytest.param(1500, None, id="a sample of 1,500 values"),
        pytest.param(1500, 9000, id="sampled, two features a pass"),
        pytest.param(None, 1, id="one feature a pass"),
    ],
)
def test_the_window_is_decided_as_reading_each_file_once_per_feature_decided_it(
    wide_monitor, storage_opens, monkeypatch, cap, pass_values
):
    if cap is not None:
        monkeypatch.setattr(exact_recheck, "EXACT_MAX_VALUES", cap)
    if pass_values is not None:
        monkeypatch.setattr(exact_recheck, "EXACT_PASS_VALUES", pass_values)
    now = run_window(wide_monitor)
    opens = len(storage_opens)
    with monkeypatch.context() as before:
        before.setattr(exact_recheck, "decide_near_thresholds_exactly", file_per_feature_decide)
        then = run_window(wide_monitor)

    assert now[1] == then[1] and now[2] == then[2]  # every statistic, p-value, verdict and note
    exact = "uniform sample of" if cap is not None else "exact on the window's raw values"
    assert all(exact in result[6] for result in now[1].values())
    per_pass = {None: len(FEATURES), 9000: 2, 1: 1}[pass_values]
    assert opens == len(BATCH_ROWS) * -(-len(FEATURES) // per_pass)
    assert len(storage_opens) == opens + len(BATCH_ROWS) * len(FEATURES)  # then: each file once per feature


def decided_as_before(monitor, monkeypatch):
    """The window's results now, and with the re-check as it was."""
    now = run_window(monitor)
    with monkeypatch.context() as before:
        before.setattr(exact_recheck, "decide_near_thresholds_exactly", file_per_feature_decide)
        then = run_window(monitor)
    assert now[1] == then[1] and now[2] == then[2]
    return now[1]


@pytest.mark.django_db
def test_a_batch_file_gone_leaves_every_features_binned_verdict_as_before(
    wide_monitor, monitoring_storage, monkeypatch
):
    (monitoring_storage / wide_monitor.batches.order_by("event_time")[2].file_name).unlink()

    results = decided_as_before(wide_monitor, monkeypatch)

    assert all(result[6].endswith("but the raw files could not be re-read") for result in results.values())


@pytest.mark.django_db
def test_a_column_that_cannot_be_read_fails_its_own_re_check_alone_as_before(wide_monitor, monkeypatch):
    read = files.batch_columns

    def f_3_unreadable(batch, names):
        if "f_3" in names:
            raise pa.ArrowInvalid("a damaged column chunk")
        return read(batch, names)

    monkeypatch.setattr(files, "batch_columns", f_3_unreadable)

    results = decided_as_before(wide_monitor, monkeypatch)

    assert results["f_3"][6].endswith("but the raw files could not be re-read")
    for feature in set(FEATURES) - {"f_3"}:
        assert "exact on the window's raw values" in results[feature][6]
