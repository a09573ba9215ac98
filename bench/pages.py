"""Page and API latency of the portal's own views, against a floor, measured in one run.

Seeds a throwaway SQLite database (1,000 projects, 200 users) and times each page through Django's
full request stack (middleware, auth, templates) in-process, so the figures are the portal's own
cost without network noise. The floor is the login page: middleware, session, CSRF and a template,
but no query of ours. Prints median and p95 per page, queries per request, and the ratio to the floor.

    .venv/bin/python bench/pages.py [--requests 200]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
VAR_DIR = tempfile.mkdtemp(prefix="portal-bench-")
os.environ["PORTAL_VAR_DIR"] = VAR_DIR
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlopsportal.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

settings.STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
settings.ALLOWED_HOSTS = ["*"]


def seed() -> dict[str, object]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from registry.models import Project, ProjectMembership
    from registry.roles import Role

    call_command("migrate", verbosity=0)
    user_model = get_user_model()
    users = user_model.objects.bulk_create([user_model(username=f"user{i}") for i in range(200)])
    projects = Project.objects.bulk_create(
        [
            Project(
                name=f"Project {i:04d}",
                slug=f"project-{i:04d}",
                team=f"Team {i % 12}",
                visibility=Project.Visibility.PRIVATE if i % 5 == 0 else Project.Visibility.INTERNAL,
                description="Seeded for the page benchmark.",
            )
            for i in range(1000)
        ]
    )
    ProjectMembership.objects.bulk_create(
        [ProjectMembership(project=p, user=users[(i * 7 + k) % 200]) for i, p in enumerate(projects) for k in range(3)]
    )
    engineer = user_model.objects.create_user("bench-engineer", password="x")
    engineer.groups.add(Group.objects.get(name=Role.ENGINEER.value))
    ProjectMembership.objects.bulk_create([ProjectMembership(project=p, user=engineer) for p in projects[::10]])
    return {"engineer": engineer, "project": projects[10]}


def measure(client: Client, url: str, n: int) -> tuple[list[float], int]:
    for _ in range(5):  # warm caches (templates, URL resolver, connection)
        assert client.get(url).status_code == 200, url
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    query_count = len(queries)  # read now: the next request resets the connection's query log
    timings = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(url)
        timings.append(time.perf_counter() - start)
        assert response.status_code == 200
    return timings, query_count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    n = parser.parse_args().requests
    fixtures = seed()
    anonymous, signed_in = Client(), Client()
    signed_in.force_login(fixtures["engineer"])
    token = signed_in.post("/profile/token/", follow=True)  # noqa: F841 - creates the API token page state

    floor, floor_queries = measure(anonymous, "/login/", n)
    floor_median = statistics.median(floor)
    pages = [
        ("projects list (1,000 projects, page 1)", "/projects/"),
        ("projects list filtered by team", "/projects/?team=Team%203"),
        ("project page", fixtures["project"].get_absolute_url()),
        ("API: projects list", "/api/v1/projects/"),
        ("API: me", "/api/v1/me/"),
        ("profile", "/profile/"),
    ]
    print(f"Portal pages, {n} requests each, in-process, SQLite ({connection.vendor})")
    print(f"{'page':<42} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'x floor':>8}")
    print(
        f"{'floor: login page (no queries of ours)':<42} {floor_median * 1e3:>10.2f} "
        f"{statistics.quantiles(floor, n=20)[18] * 1e3:>8.2f} {floor_queries:>8} {1:>8.1f}"
    )
    for label, url in pages:
        timings, queries = measure(signed_in, url, n)
        median = statistics.median(timings)
        p95 = statistics.quantiles(timings, n=20)[18]
        print(f"{label:<42} {median * 1e3:>10.2f} {p95 * 1e3:>8.2f} {queries:>8} {median / floor_median:>8.1f}")


if __name__ == "__main__":
    main()
