"""Shadow replay against a floor, measured in one run (monitoring/shadow/replay.py).

Starts a throwaway MLflow server (SQLite backend, one worker), trains two scikit-learn models on
synthetic data (a LogisticRegression and a small RandomForest) and registers them there with
float64 signatures, downloads both (`model_download`) and replays a sample of 100,000 rows x 25
float64 features, split into 20 batches, through both (`replay`: one child process per model,
one after the other, each with the default limits).

- floor: the two fitted models' own `predict` on the whole in-memory frame in this process
  (median of 3 after a warm-up), what any replay must at least compute;
- replay: the wall time of `replay`, split into writing the batches to Parquet (once), and per
  model: process start-up with the imports of pandas and MLflow, loading the model, time inside
  predict (MLflow's signature enforcement included, batch by batch), the data read and written,
  and the rest (requirement check, bookkeeping);
- the children's peak resident memory (each child's own, and RUSAGE_CHILDREN's maximum).

Prints the ratio replay / (floor + start-up); the target is replay <= 2 x floor + start-up.

    .venv/bin/python bench/shadow.py [--rows 100000] [--batches 20]
"""

import argparse
import contextlib
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlopsportal.demo.mlflow_server import mlflow_server_running
from monitoring.shadow.replay import BatchSample, ReplayLimits, model_download, replay

FEATURES = 25


def sample(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(0, 1, (rows, FEATURES)), columns=[f"x{i:02d}" for i in range(FEATURES)])
    weights = rng.normal(0, 1, FEATURES)
    target = pd.Series((frame.to_numpy() @ weights + rng.normal(0, 1, rows) > 0).astype(int))
    return frame, target


def median_seconds(fn, repeats: int = 3) -> float:
    fn()  # warm-up
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="portal-bench-shadow-"))
    with contextlib.ExitStack() as cleanup:  # unwound in reverse: the server stops, then its files go
        cleanup.callback(shutil.rmtree, var_dir, ignore_errors=True)
        uri = cleanup.enter_context(mlflow_server_running(backend_dir=var_dir, seconds=90))
        import mlflow
        from mlflow.models import infer_signature
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import LogisticRegression

        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        mlflow.set_experiment("bench-shadow")
        frame, _ = sample(args.rows)
        train, train_target = sample(20_000, seed=1)
        start = time.perf_counter()
        fitted = {
            "holder": LogisticRegression(max_iter=500).fit(train, train_target),
            "candidate": RandomForestClassifier(n_estimators=30, max_depth=10, random_state=0).fit(train, train_target),
        }
        train_seconds = time.perf_counter() - start
        paths = {}
        for role, model in fitted.items():
            name = f"bench-shadow-{role}"
            with mlflow.start_run():
                mlflow.sklearn.log_model(
                    model,
                    name="model",
                    signature=infer_signature(train.head(100), model.predict(train.head(100))),
                    pip_requirements=mlflow.sklearn.get_default_pip_requirements(),
                    # MLflow 3.17 saves with skops, which asks to name the tree type a forest holds.
                    skops_trusted_types=["sklearn.tree._tree.Tree"] if role == "candidate" else None,
                    registered_model_name=name,
                )
            paths[role] = model_download(model_name=name, version=1, tracking_uri=uri, into=var_dir / "models" / role)

        floor = {role: median_seconds(lambda model=model: model.predict(frame)) for role, model in fitted.items()}
        floor_total = sum(floor.values())

        size = -(-args.rows // args.batches)
        batches = [
            BatchSample(batch_id=i, day="2026-11-29", frame=frame.iloc[i * size : (i + 1) * size])
            for i in range(args.batches)
        ]
        limits = ReplayLimits()
        start = time.perf_counter()
        result = replay(models=paths, batches=batches, limits=limits)
        replay_seconds = time.perf_counter() - start
        children_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

        for role, replayed in result.models.items():
            assert replayed.error == "", replayed.error
            assert replayed.accepted_rows == args.rows, (role, replayed.accepted_rows)
            np.testing.assert_array_equal(replayed.predictions.to_numpy(), fitted[role].predict(frame))

        startup = sum(m.startup_seconds for m in result.models.values())
        # What a process that has never imported scikit-learn pays before the first prediction.
        cold = startup + sum(m.load_imports_seconds for m in result.models.values())
        print(
            f"MLflow {uri}; {args.rows:,} rows x {FEATURES} float64 features in {len(batches)} batches; "
            f"models trained in {train_seconds:.1f} s; children limited to {limits.memory_mb} MB, "
            f"{limits.threads} BLAS thread(s); this machine has {os.cpu_count()} cores"
        )
        print("Compare the ratios: absolute times follow the machine and its load.")
        print(f"{'':<44}{'holder (LR)':>14}{'candidate (RF)':>16}{'both':>10}")

        def row(label: str, values: dict[str, float], fmt: str = "{:.3f}", both: float | None = None) -> None:
            both = sum(values.values()) if both is None else both
            cells = "".join(f"{fmt.format(values[role]):>{w}}" for role, w in (("holder", 14), ("candidate", 16)))
            print(f"{label:<44}{cells}{fmt.format(both):>10}")

        models = result.models
        row("floor: model.predict in this process, s", floor)
        row("replay process, s", {r: m.process_seconds for r, m in models.items()})
        row("  start-up: Python + pandas/MLflow imports", {r: m.startup_seconds for r, m in models.items()})
        row("  load_model", {r: m.load_seconds for r, m in models.items()})
        row("    of which importing the flavour's libraries", {r: m.load_imports_seconds for r, m in models.items()})
        row("  predict (MLflow enforcement included)", {r: m.predict_seconds for r, m in models.items()})
        row("  data: batches copied/read, predictions", {r: m.io_seconds for r, m in models.items()})
        row("  warm-up: one row predicted before timing", {r: m.warmup_seconds for r, m in models.items()})
        rest = {
            r: m.process_seconds
            - m.startup_seconds
            - m.load_seconds
            - m.predict_seconds
            - m.io_seconds
            - m.warmup_seconds
            for r, m in models.items()
        }
        row("  other (requirement check, bookkeeping)", rest)
        predict_total = sum(m.predict_seconds for m in models.values())
        ratios = {r: m.predict_seconds / floor[r] for r, m in models.items()}
        row("predict x floor", ratios, "{:.2f}", both=predict_total / floor_total)
        row("ms per 1,000 rows inside predict", {r: m.ms_per_1000_rows or 0.0 for r, m in models.items()}, "{:.2f}")
        row("child peak RSS, MB", {r: m.peak_rss_mb or 0.0 for r, m in models.items()}, "{:.0f}")
        print(f"{'writing the sample to Parquet (once), s':<44}{result.write_seconds:>40.3f}")
        print(f"{'replay() wall time, s':<44}{replay_seconds:>40.3f}")
        print(f"{'peak RSS of any child (RUSAGE_CHILDREN), MB':<44}{children_peak_mb:>40.0f}")
        print(f"{'replay / (floor + start-up)':<44}{replay_seconds / (floor_total + startup):>40.2f}")
        print(f"{'(replay - start-up) / floor':<44}{(replay_seconds - startup) / floor_total:>40.2f}")
        print(f"{'replay / (floor + start-up + flavour imports)':<44}{replay_seconds / (floor_total + cold):>40.2f}")
        print(f"{'(replay - start-up - flavour imports) / floor':<44}{(replay_seconds - cold) / floor_total:>40.2f}")


if __name__ == "__main__":
    main()
