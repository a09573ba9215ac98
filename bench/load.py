"""Load: 50 simulated users for 10 minutes against the real stack, with the issue's targets, in one run.

Starts a stack of its own on loopback (bench/stack.py): a PostgreSQL database `portal_bench_load_*`
on the running server (dropped afterwards), its own Celery queue on the Redis at 6379, gunicorn with
`make run`'s configuration and two Celery workers (one process each). Seeds the database at
realistic size with bulk_create, in two stages so query counts can be compared between data sizes:

    stage   projects  runs   monitors x windows x features   promotion requests (decided + pending)
    small   40        200    10 x 18 x 25                    400 + 320
    full    200       5,000  50 x 90 x 25                    2,000 + 1,600

Each stage's rows are cloned from objects the portal's own services made (a reference profile of 25
features, one real drift job's results, one real promotion request), so the pages read real shapes.
After each stage every page kind is requested in-process with Django's test client under
CaptureQueriesContext: the query count must not change from the small to the full stage.

Then Locust (its library API, headless, in this process) runs `--users` users for `--minutes`:
managers read the portfolio, scorecards and project pages; reviewers open the queue and requests and
reject pending ones (approving would call MLflow, which this stack does not run); engineers browse
experiments, runs, monitors and the monitor's drift, schema, alerts and jobs pages, and now and then
queue a drift job for today's window of a monitor that receives traffic; 20 serving systems (one per
monitor) post Parquet batches of 1,000 rows x 25 features every 5 s with `Authorization: Bearer`.
A poller reads the batches' status from the database to time each batch from its 201 to "binned".

Prints reads p50/p95, writes p95, the error rate, ingest-to-binned p95 against the issue's targets
(ratio = measured / target, below 1 meets it), per-request-kind figures, the web and worker RSS at
start, middle and end, and the query counts per page at both sizes.

About 13 minutes in all with the defaults (2 of seeding), too long for `make bench`; figures and
bottlenecks in README.md, Performance. gunicorn reads GUNICORN_CMD_ARGS, so other web settings can
be tried without changing `make run`'s, e.g. GUNICORN_CMD_ARGS="--threads 8".

    .venv/bin/python bench/load.py                         # 10 minutes, 50 users (the issue's run)
    .venv/bin/python bench/load.py --minutes 1.5 --users 30  # a short run for trying
    .venv/bin/python bench/load.py --minutes 5 --users 25 --serving 10  # half the traffic
"""

# Locust patches the standard library for gevent on import: before anything opens a socket.
from locust import HttpUser, between, constant_pacing, events, task  # noqa: I001  (first on purpose)
from locust.env import Environment

import argparse
import collections
import datetime as dt
import io
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import gevent
import gevent.event
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import (  # noqa: E402
    cpu_seconds,
    machine_cpu_seconds,
    portal_processes,
    postgres_database,
    redis_queue_cleanup,
    rss_mb,
)

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--minutes", type=float, default=10.0, help="Length of the load phase (default 10).")
parser.add_argument(
    "--users", type=int, default=50, help="Simulated users, --serving of them serving systems (default 50)."
)
parser.add_argument(
    "--serving",
    type=int,
    default=20,
    help="Serving systems among the users, each posting a batch every 5 s (default 20).",
)
parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (default 2).")
ARGS = parser.parse_args()

WEB_CONFIG = "2 workers x 4 threads"  # mlopsportal/demo/management/commands/runlocal.py, _gunicorn_argv
TARGETS = {"reads p95 ms": 300.0, "writes p95 ms": 500.0, "error rate %": 0.1, "ingest-to-binned p95 s": 5.0}
SERVING_MONITORS = ARGS.serving
BATCH_ROWS = 1000
BATCH_EVERY_SECONDS = 5.0
NUMERIC = [f"num_{i:02d}" for i in range(20)]
CATEGORICAL = [f"cat_{i}" for i in range(5)]
SCHEMA = [{"name": n, "type": "float", "required": True} for n in NUMERIC] + [
    {"name": n, "type": "string", "required": True} for n in CATEGORICAL
]
PARQUET = "application/vnd.apache.parquet"
PASSWORD = "load-bench-" + uuid.uuid4().hex[:8]
QUEUE = f"bench-load-{uuid.uuid4().hex[:8]}"
VAR_DIR = Path(tempfile.mkdtemp(prefix="portal-bench-load-"))


# ---------------------------------------------------------------- data


def frame_of(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {n: rng.normal(shift * (i % 4 == 0), 1 + i / 10, rows) for i, n in enumerate(NUMERIC)}
    cats = np.array(["a", "b", "c", "d", "e"], dtype=object)
    data |= {n: rng.choice(cats, rows) for n in CATEGORICAL}
    return pd.DataFrame(data)


def to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue()


def midnight(days_ago: int) -> dt.datetime:
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=days_ago)


@dataclass
class Seeded:
    """What the load phase needs: who signs in, which URLs to read, what to decide and post to."""

    managers: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    engineers: list[str] = field(default_factory=list)
    project_slugs: list[str] = field(default_factory=list)
    experiment_ids: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    monitor_ids: list[int] = field(default_factory=list)
    pending_requests: collections.deque = field(default_factory=collections.deque)
    ingest: list[tuple[int, str]] = field(default_factory=list)  # (monitor id, ingest key)
    editable: dict[str, list[int]] = field(default_factory=dict)  # engineer -> serving monitors of their projects
    counts: dict[str, int] = field(default_factory=dict)


class Seeder:
    """Bulk-inserts the portal's data in stages; each stage adds to the objects of the last."""

    RUNS_PER_EXPERIMENT = 25
    VERSIONS = 5
    HISTORY_PER_MODEL = 10

    def __init__(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.hashers import make_password
        from django.contrib.auth.models import Group

        from registry.roles import Role

        self.User = get_user_model()
        self.password_hash = make_password(PASSWORD)  # hashed once, shared by every seeded user
        self.users: dict[str, list] = {}
        for role, count in ((Role.MANAGER, 10), (Role.REVIEWER, 10), (Role.ENGINEER, 20)):
            names = [f"load-{role.value.lower()}-{i:02d}" for i in range(count)]
            made = self.User.objects.bulk_create(
                [self.User(username=n, password=self.password_hash, email=f"{n}@example.com") for n in names]
            )
            Group.objects.get(name=role.value).user_set.add(*made)
            self.users[role.value] = made
        self.projects: list = []
        self.experiments: list = []
        self.models: list = []
        self.versions: dict[int, list] = {}  # by model pk
        self.monitors: list = []
        self.runs_made: dict[int, int] = {}  # runs per experiment pk
        self.windows_made: dict[int, int] = {}  # windows per monitor pk
        self.reference = None
        self.run_template = None
        self.request_template = None
        self.ingest_keys: dict[int, str] = {}

    # ---- stage entry

    def stage(self, *, projects: int, runs_per_experiment: int, windows: int) -> None:
        from assessments import selectors as assessment_selectors
        from assessments import services as assessment_services

        started = len(self.projects)
        self._projects(started, projects)
        new_projects = self.projects[started:]
        self._runs(runs_per_experiment)
        self._monitors(new_projects)
        self._windows(windows)
        self._promotions(self.models[started:])
        specs = assessment_selectors.criterion_specs()
        for project in self.projects:
            assessment_services.scorecard_recompute(project_id=project.pk, specs=specs)

    # ---- projects, mirror, answers

    def _projects(self, lo: int, hi: int) -> None:
        from assessments.models import AttestedAnswer, Criterion
        from registry.models import Experiment, ModelVersion, Project, ProjectMembership, RegisteredModel

        now = dt.datetime.now(dt.UTC)
        projects = Project.objects.bulk_create(
            [Project(name=f"Load project {i:03d}", slug=f"load-{i:03d}", team=f"Team {i % 12}") for i in range(lo, hi)]
        )
        engineers = self.users["Engineer"]
        ProjectMembership.objects.bulk_create(
            [
                ProjectMembership(project=p, user=engineers[(lo + k + j) % len(engineers)], role=role)
                for k, p in enumerate(projects)
                for j, role in enumerate(("lead", "member", "member"))
            ]
        )
        attested = list(Criterion.objects.filter(kind="attested"))
        statuses = ["met", "met", "partly", "not_met", "na"]
        AttestedAnswer.objects.bulk_create(
            [
                AttestedAnswer(
                    project=p,
                    criterion=c,
                    status=statuses[(k + j) % len(statuses)],
                    evidence_url="https://wiki.example.com/x",
                    answered_by=engineers[k % len(engineers)],
                    answered_at=now - dt.timedelta(days=(k * j) % 150),
                )
                for k, p in enumerate(projects, start=lo)
                for j, c in enumerate(attested)
                if (k + j) % 4
            ]
        )
        experiments = Experiment.objects.bulk_create(
            [
                Experiment(mlflow_id=f"{1000 + lo + k}", name=f"load-exp-{lo + k:03d}", project=p)
                for k, p in enumerate(projects)
            ]
        )
        models = RegisteredModel.objects.bulk_create(
            [
                RegisteredModel(name=f"load-model-{lo + k:03d}", project=p, aliases={"champion": 1})
                for k, p in enumerate(projects)
            ]
        )
        versions = ModelVersion.objects.bulk_create(
            [
                ModelVersion(
                    registered_model=m,
                    version=v,
                    status="READY",
                    source=f"models:/m-{m.pk}-{v}",
                    signature_inputs=SCHEMA,
                    signature_read=True,
                    aliases=["champion"] if v == 1 else [],
                    created_at=now - dt.timedelta(days=30 - v),
                )
                for m in models
                for v in range(1, self.VERSIONS + 1)
            ]
        )
        for version in versions:
            self.versions.setdefault(version.registered_model_id, []).append(version)
        self.projects += projects
        self.experiments += experiments
        self.models += models

    def _runs(self, per_experiment: int) -> None:
        from registry.models import Run

        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        rows = []
        for e in self.experiments:
            have = self.runs_made.get(e.pk, 0)
            for k in range(have, per_experiment):
                rows.append(
                    Run(
                        run_id=f"{int(e.mlflow_id):08x}{k:024x}",
                        experiment=e,
                        name=f"run-{k}",
                        status=Run.Status.FINISHED,
                        start_time=start + dt.timedelta(hours=k),
                        end_time=start + dt.timedelta(hours=k, minutes=20),
                        params={f"p{j}": str((k * j) % 17) for j in range(10)},
                        metrics={f"m{j}": ((k + 1) * (j + 3) % 97) / 97 for j in range(10)},
                        git_commit=f"{k:040x}" if k % 5 else "",
                        datasets=[{"name": "train", "digest": f"d{k % 3}"}],
                        source_type="JOB",
                    )
                )
            self.runs_made[e.pk] = max(have, per_experiment)
        Run.objects.bulk_create(rows, batch_size=2000)

    # ---- monitors and drift results

    def _monitors(self, projects: list) -> None:
        from monitoring.models import Monitor, ReferenceProfile
        from monitoring.services import ingest_tokens, references
        from monitoring.services import monitors as monitor_service

        new = [p for i, p in enumerate(self.projects) if i % 4 == 0 and p in projects]
        if not new:
            return
        if self.reference is None:  # the first monitor's reference profile is made by the portal itself
            first = monitor_service.monitor_create(
                actor=None, project=new[0], name="scoring", model_name=f"load-model-{0:03d}", expected_schema=SCHEMA
            )
            self.reference = references.reference_upload(
                actor=None, monitor_id=first.pk, body=to_parquet(frame_of(5000, seed=1)), fmt="parquet"
            )
            self.monitors.append(first)
            new = new[1:]
        index = {p.pk: i for i, p in enumerate(self.projects)}
        monitors = Monitor.objects.bulk_create(
            [
                Monitor(project=p, name="scoring", model_name=f"load-model-{index[p.pk]:03d}", expected_schema=SCHEMA)
                for p in new
            ]
        )
        ReferenceProfile.objects.bulk_create(
            [
                ReferenceProfile(
                    monitor=m,
                    source=self.reference.source,
                    file_name=self.reference.file_name,
                    rows=self.reference.rows,
                    profile=self.reference.profile,
                    is_current=True,
                )
                for m in monitors
            ]
        )
        self.monitors += monitors
        for monitor in self.monitors[:SERVING_MONITORS]:
            if monitor.pk not in self.ingest_keys:
                self.ingest_keys[monitor.pk] = ingest_tokens.ingest_token_create(actor=None, monitor=monitor).key

    def _template_run(self):
        """One real drift job on the first monitor, for yesterday's window: the shape to clone."""
        from monitoring.models import DriftRun, InferenceBatch
        from monitoring.services import batches, drift_runs

        monitor = self.monitors[0]
        start = midnight(1)
        for part in range(2):
            batches.batch_ingest(
                monitor=monitor,
                body=to_parquet(frame_of(2000, seed=10 + part, shift=0.6)),
                fmt="parquet",
                received_at=start + dt.timedelta(hours=3 + part),
                bin_in_background=False,
            )
        for batch in InferenceBatch.objects.filter(monitor=monitor):
            batches.batch_bin(batch_id=batch.pk)
        drift_runs.drift_run_now(monitor=monitor, window_start=start, trigger=DriftRun.Trigger.SCHEDULE)
        return DriftRun.objects.get(monitor=monitor, window_start=start)

    def _windows(self, per_monitor: int) -> None:
        from monitoring.models import Alert, DriftRun, FeatureDriftResult, ReferenceProfile

        if self.run_template is None:
            self.run_template = self._template_run()
            self.windows_made[self.monitors[0].pk] = 1
        template = self.run_template
        results = list(template.results.all())
        references = dict(ReferenceProfile.objects.filter(is_current=True).values_list("monitor_id", "pk"))
        runs = []
        for monitor in self.monitors:
            have = self.windows_made.get(monitor.pk, 0)
            for day in range(have + 1, per_monitor + 1):
                start = midnight(day)
                runs.append(
                    DriftRun(
                        monitor=monitor,
                        window_start=start,
                        window_end=start + dt.timedelta(days=1),
                        status=DriftRun.Status.DONE,
                        trigger=DriftRun.Trigger.SCHEDULE,
                        reference_id=references[monitor.pk],
                        claimed_at=start + dt.timedelta(days=1, minutes=5),
                        finished_at=start + dt.timedelta(days=1, minutes=6),
                        attempts=1,
                        rows=template.rows,
                        batches=template.batches,
                        drifted=day % 7 == 0,
                        drifted_share=template.drifted_share if day % 7 == 0 else 0.0,
                        why=template.why,
                        volume=template.volume,
                    )
                )
            self.windows_made[monitor.pk] = max(have, per_monitor)
        runs = DriftRun.objects.bulk_create(runs, batch_size=2000)
        FeatureDriftResult.objects.bulk_create(
            [
                FeatureDriftResult(
                    run=run,
                    feature=r.feature,
                    kind=r.kind,
                    role=r.role,
                    method=r.method,
                    statistic=r.statistic,
                    p_value=r.p_value,
                    threshold=r.threshold,
                    drifted=r.drifted and run.drifted,
                    reference_n=r.reference_n,
                    current_n=r.current_n,
                    why=r.why,
                    scores=r.scores,
                )
                for run in runs
                for r in results
            ],
            batch_size=5000,
        )
        Alert.objects.bulk_create(
            [
                Alert(
                    monitor_id=run.monitor_id,
                    kind=Alert.Kind.WINDOW_DRIFT,
                    window_start=run.window_start,
                    dedupe_key=f"load:{run.monitor_id}:{run.window_start:%Y%m%d}",
                    severity=Alert.Severity.WARNING,
                    status=Alert.Status.RESOLVED if run.window_start < midnight(14) else Alert.Status.OPEN,
                    title=f"Window of {run.window_start:%Y-%m-%d} drifted",
                    run=run,
                )
                for run in runs
                if run.drifted
            ]
        )

    # ---- promotion history and queue

    def _promotions(self, models: list) -> None:
        from registry.promotions.models import PromotionDecision, PromotionRequest, PromotionState
        from registry.promotions.requests import promotion_request_create

        engineers, reviewers = self.users["Engineer"], self.users["Reviewer"]
        if self.request_template is None:  # the portal's own request, for its checks' shape
            model = models[0]
            member = model.project.memberships.first().user
            self.request_template = promotion_request_create(
                requester=member, model_name=model.name, version=2, target_alias="champion", justification="load"
            )
        checks = self.request_template.checks
        now = dt.datetime.now(dt.UTC)
        history, pending = [], []
        for m in models:
            versions = self.versions[m.pk]
            for h in range(self.HISTORY_PER_MODEL):
                version = versions[h % self.VERSIONS]
                promoted = h % 2 == 0
                history.append(
                    PromotionRequest(
                        registered_model=m,
                        model_version=version,
                        target_alias="staging",
                        version=version.version,
                        source=version.source,
                        holder_version=None,
                        state=PromotionState.PROMOTED if promoted else PromotionState.REJECTED,
                        requested_by=engineers[h % len(engineers)],
                        justification="Better on the holdout set.",
                        checks=checks,
                        decided_at=now - dt.timedelta(days=60 - h),
                        promoted_at=now - dt.timedelta(days=60 - h) if promoted else None,
                        reason="" if promoted else "Not enough evidence.",
                    )
                )
            for version in versions[1:]:
                for alias, holder in (("champion", 1), ("challenger", None)):
                    if self.request_template.model_version_id == version.pk and alias == "champion":
                        continue
                    pending.append(
                        PromotionRequest(
                            registered_model=m,
                            model_version=version,
                            target_alias=alias,
                            version=version.version,
                            source=version.source,
                            holder_version=holder,
                            requested_by=engineers[version.pk % len(engineers)],
                            justification="Ready for traffic.",
                            checks=checks,
                        )
                    )
        history = PromotionRequest.objects.bulk_create(history, batch_size=2000)
        PromotionRequest.objects.bulk_create(pending, batch_size=2000)
        PromotionDecision.objects.bulk_create(
            [
                PromotionDecision(
                    request=r,
                    reviewer=reviewers[i % len(reviewers)],
                    requester_id=r.requested_by_id,
                    verdict=PromotionDecision.Verdict.APPROVE
                    if r.state == PromotionState.PROMOTED
                    else PromotionDecision.Verdict.REJECT,
                    comment="ok" if r.state == PromotionState.PROMOTED else "Not enough evidence.",
                    checks=checks,
                    checks_passed=True,
                )
                for i, r in enumerate(history)
            ],
            batch_size=2000,
        )

    # ---- what the load phase reads

    def _editable(self) -> dict[str, list[int]]:
        from monitoring.models import Monitor

        editable: dict[str, list[int]] = {}
        for monitor in Monitor.objects.filter(pk__in=self.ingest_keys).prefetch_related("project__memberships__user"):
            for membership in monitor.project.memberships.all():
                editable.setdefault(membership.user.username, []).append(monitor.pk)
        return editable

    def seeded(self) -> Seeded:
        from registry.models import Run
        from registry.promotions.models import PromotionRequest, PromotionState

        pending = list(
            PromotionRequest.objects.filter(state=PromotionState.PENDING).values_list("pk", "version").order_by("?")
        )
        return Seeded(
            managers=[u.username for u in self.users["Manager"]],
            reviewers=[u.username for u in self.users["Reviewer"]],
            engineers=[u.username for u in self.users["Engineer"]],
            project_slugs=[p.slug for p in self.projects],
            experiment_ids=[e.mlflow_id for e in self.experiments],
            run_ids=list(Run.objects.values_list("run_id", flat=True)),
            monitor_ids=[m.pk for m in self.monitors],
            pending_requests=collections.deque(pending),
            ingest=list(self.ingest_keys.items()),
            editable=self._editable(),
            counts=table_counts(),
        )


def table_counts() -> dict[str, int]:
    from monitoring.models import DriftRun, FeatureDriftResult, Monitor
    from registry.models import Project, Run
    from registry.promotions.models import PromotionRequest

    return {
        "projects": Project.objects.count(),
        "runs": Run.objects.count(),
        "monitors": Monitor.objects.count(),
        "drift windows": DriftRun.objects.count(),
        "feature results": FeatureDriftResult.objects.count(),
        "promotion requests": PromotionRequest.objects.count(),
    }


# ---------------------------------------------------------------- query counts, in-process


def page_urls(seeder: Seeder) -> dict[str, tuple[str, str]]:
    """Each page kind: (role that reads it, URL) on objects that exist from the small stage on."""
    from django.urls import reverse

    from registry.promotions.models import PromotionRequest

    project, experiment, monitor = seeder.projects[0], seeder.experiments[0], seeder.monitors[0]
    run_id = f"{int(experiment.mlflow_id):08x}{0:024x}"
    request = PromotionRequest.objects.filter(registered_model=seeder.models[1], state="pending").first()
    return {
        "portfolio": ("Manager", reverse("assessments:portfolio")),
        "scorecard": ("Manager", reverse("assessments:scorecard", kwargs={"slug": project.slug})),
        "project": ("Manager", reverse("registry:project_detail", kwargs={"slug": project.slug})),
        "promotion queue": ("Reviewer", reverse("registry:promotion_queue")),
        "promotion request": ("Reviewer", reverse("registry:promotion_detail", kwargs={"pk": request.pk})),
        "experiments": ("Engineer", reverse("registry:experiment_list")),
        "experiment": ("Engineer", reverse("registry:experiment_detail", kwargs={"mlflow_id": experiment.mlflow_id})),
        "run": ("Engineer", reverse("registry:run_detail", kwargs={"run_id": run_id})),
        "monitors": ("Engineer", reverse("monitoring:monitor_list")),
        "monitor": ("Engineer", reverse("monitoring:monitor_detail", kwargs={"pk": monitor.pk})),
        "monitor drift": ("Engineer", reverse("monitoring:monitor_drift", kwargs={"pk": monitor.pk})),
        "monitor schema": ("Engineer", reverse("monitoring:monitor_schema", kwargs={"pk": monitor.pk})),
        "monitor alerts": ("Engineer", reverse("monitoring:monitor_alerts", kwargs={"pk": monitor.pk})),
        "monitor jobs": ("Engineer", reverse("monitoring:monitor_jobs", kwargs={"pk": monitor.pk})),
    }


def query_counts(seeder: Seeder) -> dict[str, int]:
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    counts = {}
    # A member of the first project, so its monitor's edit controls are on the page too.
    engineer = seeder.projects[0].memberships.first().user
    users = {"Manager": seeder.users["Manager"][0], "Reviewer": seeder.users["Reviewer"][0], "Engineer": engineer}
    for name, (role, url) in page_urls(seeder).items():
        client = Client()
        client.force_login(users[role])
        client.get(url)  # warm: caches and sessions are not what is measured
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{name} ({url}) answered {response.status_code} in-process")
        counts[name] = len(queries)
    return counts


# ---------------------------------------------------------------- load


@dataclass
class Samples:
    reads: list[float] = field(default_factory=list)  # ms
    writes: list[float] = field(default_factory=list)
    by_name: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    requests: int = 0
    errors: collections.Counter = field(default_factory=collections.Counter)
    posted: dict[int, float] = field(default_factory=dict)  # batch id -> wall time of its 201
    binned_s: list[float] = field(default_factory=list)
    failed_batches: int = 0


SAMPLES = Samples()
CPU: dict[str, float] = {}  # CPU seconds used during the load phase, by whom
SEEDED = Seeded()


@events.request.add_listener
def _on_request(request_type, name, response_time, response_length, exception, **_kw) -> None:
    if name.startswith("login"):
        return  # password hashing at sign-in is neither a read nor a write of the portal's pages
    SAMPLES.requests += 1
    if exception is not None:
        SAMPLES.errors[f"{name}: {str(exception)[:120]}"] += 1
    (SAMPLES.writes if request_type == "POST" else SAMPLES.reads).append(response_time)
    SAMPLES.by_name[f"{request_type} {name}"].append(response_time)


class Person(HttpUser):
    abstract = True
    role = ""
    _signed_in = 0  # users take the seeded accounts of their role in turn
    wait_time = between(2, 6)  # a person reads a page before the next

    def on_start(self) -> None:
        pool = getattr(SEEDED, self.role)
        self.username = name = pool[Person._signed_in % len(pool)]
        Person._signed_in += 1
        self.client.get("/login/", name="login form")
        token = self.client.cookies.get("csrftoken", "")
        self.client.post(
            "/login/",
            data={"username": name, "password": PASSWORD, "csrfmiddlewaretoken": token},
            name="login",
        )

    def csrf(self) -> dict[str, str]:
        return {"X-CSRFToken": self.client.cookies.get("csrftoken", "")}


class Manager(Person):
    role = "managers"
    weight = 8

    @task(3)
    def portfolio(self) -> None:
        self.client.get("/assessments/", name="/assessments/ (portfolio)")

    @task(3)
    def scorecard(self) -> None:
        self.client.get(f"/assessments/{random.choice(SEEDED.project_slugs)}/", name="/assessments/<slug>/")

    @task(2)
    def project(self) -> None:
        self.client.get(f"/projects/{random.choice(SEEDED.project_slugs)}/", name="/projects/<slug>/")


class Reviewer(Person):
    role = "reviewers"
    weight = 6

    @task(2)
    def queue(self) -> None:
        self.client.get("/promotions/", name="/promotions/")

    @task(3)
    def open_and_decide(self) -> None:
        if not SEEDED.pending_requests:
            return
        pk, version = SEEDED.pending_requests.popleft()  # one reviewer per request, as a team would
        self.client.get(f"/promotions/{pk}/", name="/promotions/<pk>/")
        gevent.sleep(random.uniform(1, 3))  # reads the checks
        with self.client.post(
            f"/promotions/{pk}/reject/",
            data={"comment": "Needs a longer holdout run.", "version": version},
            headers=self.csrf(),
            name="/promotions/<pk>/reject/",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"{response.status_code}")


class Engineer(Person):
    role = "engineers"
    weight = 16

    @task(2)
    def experiments(self) -> None:
        self.client.get("/experiments/", name="/experiments/")

    @task(3)
    def experiment(self) -> None:
        self.client.get(f"/experiments/{random.choice(SEEDED.experiment_ids)}/", name="/experiments/<id>/")

    @task(3)
    def run_page(self) -> None:
        self.client.get(f"/runs/{random.choice(SEEDED.run_ids)}/", name="/runs/<run_id>/")

    @task(1)
    def monitors(self) -> None:
        self.client.get("/monitors/", name="/monitors/")

    @task(6)
    def monitor_pages(self) -> None:
        pk = random.choice(SEEDED.monitor_ids)
        for page in random.sample(["", "drift/", "schema/", "alerts/", "jobs/"], 2):
            self.client.get(f"/monitors/{pk}/{page}", name=f"/monitors/<id>/{page}")

    @task(1)
    def run_drift(self) -> None:
        """Queue a drift job for today's window of a monitor under traffic, in one of the user's projects."""
        mine = SEEDED.editable.get(self.username, [])
        if not mine:
            return
        monitor_id = random.choice(mine)
        with self.client.post(
            f"/monitors/{monitor_id}/run-drift/",
            headers=self.csrf(),
            name="/monitors/<id>/run-drift/",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"{response.status_code}")


BODIES: list[bytes] = []


class ServingSystem(HttpUser):
    """One model server posting its traffic to its monitor every few seconds."""

    fixed_count = SERVING_MONITORS
    wait_time = constant_pacing(BATCH_EVERY_SECONDS)
    _next = 0

    def on_start(self) -> None:
        self.monitor_id, self.key = SEEDED.ingest[ServingSystem._next % len(SEEDED.ingest)]
        ServingSystem._next += 1
        gevent.sleep(random.uniform(0, BATCH_EVERY_SECONDS))  # not all in the same second

    @task
    def post_batch(self) -> None:
        with self.client.post(
            f"/api/v1/monitors/{self.monitor_id}/batches/",
            data=random.choice(BODIES),
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": PARQUET},
            name="/api/v1/monitors/<id>/batches/",
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code}: {response.text[:100]}")
                return
            SAMPLES.posted[response.json()["id"]] = time.time()


def poll_binning(stop: gevent.event.Event) -> None:
    """Every 0.25 s, the status of the batches posted and not yet binned, from the database."""
    from monitoring.models import InferenceBatch

    waiting: dict[int, float] = {}
    while not stop.is_set() or (waiting and time.time() - max(waiting.values()) < 30):
        waiting |= SAMPLES.posted
        SAMPLES.posted.clear()
        if waiting:
            for pk, status, binned_at in InferenceBatch.objects.filter(pk__in=list(waiting)).values_list(
                "pk", "status", "binned_at"
            ):
                if status == InferenceBatch.Status.BINNED:
                    posted = waiting.pop(pk)
                    SAMPLES.binned_s.append((binned_at.timestamp() if binned_at else time.time()) - posted)
                elif status == InferenceBatch.Status.FAILED:
                    waiting.pop(pk)
                    SAMPLES.failed_batches += 1
        gevent.sleep(0.25)
    SAMPLES.failed_batches += len(waiting)  # never binned within 30 s of the end


def sample_rss(roots: dict[str, int], into: dict[str, list[tuple[float, float, float]]], stop) -> None:
    """Every 2 s: per role ("web", "worker": both workers together), (seconds since start, largest
    process MB, all processes MB)."""
    started = time.monotonic()
    while not stop.is_set():
        by_role: dict[str, list[float]] = {}
        for name, root in roots.items():
            by_role.setdefault(name.split("-")[0], []).extend(rss_mb(root))
        for role, sizes in by_role.items():
            into.setdefault(role, []).append((time.monotonic() - started, max(sizes, default=0), sum(sizes)))
        gevent.sleep(2)


def cpu_now(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far: web, workers, this process (Locust and the poller), and the machine."""
    cpu: dict[str, float] = {}
    for name, root in roots.items():
        role = name.split("-")[0]
        cpu[role] = cpu.get(role, 0.0) + cpu_seconds(root)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu["bench (Locust)"] = usage.ru_utime + usage.ru_stime
    cpu["machine busy"], cpu["machine total"] = machine_cpu_seconds()
    return cpu


def run_load(base: str, roots: dict[str, int]) -> dict[str, list[tuple[float, float, float]]]:
    env = Environment(user_classes=[Manager, Reviewer, Engineer, ServingSystem], host=base, events=events)
    runner = env.create_local_runner()
    stop = gevent.event.Event()
    rss: dict[str, list[tuple[float, float, float]]] = {}
    pollers = [gevent.spawn(poll_binning, stop), gevent.spawn(sample_rss, roots, rss, stop)]
    cpu_before = cpu_now(roots)
    runner.start(ARGS.users, spawn_rate=max(1, ARGS.users / 20))
    gevent.spawn_later(ARGS.minutes * 60, runner.quit)
    runner.greenlet.join()
    CPU.update({k: v - cpu_before.get(k, 0.0) for k, v in cpu_now(roots).items()})
    stop.set()
    gevent.joinall(pollers, timeout=40)
    return rss


# ---------------------------------------------------------------- report


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(values, q))


def rss_line(series: list[tuple[float, float, float]]) -> str:
    if not series:
        return "-"
    warm = [s for s in series if s[0] >= 30] or series  # after warm-up: every worker has served a request
    start, middle, end = warm[0], warm[len(warm) // 2], warm[-1]
    largest = max(s[1] for s in series)
    growth = end[2] - start[2]
    return (
        f"all processes {start[2]:.0f} / {middle[2]:.0f} / {end[2]:.0f} MB (start/middle/end), "
        f"growth {growth:+.0f} MB ({growth / start[2] * 100:+.1f} %); largest process {largest:.0f} MB"
    )


def report(seeded: Seeded, small: dict[str, int], full: dict[str, int], rss: dict, counts_small: dict) -> None:
    print()
    print(
        f"Load: {ARGS.users} users ({SERVING_MONITORS} serving systems) for {ARGS.minutes:g} min, "
        f"gunicorn as `make run` starts it ({WEB_CONFIG}), {ARGS.workers} Celery workers, "
        f"PostgreSQL + Redis on this machine ({os.cpu_count()} cores, shared with other work)"
    )
    print(f"data, small stage: {counts_small}")
    print(f"data, full stage:  {seeded.counts}")
    errors = sum(SAMPLES.errors.values())
    figures = {
        "reads p95 ms": pct(SAMPLES.reads, 95),
        "writes p95 ms": pct(SAMPLES.writes, 95),
        "error rate %": errors / max(1, SAMPLES.requests) * 100,
        "ingest-to-binned p95 s": pct(SAMPLES.binned_s, 95),
    }
    print()
    print(f"{'measure':<26}{'value':>10}{'target':>10}{'ratio':>8}")
    print(f"{'reads p50 ms':<26}{pct(SAMPLES.reads, 50):>10.0f}{'-':>10}{'-':>8}")
    for name, value in figures.items():
        target = TARGETS[name]
        verdict = "" if value < target else "  MISSED"
        print(f"{name:<26}{value:>10.2f}{target:>10g}{value / target:>8.2f}{verdict}")
    print(
        f"requests {SAMPLES.requests} ({len(SAMPLES.reads)} reads, {len(SAMPLES.writes)} writes), errors {errors}; "
        f"batches binned {len(SAMPLES.binned_s)}, failed or never binned {SAMPLES.failed_batches}; "
        f"ingest-to-binned p50 {pct(SAMPLES.binned_s, 50):.2f} s, max {max(SAMPLES.binned_s, default=0):.2f} s"
    )
    for error, n in SAMPLES.errors.most_common(8):
        print(f"  error x{n}: {error}")
    print()
    print(f"{'request':<44}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for name, values in sorted(SAMPLES.by_name.items(), key=lambda kv: -pct(kv[1], 95)):
        print(f"{name:<44}{len(values):>7}{pct(values, 50):>9.0f}{pct(values, 95):>9.0f}{max(values):>9.0f}")
    print()
    for role in ("web", "worker"):
        print(f"RSS {role}: {rss_line(rss.get(role, []))}")
    if CPU:
        wall = CPU.pop("machine total") / (os.cpu_count() or 1)  # all cores' seconds / cores
        busy = CPU.pop("machine busy")
        ours = sum(CPU.values())
        parts = ", ".join(f"{role} {seconds:.0f} s" for role, seconds in CPU.items())
        cores = os.cpu_count() or 1
        print(
            f"CPU over {wall:.0f} s on {cores} cores: machine busy {busy:.0f} s of {wall * cores:.0f}; "
            f"{parts}; the rest ({busy - ours:.0f} s) is PostgreSQL, Redis and other work on the machine"
        )
    print()
    print(f"{'queries per page':<22}{'small':>7}{'full':>7}")
    for name in small:
        flag = "" if small[name] == full[name] else "  GROWS"
        print(f"{name:<22}{small[name]:>7}{full[name]:>7}{flag}")


# ---------------------------------------------------------------- main


def main() -> int:
    for name in ("DJANGO_STATIC_ROOT", "PORTAL_MEDIA_ROOT"):
        os.environ.pop(name, None)
    for name in [n for n in os.environ if n.startswith(("MLFLOW_", "PORTAL_MONITORING_STORAGE"))]:
        os.environ.pop(name)
    with postgres_database("portal_bench_load") as database_url:
        os.environ |= {
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
            "CELERY_TASK_DEFAULT_QUEUE": QUEUE,
            "PORTAL_VAR_DIR": str(VAR_DIR),
            "DJANGO_SETTINGS_MODULE": "mlopsportal.settings",
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",  # nothing here talks to MLflow; a closed port
            "PYTHONUNBUFFERED": "1",
        }
        try:
            return _run()
        finally:
            redis_queue_cleanup(QUEUE)
            # The raw batches (~500 MB in 10 minutes) and static files go; the stack's log stays.
            for path in VAR_DIR.iterdir():
                if path.name != "stack.log":
                    shutil.rmtree(path) if path.is_dir() else path.unlink()


def _run() -> int:
    import django

    django.setup()
    import logging

    from django.core.management import call_command

    logging.getLogger("axes").setLevel(logging.WARNING)  # a line per in-process sign-in otherwise

    from tests.conftest import free_port

    started = time.monotonic()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    seeder = Seeder()
    seeder.stage(projects=40, runs_per_experiment=5, windows=18)
    counts_small = table_counts()
    small = query_counts(seeder)
    print(f"small stage seeded and its pages counted in {time.monotonic() - started:.0f} s", flush=True)
    seeder.stage(projects=200, runs_per_experiment=Seeder.RUNS_PER_EXPERIMENT, windows=90)
    full = query_counts(seeder)
    seeded = seeder.seeded()
    SEEDED.__dict__.update(seeded.__dict__)
    print(f"seeded in {time.monotonic() - started:.0f} s: {seeded.counts}", flush=True)
    BODIES.extend(to_parquet(frame_of(BATCH_ROWS, seed=100 + i, shift=0.3 * (i % 3))) for i in range(8))

    from django.db import connections

    connections.close_all()
    port = free_port()
    log = VAR_DIR / "stack.log"
    print(f"stack log: {log}", flush=True)
    with portal_processes(port=port, queue=QUEUE, workers=ARGS.workers, log=log) as roots:
        print(f"load: {ARGS.users} users for {ARGS.minutes:g} min against http://127.0.0.1:{port}", flush=True)
        rss = run_load(f"http://127.0.0.1:{port}", roots)
    report(seeded, small, full, rss, counts_small)
    return 0


if __name__ == "__main__":
    sys.exit(main())
