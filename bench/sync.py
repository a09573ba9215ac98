"""The MLflow sync against the floor of reading the same data through MLflow's REST API, in one run.

Starts a throwaway MLflow server (SQLite backend) and seeds it through the REST API: 2,000 runs with
5 params and 5 metrics each in 4 experiments (50 of them still running), 100 of them with a 100-step
metric history, and 20 registered models with 5 versions each. Then measures:

  (a) the floor: paging every experiment, run, registered model and version through MLflow's REST
      API with plain HTTP calls (what any sync must read at least);
  (b) the portal's full sync into an empty mirror (also reads each version's MLmodel file once);
  (c) an incremental sync with nothing changed;
  (d) an incremental sync after 50 runs changed (the running ones finish with new metrics);
  plus a second full reconcile with nothing changed, and fetching the 100 histories (on demand).

Runs are seeded with start times over the past day, as on a server in use; the incremental pass
re-reads what started or ended within PORTAL_SYNC_OVERLAP of its watermark.

    .venv/bin/python bench/sync.py [--runs 2000]

The portal database is a throwaway SQLite file unless --database-url is given.
"""

import argparse
import contextlib
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--runs", type=int, default=2000)
parser.add_argument("--database-url", default="")
parser.add_argument("--repeat", type=int, default=3, help="Repeats of (a) and (c); the median is printed.")
ARGS = parser.parse_args()

VAR_DIR = tempfile.mkdtemp(prefix="portal-bench-sync-")
os.environ["PORTAL_VAR_DIR"] = VAR_DIR
if ARGS.database_url:
    os.environ["DATABASE_URL"] = ARGS.database_url
else:
    os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlopsportal.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from mlopsportal.demo.mlflow_server import mlflow_server_running  # noqa: E402

API = "/api/2.0/mlflow"
EXPERIMENTS = 4
MODELS, VERSIONS = 20, 5
HISTORIES, HISTORY_STEPS = 100, 100
RUNNING = 50


class Rest:
    """Plain HTTP calls, a fresh connection each (MLflow's uvicorn stalls kept-alive requests)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.headers = {"Connection": "close"}

    def post(self, path: str, body: dict) -> dict:
        response = requests.post(f"{self.uri}{API}{path}", json=body, headers=self.headers, timeout=30)
        response.raise_for_status()
        return response.json()

    def get(self, path: str, params: dict) -> dict:
        response = requests.get(f"{self.uri}{API}{path}", params=params, headers=self.headers, timeout=30)
        response.raise_for_status()
        return response.json()


def seed(rest: Rest, runs: int) -> dict:
    experiment_ids = [
        rest.post("/experiments/create", {"name": f"bench-{i}"})["experiment_id"] for i in range(EXPERIMENTS)
    ]
    now_ms = int(time.time() * 1000)
    day_ms = 86_400_000

    def one(i: int) -> tuple[str, str]:
        experiment_id = experiment_ids[i % EXPERIMENTS]
        start = now_ms - day_ms + i * (day_ms // (runs + 1))
        run_id = rest.post(
            "/runs/create", {"experiment_id": experiment_id, "start_time": start, "run_name": f"run-{i}"}
        )["run"]["info"]["run_id"]
        metrics = [{"key": f"m{k}", "value": random.random(), "timestamp": start, "step": 0} for k in range(5)]
        if i < HISTORIES:
            metrics += [
                {"key": "loss", "value": 1 / (s + 1), "timestamp": start + s, "step": s} for s in range(HISTORY_STEPS)
            ]
        rest.post(
            "/runs/log-batch",
            {
                "run_id": run_id,
                "params": [{"key": f"p{k}", "value": str(random.randint(0, 99))} for k in range(5)],
                "metrics": metrics,
                "tags": [{"key": "mlflow.source.git.commit", "value": f"{i:040x}"}],
            },
        )
        running = i >= runs - RUNNING  # the newest runs are still running
        if not running:
            rest.post("/runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": start + 60_000})
        return run_id, "RUNNING" if running else "FINISHED"

    with ThreadPoolExecutor(4) as pool:
        created = list(pool.map(one, range(runs)))
    for m in range(MODELS):
        name = f"bench-model-{m}"
        rest.post("/registered-models/create", {"name": name})
        for v in range(VERSIONS):
            run_id = created[(m * VERSIONS + v) % len(created)][0]
            rest.post("/model-versions/create", {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id})
        rest.post("/registered-models/alias", {"name": name, "alias": "champion", "version": "1"})
    return {
        "experiment_ids": experiment_ids,
        "runs": [run_id for run_id, _ in created],
        "running": [run_id for run_id, state in created if state == "RUNNING"],
    }


def floor_read(rest: Rest, experiment_ids: list[str]) -> dict[str, int]:
    """Everything a sync must read, paged through the REST API at the servers' page maximums."""
    counts = {"experiments": 0, "runs": 0, "models": 0, "versions": 0}
    counts["experiments"] = len(
        rest.post("/experiments/search", {"max_results": 50000, "view_type": "ALL"})["experiments"]
    )
    token = None
    while True:
        body = {"experiment_ids": experiment_ids, "max_results": 50000, "run_view_type": "ALL"}
        if token:
            body["page_token"] = token
        page = rest.post("/runs/search", body)
        counts["runs"] += len(page.get("runs", []))
        if not (token := page.get("next_page_token")):
            break
    counts["models"] = len(rest.get("/registered-models/search", {"max_results": 1000}).get("registered_models", []))
    counts["versions"] = len(rest.get("/model-versions/search", {"max_results": 10000}).get("model_versions", []))
    return counts


def timed(function, repeat: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    from registry.mirror.services import metric_histories
    from registry.mirror.sync import sync_execute
    from registry.models import MetricHistory, Run, SyncRun

    mlflow_dir = Path(tempfile.mkdtemp(prefix="portal-bench-mlflow-"))
    with contextlib.ExitStack() as cleanup:  # unwound in reverse: the server stops, then its files go
        cleanup.callback(shutil.rmtree, VAR_DIR, ignore_errors=True)
        cleanup.callback(shutil.rmtree, mlflow_dir, ignore_errors=True)
        log = cleanup.enter_context(open(mlflow_dir / "server.log", "wb"))
        uri = cleanup.enter_context(mlflow_server_running(backend_dir=mlflow_dir, log=log))
        settings.MLFLOW_TRACKING_URI = uri
        call_command("migrate", verbosity=0)
        rest = Rest(uri)
        started = time.perf_counter()
        seeded = seed(rest, ARGS.runs)
        print(
            f"Seeded {ARGS.runs} runs in {EXPERIMENTS} experiments, {HISTORIES} histories of {HISTORY_STEPS} steps, "
            f"{MODELS} models x {VERSIONS} versions in {time.perf_counter() - started:.1f} s "
            f"(database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]})"
        )

        floor, counts = timed(lambda: floor_read(rest, seeded["experiment_ids"]), ARGS.repeat)
        print(f"(a) floor, REST paging of {counts}: {floor:.3f} s")

        def sync(kind: str) -> SyncRun:
            result = sync_execute(kind=kind)
            assert result.status == SyncRun.Status.SUCCEEDED, result.error
            return result

        full, first = timed(lambda: sync(SyncRun.Kind.FULL))
        assert Run.objects.count() == ARGS.runs
        print(f"(b) full sync into an empty mirror: {full:.3f} s  ratio (b)/(a) = {full / floor:.2f}  (goal <= 1.5)")
        print(f"    changes: {first.counts}")
        again, _ = timed(lambda: sync(SyncRun.Kind.FULL))
        print(f"    full reconcile, nothing changed: {again:.3f} s  ratio to (a) = {again / floor:.2f}")

        idle, result = timed(lambda: sync(SyncRun.Kind.INCREMENTAL), ARGS.repeat)
        changes = sum(sum(kind.values()) for kind in result.counts.values())
        print(f"(c) incremental, nothing changed: {idle:.3f} s  ({changes} changes; goal <= 0.2 s)")

        now_ms = int(time.time() * 1000)
        for run_id in seeded["running"]:
            rest.post("/runs/log-metric", {"run_id": run_id, "key": "m0", "value": 2.0, "timestamp": now_ms, "step": 1})
            rest.post("/runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": now_ms})
        if os.environ.get("BENCH_PROFILE"):
            import cProfile

            cProfile.runctx("sync(SyncRun.Kind.INCREMENTAL)", globals(), locals(), sort="cumulative")
        changed, result = timed(lambda: sync(SyncRun.Kind.INCREMENTAL))
        print(
            f"(d) incremental after {len(seeded['running'])} changed runs: {changed:.3f} s  "
            f"(runs updated: {result.counts['runs']['updated']}; goal <= 0.5 s)"
        )

        runs = [run for run in Run.objects.all() if "loss" in run.metrics][:HISTORIES]
        cold, _ = timed(lambda: [metric_histories(run=run, keys=["loss"]) for run in runs])
        warm, _ = timed(lambda: [metric_histories(run=run, keys=["loss"]) for run in runs])
        print(
            f"    {len(runs)} metric histories fetched on demand: {cold:.3f} s, then from the cache: {warm:.3f} s "
            f"({MetricHistory.objects.count()} cached)"
        )


if __name__ == "__main__":
    main()
