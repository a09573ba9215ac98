"""Scorecard recomputation and the portfolio page, against floors, measured in one run.

Seeds a throwaway SQLite database with N projects (default 200), each with answers to the attested
criteria and, when the registry mirror models exist, 30 mirrored runs and 3 model versions. Then:
- recomputes every scorecard (gather evidence, score 38 criteria, store a snapshot), against the floor
  of reading the same project's answers and runs without scoring them;
- recomputes again when nothing changed (no snapshot written);
- times the portfolio page and API (latest snapshot plus 30/90-day ones per project) against the
  login page, like bench/pages.py.

    .venv/bin/python bench/scorecard.py [--projects 200] [--requests 50]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
VAR_DIR = tempfile.mkdtemp(prefix="portal-bench-")
os.environ["PORTAL_VAR_DIR"] = VAR_DIR
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlopsportal.settings")

import django  # noqa: E402

django.setup()

from django.apps import apps  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

settings.STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
settings.ALLOWED_HOSTS = ["*"]


def has_mirror() -> bool:
    try:
        apps.get_model("registry", "Run")
    except LookupError:
        return False
    return True


def seed(n_projects: int) -> dict[str, object]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from assessments.models import AttestedAnswer, Criterion
    from registry.models import Project
    from registry.roles import Role

    call_command("migrate", verbosity=0)
    user_model = get_user_model()
    manager = user_model.objects.create_user("bench-manager", password="x")
    manager.groups.add(Group.objects.get(name=Role.MANAGER.value))
    engineer = user_model.objects.create_user("bench-engineer", password="x")
    projects = Project.objects.bulk_create(
        [Project(name=f"Project {i:04d}", slug=f"project-{i:04d}", team=f"Team {i % 8}") for i in range(n_projects)]
    )
    attested = list(Criterion.objects.filter(kind="attested"))
    now = timezone.now()
    statuses = ["met", "met", "partly", "not_met", "na"]
    AttestedAnswer.objects.bulk_create(
        [
            AttestedAnswer(
                project=p,
                criterion=c,
                status=statuses[(i + j) % len(statuses)],
                evidence_url="https://wiki.example.com/x",
                answered_by=engineer,
                answered_at=now - timedelta(days=(i * j) % 200),
            )
            for i, p in enumerate(projects)
            for j, c in enumerate(attested)
            if (i + j) % 4
        ]
    )
    if has_mirror():
        seed_mirror(projects, now)
    return {"manager": manager, "projects": projects}


def seed_mirror(projects: list, now) -> None:
    Experiment = apps.get_model("registry", "Experiment")
    Run = apps.get_model("registry", "Run")
    RegisteredModel = apps.get_model("registry", "RegisteredModel")
    ModelVersion = apps.get_model("registry", "ModelVersion")
    experiments = Experiment.objects.bulk_create(
        [Experiment(mlflow_id=str(i), name=f"exp-{i}", project=p) for i, p in enumerate(projects)]
    )
    Run.objects.bulk_create(
        [
            Run(
                run_id=f"{i:04d}{k:04d}",
                experiment=e,
                name=f"run-{k}",
                status="FINISHED",
                start_time=now - timedelta(days=3 * k),
                params={"lr": "0.1"},
                metrics={"auc": 0.8},
                git_commit="abc" if k % 5 else "",
                datasets=[{"name": "train", "digest": "d1"}],
                source_type="JOB",
            )
            for i, e in enumerate(experiments)
            for k in range(30)
        ]
    )
    models = RegisteredModel.objects.bulk_create(
        [RegisteredModel(name=f"model-{i}", project=p, aliases={"champion": 3}) for i, p in enumerate(projects)]
    )
    ModelVersion.objects.bulk_create(
        [
            ModelVersion(
                registered_model=m,
                version=v,
                signature_inputs=[{"name": "x", "type": "double", "required": True}],
                aliases=["champion"] if v == 3 else [],
                created_at=now,
            )
            for m in models
            for v in (1, 2, 3)
        ]
    )


def timed(fn, repeat: int = 1) -> list[float]:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - start)
    return timings


def measure_page(client: Client, url: str, n: int) -> tuple[list[float], int]:
    for _ in range(3):
        assert client.get(url).status_code == 200, url
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    count = len(queries)
    return timed(lambda: client.get(url), n), count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    from assessments import selectors, services
    from assessments.models import AttestedAnswer, ScorecardSnapshot

    fixtures = seed(args.projects)
    projects = fixtures["projects"]
    specs = selectors.criterion_specs()
    Run = apps.get_model("registry", "Run") if has_mirror() else None

    def floor_pass() -> None:
        for p in projects:
            list(AttestedAnswer.objects.filter(project=p))
            if Run is not None:
                list(Run.objects.filter(experiment__project=p))

    def recompute_pass() -> None:
        for p in projects:
            services.scorecard_recompute(project_id=p.pk, specs=specs)

    floor = min(timed(floor_pass, 3))
    first = timed(recompute_pass)[0]
    stored = ScorecardSnapshot.objects.count()
    unchanged = min(timed(recompute_pass, 2))
    assert ScorecardSnapshot.objects.count() == stored  # nothing changed, nothing stored
    print(f"Scorecards: {args.projects} projects, {len(specs)} criteria, mirror data: {'yes' if Run else 'no'}")
    print(f"{'pass':<52} {'total s':>8} {'ms/project':>11} {'x floor':>8}")
    for label, seconds in [
        ("floor: read answers and runs, no scoring", floor),
        ("recompute, every snapshot new", first),
        ("recompute, nothing changed (no write)", unchanged),
    ]:
        print(f"{label:<52} {seconds:>8.2f} {seconds / args.projects * 1e3:>11.2f} {seconds / floor:>8.1f}")

    anonymous, manager = Client(), Client()
    manager.force_login(fixtures["manager"])
    login, login_q = measure_page(anonymous, "/login/", args.requests)
    login_median = statistics.median(login)
    print(f"\nPages, {args.requests} requests each, in-process, {connection.vendor}")
    print(f"{'page':<52} {'median ms':>10} {'queries':>8} {'x floor':>8}")
    print(f"{'floor: login page':<52} {login_median * 1e3:>10.2f} {login_q:>8} {1:>8.1f}")
    for label, url in [
        (f"portfolio page ({args.projects} projects, heatmap)", "/assessments/"),
        ("portfolio API", "/api/v1/assessments/portfolio/"),
        ("portfolio CSV", "/assessments/portfolio.csv"),
        ("scorecard page (computed live)", f"/assessments/{projects[0].slug}/"),
    ]:
        timings, queries = measure_page(manager, url, args.requests)
        median = statistics.median(timings)
        print(f"{label:<52} {median * 1e3:>10.2f} {queries:>8} {median / login_median:>8.1f}")


if __name__ == "__main__":
    main()
