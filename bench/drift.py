"""Drift computation speed and memory against a floor, measured in one run (not a timed test).

Synthetic reference and current windows of 1,000,000 rows x 25 features (20 numeric, 5 categorical;
3 numeric and 1 categorical shifted). Each figure is the median of 3 runs after a warm-up, with the
peak memory the step allocated (tracemalloc, which numpy reports to):

  (a) floor: one pass summing all the current window's data;
  (b) drift of a window from raw current rows against the cached reference profile, binning included;
  (c) drift of a window from already-binned batches (24 hourly histograms merged);
  (d) exact statistics from cold: exact KS p-values and Wasserstein, sorting the reference too.

Then the agreement of binned decisions with exact ones, on a corpus of generated pairs (normal,
lognormal, Poisson counts, uniform and bimodal features; shifts packed around the thresholds;
references of 500 rows, decided by KS, and 5,000, decided by Wasserstein; windows of 200 to 5,000
rows): how often the binned verdict equals the exact one, overall and outside the binned estimate's
error bound (where it must be 100 %), and how often the job's final verdict (binned, or exact from
the reference's stored sample inside the bound) does.

Last, the window re-check: a drift job on a stored window of 90 Parquet batches x 1,000 rows whose 25
numeric features all lie near their threshold, so that every one is decided again on the window's raw
files (monitoring/services/exact_recheck.py). In a throwaway SQLite portal (its own PORTAL_VAR_DIR): the job's seconds,
the re-check's seconds and traced peak, and how many times the monitoring storage opened a file.

    .venv/bin/python bench/drift.py [--rows 1000000] [--only speed|agreement|recheck]
"""

import argparse
import gc
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitoring import drift, profiles

NUMERIC, CATEGORICAL = 20, 5
SHIFTED_NUMERIC = {"num_00": 0.3, "num_07": 0.5, "num_13": 1.0}
SHIFTED_CATEGORICAL = {"cat_2"}


def make_frames(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref: dict[str, object] = {}
    cur: dict[str, object] = {}
    letters = np.array([f"c{i}" for i in range(12)], dtype=object)
    for i in range(NUMERIC):
        name = f"num_{i:02d}"
        ref[name] = rng.normal(0, 1 + i / 10, rows)
        cur[name] = rng.normal(SHIFTED_NUMERIC.get(name, 0.0), 1 + i / 10, rows)
    for i in range(CATEGORICAL):
        name = f"cat_{i}"
        weights = np.linspace(1, 3, letters.size)
        p_ref = weights / weights.sum()
        p_cur = p_ref[::-1] if name in SHIFTED_CATEGORICAL else p_ref
        ref[name] = letters[rng.choice(letters.size, rows, p=p_ref)]
        cur[name] = letters[rng.choice(letters.size, rows, p=p_cur)]
    return pd.DataFrame(ref), pd.DataFrame(cur)


def measure(fn: Callable[[], object], repeats: int = 3) -> tuple[float, int, object]:
    fn()  # warm-up
    times, peaks, result = [], [], None
    for _ in range(repeats):
        gc.collect()
        tracemalloc.start()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return statistics.median(times), max(peaks), result


def main(args: argparse.Namespace) -> None:
    ref_frame, cur_frame = make_frames(args.rows)
    kinds = {c: ("numeric" if c.startswith("num") else "categorical") for c in ref_frame.columns}
    numeric_cols = [c for c in kinds if kinds[c] == "numeric"]
    raw_bytes = sum(cur_frame[c].to_numpy().nbytes for c in numeric_cols) + sum(
        cur_frame[c].to_numpy().nbytes for c in kinds if kinds[c] == "categorical"
    )

    start = time.perf_counter()
    cached = profiles.profile_frame(ref_frame, kinds)
    profile_seconds = time.perf_counter() - start

    def floor() -> float:
        return float(sum(cur_frame[c].to_numpy().sum() for c in numeric_cols)) + sum(
            len(cur_frame[c]) for c in kinds if kinds[c] == "categorical"
        )

    def from_raw() -> list[drift.FeatureResult]:
        hists = profiles.bin_frame(cached, cur_frame)
        return [drift.feature_drift(name, cached[name], hists[name]) for name in cached]

    slices = np.array_split(np.arange(args.rows), args.batches)
    batch_hists = [profiles.bin_frame(cached, cur_frame.iloc[s[0] : s[-1] + 1]) for s in slices]

    def from_binned() -> list[drift.FeatureResult]:
        out = []
        for name in cached:
            merged = profiles.merge_histograms([h[name] for h in batch_hists])
            out.append(drift.feature_drift(name, cached[name], merged))
        return out

    def exact_cold() -> dict[str, drift.ExactStatistics]:
        return drift.exact_statistics({c: (ref_frame[c].to_numpy(), cur_frame[c].to_numpy()) for c in numeric_cols})

    print(
        f"data: {args.rows:,} + {args.rows:,} rows x {len(kinds)} features; "
        f"current window raw data {raw_bytes / 1e6:.0f} MB"
    )
    print(f"reference profile built once in {profile_seconds:.2f} s")
    rows = []
    t_floor, m_floor, _ = measure(floor)
    rows.append(("(a) floor: one pass summing the data", t_floor, m_floor))
    t_raw, m_raw, raw_results = measure(from_raw)
    rows.append(("(b) raw rows vs cached profile", t_raw, m_raw))
    t_bin, m_bin, bin_results = measure(from_binned)
    rows.append((f"(c) {args.batches} binned batches merged", t_bin, m_bin))
    t_exact, m_exact, exact_results = measure(exact_cold)
    rows.append(("(d) exact KS + Wasserstein from cold", t_exact, m_exact))

    print(f"{'step':44} {'median s':>9} {'x floor':>8} {'peak MB':>8} {'peak / raw':>10}")
    for label, seconds, peak in rows:
        print(f"{label:44} {seconds:9.4f} {seconds / t_floor:8.1f} {peak / 1e6:8.1f} {peak / raw_bytes:10.2f}")

    drifted = sorted(r.feature for r in raw_results if r.drifted)
    expected = sorted([*SHIFTED_NUMERIC, *SHIFTED_CATEGORICAL])
    print(f"drifted (raw path): {', '.join(drifted)}; expected {', '.join(expected)}")
    assert drifted == expected, "the raw path found other features than the shifted ones"
    assert sorted(r.feature for r in bin_results if r.drifted) == expected
    exact_drifted = sorted(name for name, stat in exact_results.items() if stat.wasserstein >= 0.1)
    print(f"drifted (exact Wasserstein >= 0.1): {', '.join(exact_drifted)}")
    goals = [
        ("(b) <= 0.5 s", t_raw <= 0.5),
        ("(b) peak <= 1.5 x raw data", m_raw <= 1.5 * raw_bytes),
        ("(c) <= 0.05 s", t_bin <= 0.05),
        ("(d) <= 1.5 s", t_exact <= 1.5),
    ]
    print("goals: " + "; ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in goals))


def agreement_corpus(seed: int = 42) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    families = {
        "normal": lambda n, s: rng.normal(s, 1, n),
        "lognormal": lambda n, s: rng.lognormal(s, 1, n),
        "poisson": lambda n, s: rng.poisson(2 * (1 + s), n).astype(np.float64),
        "uniform": lambda n, s: rng.uniform(s, 1 + s, n),
        "bimodal": lambda n, s: np.where(rng.random(n) < 0.5 + s / 2, rng.normal(-2, 1, n), rng.normal(2, 1, n)),
    }
    pairs = []
    for draw in families.values():
        for ref_rows in (500, 5000):
            for cur_rows in (200, 1000, 5000):
                for shift in np.linspace(0.0, 0.3, 14):
                    pairs.append((draw(ref_rows, 0.0), draw(cur_rows, float(shift))))
    return pairs


def agreement() -> None:
    pairs = agreement_corpus()
    same = same_outside = outside = final_same = near = 0
    started = time.perf_counter()
    for ref, cur in pairs:
        profile = profiles.profile_numeric(ref)
        binned = drift.numeric_drift("x", profile, profiles.bin_numeric(profile, cur))
        # The truth: the same rule on the exact statistics of the whole reference.
        truth = drift.exact_numeric_drift(
            binned, replace(profile, sample=np.sort(ref)), cur, threshold=binned.threshold
        ).drifted
        final = (
            drift.exact_numeric_drift(binned, profile, cur, threshold=binned.threshold).drifted
            if binned.needs_exact
            else binned.drifted
        )
        same += binned.drifted == truth
        final_same += final == truth
        near += binned.needs_exact
        if not binned.needs_exact:
            outside += 1
            same_outside += binned.drifted == truth
    seconds = time.perf_counter() - started
    n = len(pairs)
    print(f"agreement with exact decisions on {n} generated pairs ({seconds:.1f} s):")
    print(f"  binned verdict:                 {same / n:7.2%}  ({same} of {n})")
    print(f"  binned, outside its error bound: {same_outside / max(outside, 1):7.2%}  ({same_outside} of {outside})")
    print(f"  final verdict (exact inside):   {final_same / n:7.2%}  ({final_same} of {n}; {near} decided exactly)")
    goals = [("final >= 99 %", final_same >= 0.99 * n), ("100 % outside the bound", same_outside == outside)]
    print("goals: " + "; ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in goals))


def window_recheck(batches: int = 90, features: int = 25, rows: int = 1000, repeats: int = 3) -> None:
    """A drift job on a stored window whose every feature is re-checked exactly, in a throwaway portal."""
    var_dir = tempfile.mkdtemp(prefix="portal-bench-drift-")
    os.environ["PORTAL_VAR_DIR"] = var_dir
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "PORTAL_MEDIA_ROOT"):
        os.environ.pop(name, None)
    for name in [name for name in os.environ if name.startswith("PORTAL_MONITORING_STORAGE")]:
        os.environ.pop(name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlopsportal.settings")
    try:
        _window_recheck(batches, features, rows, repeats)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def _window_recheck(batches: int, features: int, rows: int, repeats: int) -> None:
    import django

    django.setup()
    from django.core.files.storage import storages
    from django.core.management import call_command

    from monitoring.models import DriftRun
    from monitoring.services import batches as batch_service
    from monitoring.services import drift_runs, exact_recheck, monitors, references
    from registry.models import Project

    call_command("migrate", interactive=False, verbosity=0)
    names = [f"f_{i:02d}" for i in range(features)]
    project = Project.objects.create(name="Drift bench", slug="drift-bench", team="bench")
    monitor = monitors.monitor_create(
        actor=None,
        project=project,
        name="recheck",
        model_name="bench",
        expected_schema=[{"name": name, "type": "float"} for name in names],
    )

    def parquet(frame: pd.DataFrame) -> bytes:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()

    rng = np.random.default_rng(7)
    reference = pd.DataFrame({name: rng.normal(0, 1, 5000) for name in names})
    references.reference_upload(actor=None, monitor_id=monitor.pk, body=parquet(reference), fmt="parquet")
    day = datetime(2026, 11, 10, tzinfo=UTC)
    for b in range(batches):
        # Each feature moved by about its Wasserstein threshold (0.1 std): inside the binned estimate's
        # error bound, so the job decides it again on the raw files.
        frame = pd.DataFrame({name: rng.normal(0.1, 1, rows) for name in names})
        batch = batch_service.batch_ingest(
            monitor=monitor,
            body=parquet(frame),
            fmt="parquet",
            received_at=day + timedelta(seconds=b),
            bin_in_background=False,
        ).batch
        batch_service.batch_bin(batch_id=batch.pk)

    storage = storages["monitoring"]
    opened = [0]
    open_file = storage.open

    def counted_open(*args: object, **kwargs: object) -> object:
        opened[0] += 1
        return open_file(*args, **kwargs)

    storage.open = counted_open  # type: ignore[method-assign]
    recheck = exact_recheck.decide_near_thresholds_exactly
    recheck_seconds: list[float] = []
    recheck_peaks: list[int] = []

    def timed_recheck(*args: object, **kwargs: object) -> object:
        gc.collect()
        tracemalloc.start()
        start = time.perf_counter()
        try:
            return recheck(*args, **kwargs)
        finally:
            recheck_seconds.append(time.perf_counter() - start)
            recheck_peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()

    exact_recheck.decide_near_thresholds_exactly = timed_recheck
    job_seconds, opens, exact = [], [], 0
    for _ in range(repeats + 1):  # the first is a warm-up
        opened[0] = 0
        start = time.perf_counter()
        run = drift_runs.drift_run_now(monitor=monitor, window_start=day, trigger=DriftRun.Trigger.MANUAL)
        job_seconds.append(time.perf_counter() - start)
        opens.append(opened[0])
        exact = run.results.filter(why__contains="exact on the window's raw values").count()
    job_seconds, recheck_seconds, opens = job_seconds[1:], recheck_seconds[1:], opens[1:]
    print(
        f"window re-check: {batches} batches x {rows:,} rows, {features} features, {exact} decided exactly; "
        f"median of {repeats} after a warm-up"
    )
    print(f"  drift job:         {statistics.median(job_seconds):7.3f} s")
    print(
        f"  exact re-check:    {statistics.median(recheck_seconds):7.3f} s, "
        f"peak {max(recheck_peaks[1:]) / 1e6:.1f} MB traced"
    )
    print(
        f"  storage opens:     {max(opens)} a job; a read of each file per re-checked feature is "
        f"{batches} x {exact} = {batches * exact:,}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=24)
    parser.add_argument("--only", choices=["speed", "agreement", "recheck"], default=None)
    args = parser.parse_args()
    if args.only in (None, "speed"):
        main(args)
    if args.only in (None, "agreement"):
        agreement()
    if args.only in (None, "recheck"):
        window_recheck()
