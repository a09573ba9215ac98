"""Throughput of the promotion gate against a floor, measured in one run.

Starts a real MLflow server (SQLite backend, one worker) and a throwaway SQLite portal database,
registers a model with two versions, then alternates the `champion` alias between them:

- floor: MLflow's own client, `MlflowClient.set_registered_model_alias` (one REST call);
- portal client: the portal's REST client setting the alias (`MlflowRestClient.alias_set`);
- gate: a full promotion through the portal's services: request (checks run, audit, snapshot),
  approve (row lock, decision, outbox, audit), promote (read the alias in MLflow, set it, mark
  promoted, update the mirror, supersede, audit). The Celery hop is left out: the task is a thin
  call to the same service, and broker latency is the broker's.

Also times the queue and review pages with the history the run leaves behind. Prints medians,
promotions per second and the ratio to the floor.

    .venv/bin/python bench/gate.py [--promotions 100]
"""

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
VAR_DIR = tempfile.mkdtemp(prefix="portal-bench-gate-")
os.environ["PORTAL_VAR_DIR"] = VAR_DIR
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlopsportal.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from mlopsportal.demo.mlflow_server import mlflow_server_running  # noqa: E402

settings.STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
settings.ALLOWED_HOSTS = ["*"]
settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def median_ms(timings: list[float]) -> float:
    return statistics.median(timings) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--promotions", type=int, default=100)
    n = parser.parse_args().promotions

    with contextlib.ExitStack() as cleanup:  # unwound in reverse: the server stops, then its files go
        cleanup.callback(shutil.rmtree, VAR_DIR, ignore_errors=True)
        uri = cleanup.enter_context(mlflow_server_running(backend_dir=Path(VAR_DIR), seconds=90))
        settings.MLFLOW_TRACKING_URI = uri
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from mlflow import MlflowClient

        from registry.mirror.sync import sync_execute
        from registry.mlflow_client import MlflowRestClient
        from registry.models import SyncRun
        from registry.promotions import outbox
        from registry.promotions.decisions import promotion_approve
        from registry.promotions.models import PromotionPolicy
        from registry.promotions.outbox import promotion_execute
        from registry.promotions.requests import promotion_request_create
        from registry.roles import Role

        call_command("migrate", verbosity=0)
        mlflow = MlflowClient(tracking_uri=uri, registry_uri=uri)
        experiment = mlflow.create_experiment("bench-gate")
        name = "bench-model"
        mlflow.create_registered_model(name)
        for auc in (0.80, 0.81):
            run = mlflow.create_run(experiment)
            mlflow.log_metric(run.info.run_id, "auc", auc)
            mlflow.set_terminated(run.info.run_id)
            mlflow.create_model_version(name, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
        mlflow.set_registered_model_alias(name, "champion", "1")
        assert sync_execute(kind=SyncRun.Kind.FULL).status == SyncRun.Status.SUCCEEDED
        # Tolerance wide enough that both versions pass the metric check in both directions.
        PromotionPolicy.objects.create(metric_name="auc", metric_tolerance=0.05, signature_check=False)
        users = get_user_model().objects
        engineer = users.create_user("bench-engineer", email="e@example.com")
        engineer.groups.add(Group.objects.get(name=Role.ENGINEER.value))
        reviewer = users.create_user("bench-reviewer", email="r@example.com")
        reviewer.groups.add(Group.objects.get(name=Role.REVIEWER.value))
        outbox.promotion_dispatch = lambda request_id: None  # promote synchronously below, no broker

        floor = []
        for i in range(n):
            start = time.perf_counter()
            mlflow.set_registered_model_alias(name, "bench-floor", str(1 + i % 2))
            floor.append(time.perf_counter() - start)

        portal_client = MlflowRestClient()
        client_times = []
        for i in range(n):
            start = time.perf_counter()
            portal_client.alias_set(name=name, alias="bench-client", version=1 + i % 2)
            client_times.append(time.perf_counter() - start)

        gate, parts = [], {"request": [], "approve": [], "promote": []}
        for i in range(n):
            version = 2 if i % 2 == 0 else 1  # the version that does not hold @champion
            t0 = time.perf_counter()
            promotion = promotion_request_create(
                requester=engineer, model_name=name, version=version, target_alias="champion", justification="bench"
            )
            t1 = time.perf_counter()
            promotion_approve(request_id=promotion.pk, reviewer=reviewer)
            t2 = time.perf_counter()
            done = promotion_execute(request_id=promotion.pk)
            t3 = time.perf_counter()
            assert done is not None and done.state == "promoted"
            gate.append(t3 - t0)
            parts["request"].append(t1 - t0)
            parts["approve"].append(t2 - t1)
            parts["promote"].append(t3 - t2)
        assert int(mlflow.get_model_version_by_alias(name, "champion").version) == (2 if n % 2 else 1)

        web = Client()
        web.force_login(reviewer)
        pages = {}
        for label, url in (
            ("queue (history)", "/promotions/?state=all"),
            ("review page", f"/promotions/{promotion.pk}/"),
        ):
            for _ in range(5):
                assert web.get(url).status_code == 200
            timings = []
            for _ in range(50):
                start = time.perf_counter()
                web.get(url)
                timings.append(time.perf_counter() - start)
            pages[label] = median_ms(timings)

        floor_ms = median_ms(floor)
        print(f"MLflow {uri}, {n} alias changes each, SQLite portal database")
        print("Compare the ratios: absolute times follow the machine and its load.")
        print(f"{'step':<44}{'median ms':>12}{'per second':>12}{'x floor':>10}")
        rows = [
            ("floor: MlflowClient.set_registered_model_alias", floor_ms),
            ("portal MlflowRestClient.alias_set", median_ms(client_times)),
            ("gate: request + approve + promote", median_ms(gate)),
            ("  request (checks, snapshot, audit)", median_ms(parts["request"])),
            ("  approve (lock, decision, outbox, audit)", median_ms(parts["approve"])),
            ("  promote (read alias, set, record)", median_ms(parts["promote"])),
        ]
        for label, ms in rows:
            print(f"{label:<44}{ms:>12.1f}{1000 / ms:>12.1f}{ms / floor_ms:>10.2f}")
        for label, ms in pages.items():
            print(f"{'page: ' + label:<44}{ms:>12.1f}{'':>12}{ms / floor_ms:>10.2f}")


if __name__ == "__main__":
    main()
