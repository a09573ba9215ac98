"""The mirror's pages and API with thousands of runs, against the login page as floor, in one run.

Seeds a throwaway SQLite database with 5,000 runs (10 params, 10 metrics each) in one experiment
plus 200 more experiments, and 200 registered models with 5 versions each, then times each page
through Django's full request stack in-process. Prints median and p95, queries per request and
the ratio to the floor (the login page: middleware, session, CSRF and a template, no query of ours).

    .venv/bin/python bench/mirror_pages.py [--requests 50]
"""

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["PORTAL_VAR_DIR"] = tempfile.mkdtemp(prefix="portal-bench-mirror-")
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlopsportal.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from bench.pages import measure  # noqa: E402

settings.STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
settings.ALLOWED_HOSTS = ["*"]
RUNS = 5000


def seed() -> dict[str, object]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from registry.models import Experiment, ModelVersion, RegisteredModel, Run
    from registry.roles import Role

    call_command("migrate", verbosity=0)
    engineer = get_user_model().objects.create_user("bench-engineer", password="x")
    engineer.groups.add(Group.objects.get(name=Role.ENGINEER.value))
    experiments = Experiment.objects.bulk_create(
        [Experiment(mlflow_id=str(i), name=f"experiment-{i:03d}") for i in range(201)]
    )
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    runs = Run.objects.bulk_create(
        [
            Run(
                run_id=f"{i:032x}",
                experiment=experiments[0] if i < RUNS else experiments[1 + i % 200],
                name=f"run-{i}",
                status=Run.Status.FINISHED,
                start_time=start + dt.timedelta(minutes=i),
                end_time=start + dt.timedelta(minutes=i + 5),
                params={f"p{k}": str(random.randint(0, 99)) for k in range(10)},
                metrics={f"m{k}": random.random() for k in range(10)},
                git_commit=f"{i:040x}",
            )
            for i in range(RUNS + 1000)
        ],
        batch_size=1000,
    )
    models = RegisteredModel.objects.bulk_create(
        [RegisteredModel(name=f"model-{m:03d}", aliases={"champion": 1}) for m in range(200)]
    )
    ModelVersion.objects.bulk_create(
        [
            ModelVersion(
                registered_model=model,
                version=v + 1,
                run=runs[m * 5 + v],
                run_id=runs[m * 5 + v].run_id,
                status="READY",
                signature_read=True,
                signature_inputs=[{"name": f"f{k}", "type": "double", "required": True} for k in range(20)],
            )
            for m, model in enumerate(models)
            for v in range(5)
        ],
        batch_size=1000,
    )
    return {"engineer": engineer, "experiment": experiments[0], "run": runs[0], "model": models[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50)
    n = parser.parse_args().requests
    fixtures = seed()
    anonymous, signed_in = Client(), Client()
    signed_in.force_login(fixtures["engineer"])
    floor, floor_queries = measure(anonymous, "/login/", n)
    floor_median = statistics.median(floor)
    experiment = fixtures["experiment"].mlflow_id
    pages = [
        ("experiments list (201 experiments)", "/experiments/"),
        (f"experiment page ({RUNS} runs, newest first)", f"/experiments/{experiment}/"),
        ("experiment page sorted by a metric", f"/experiments/{experiment}/?sort=-metrics.m3"),
        ("experiment page, page 50, 4+4 columns", f"/experiments/{experiment}/?page=50&param=p1&metric=m1"),
        ("run page", fixtures["run"].get_absolute_url()),
        ("models list (200 models)", "/models/"),
        ("model page (5 versions, signatures)", fixtures["model"].get_absolute_url()),
        ("API: runs of the experiment", f"/api/v1/runs/?experiment={experiment}"),
        ("API: models (versions nested)", "/api/v1/models/"),
    ]
    print(f"Mirror pages, {n} requests each, in-process, {connection.vendor}")
    print(f"{'page':<44} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'x floor':>8}")
    print(
        f"{'floor: login page':<44} {floor_median * 1e3:>10.2f} "
        f"{statistics.quantiles(floor, n=20)[18] * 1e3:>8.2f} {floor_queries:>8} {1:>8.1f}"
    )
    for label, url in pages:
        timings, queries = measure(signed_in, url, n)
        median = statistics.median(timings)
        p95 = statistics.quantiles(timings, n=20)[18]
        print(f"{label:<44} {median * 1e3:>10.2f} {p95 * 1e3:>8.2f} {queries:>8} {median / floor_median:>8.1f}")


if __name__ == "__main__":
    main()
