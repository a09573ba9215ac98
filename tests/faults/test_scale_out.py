"""Scale-out: two web servers, two Celery workers and one beat on one database and one broker.

Every part is its own process, as in production: two gunicorn servers on two loopback ports, two
`celery worker` processes (distinct hostnames, one pool process each), one `celery beat`, all on one
database (a PostgreSQL database of the test's own when DATABASE_URL names a PostgreSQL server,
else a SQLite file) and one broker (CELERY_BROKER_URL, e.g. Redis, with a queue of the test's own;
else the SQLite-file broker, whose consumers take messages in `BEGIN IMMEDIATE` transactions, so
two workers never take the same one). The real MLflow server of the session is the one both sync.

What must hold, observed:
(a) either web server sees what the other wrote: a batch posted to one is read through the other,
    and a session signed in on one is signed in on the other (no sticky sessions needed);
(b) any task may run on any worker: the same tasks appear in both workers' logs;
(c) beat runs once: each of its firings ran exactly once, on one worker, and no entry fired twice
    in one interval (beat's sync interval is shortened to SYNC_EVERY seconds here);
(d) a drift window queued many times at once, through both servers, is claimed once and has one
    result set; sync passes queued at once through both servers never overlap (the "running"
    SyncRun row is the lock): the contended ones are recorded as skipped.
"""

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
import requests

from mlopsportal.demo.management.commands.runlocal import Command as RunLocal
from tests.conftest import REPO_ROOT, child_environ, free_port, manage_py, stop_process_group
from tests.monitoring.conftest import reference_frame
from tests.waiting import wait_for

from .loopback import observed

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

SYNC_EVERY = 4  # seconds between beat's incremental syncs here (PORTAL_SYNC_INCREMENTAL_SECONDS, 60 by default)
DRIFT_REQUESTS = 16  # "run drift now" for one window, at once, half through each web server
SYNC_REQUESTS = 8  # "sync now" (full), at once, half through each web server
PASSWORD = f"scale-{uuid.uuid4().hex}"

SETUP = f"""
import json
from monitoring.services.ingest_tokens import ingest_token_create
from monitoring.services.monitors import monitor_create
from monitoring.services.references import reference_upload
from registry.services import api_token_rotate
from tests.factories import ProjectFactory, UserFactory
from tests.monitoring.conftest import SCHEMA, reference_frame, to_parquet
admin = UserFactory(username="ops", is_staff=True, is_superuser=True)
admin.set_password({PASSWORD!r})
admin.save()
monitor = monitor_create(actor=None, project=ProjectFactory(name="Scale"), name="scale", model_name="churn",
                         alias="champion", expected_schema=SCHEMA)
reference_upload(actor=None, monitor_id=monitor.pk, body=to_parquet(reference_frame()), fmt="parquet")
print(json.dumps({{"monitor": monitor.pk, "admin": admin.pk,
                  "ingest": ingest_token_create(actor=None, monitor=monitor).key,
                  "api": api_token_rotate(user=admin)}}))
"""

FACTS = """
import json
from monitoring.models import Alert, DriftRun, InferenceBatch
from registry.models import SyncRun, WorkerHeartbeat
from django.db import connection
from django.db.models import Sum
def ts(when):
    return when.timestamp() if when else None
# What the rows cost where it can be read (PostgreSQL: bytes per stored row, compressed, no index).
sizes = {"raw batch files": InferenceBatch.objects.aggregate(bytes=Sum("size_bytes"), rows=Sum("rows"))}
if connection.vendor == "postgresql":
    with connection.cursor() as cursor:
        for table, by in (("monitoring_batchhistogram", "feature"), ("monitoring_featuredriftresult", "kind"),
                          ("monitoring_inferencebatch", "format"), ("registry_syncrun", "status")):
            cursor.execute(f"select {by}, count(*), avg(pg_column_size(t.*))::int from {table} t group by {by}")
            sizes[table] = {key: f"{n} rows, {size} B each" for key, n, size in cursor.fetchall()}
print(json.dumps({
    "drift_runs": [
        {"id": r.pk, "window_start": r.window_start.isoformat(), "status": r.status, "attempts": r.attempts,
         "rows": r.rows, "batches": r.batches, "error": r.error,
         "results": sorted(r.results.values_list("feature", flat=True))}
        for r in DriftRun.objects.all()
    ],
    "syncs": [
        {"kind": s.kind, "status": s.status, "started": ts(s.started_at), "finished": ts(s.finished_at),
         "by": s.requested_by_id, "error": s.error[:300]}
        for s in SyncRun.objects.order_by("started_at", "pk")
    ],
    "heartbeats": sorted(WorkerHeartbeat.objects.values_list("hostname", flat=True)),
    "batches": sorted(InferenceBatch.objects.values_list("status", flat=True)),
    "alerts": sorted(Alert.objects.values_list("dedupe_key", "occurrences")),
    "sizes": sizes,
}))
"""

# Celery's own log lines (worker and beat at INFO).
STAMP = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}):")
RECEIVED = re.compile(r"Task ([\w.]+)\[([0-9a-f-]+)\] received")
# Ended for good: a "retry" line is not an end (a "Sync now" that found another pass running is
# retried, maybe on the other worker, under the same task id).
FINISHED = re.compile(r"Task ([\w.]+)\[([0-9a-f-]+)\] (succeeded|raised|failed)")
# A task that waited in the queue past its `expires` (beat's entries set one) is dropped unrun.
DISCARDED = re.compile(r"Discarding revoked task: ([\w.]+)\[([0-9a-f-]+)\]")
SENT = re.compile(r"Sending due task (\S+) \(([\w.]+)\)")
# Beat's DEBUG line once a firing's message is in the broker. "Sending due task" is written before
# the publish: a beat stopped in between logged a firing that no worker will ever receive.
PUBLISHED = re.compile(r"([\w.]+) sent\. id->([0-9a-f-]+)")


def _database(tmp_path: Path, suffix: str) -> tuple[str, Callable[[], None]]:
    """A database of the test's own: on the PostgreSQL server DATABASE_URL names, else a SQLite file."""
    configured = os.environ.get("DATABASE_URL", "")
    if not configured.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{tmp_path / 'portal.sqlite3'}", lambda: None
    import psycopg

    parsed = urlparse(configured)
    name = f"{parsed.path.lstrip('/') or 'portal'}_scale_{suffix}"
    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with suppress(psycopg.Error), psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunparse(parsed._replace(path=f"/{name}")), drop


def _log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _tasks(text: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """task id -> task name, received, finished (run or dropped) and dropped, from one worker's log."""
    received = {m.group(2): m.group(1) for m in RECEIVED.finditer(text)}
    dropped = {m.group(2): m.group(1) for m in DISCARDED.finditer(text)}
    finished = {m.group(2): m.group(1) for m in FINISHED.finditer(text)} | dropped
    return received, finished, dropped


def _beat_sends(text: str) -> list[tuple[datetime, str, str]]:
    sends = []
    for line in text.splitlines():
        sent, stamp = SENT.search(line), STAMP.search(line)
        if sent and stamp:
            sends.append((datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f"), sent.group(1), sent.group(2)))
    return sends


class Processes:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.running = env, logs, {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=self.env,
            stdout=(self.logs / f"{name}.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running[name] = process
        return process

    def log(self, name: str) -> str:
        return _log(self.logs / f"{name}.log")

    def stop(self, name: str) -> None:
        stop_process_group(self.running.pop(name))

    def stop_all(self) -> None:
        for name in list(self.running):
            with suppress(Exception):
                self.stop(name)


@pytest.fixture
def processes(tmp_path) -> Iterator[Processes]:
    procs = Processes({}, tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()


def test_two_web_servers_and_two_workers_share_one_database_and_broker_and_beat_runs_once(
    mlflow_server, processes, tmp_path, request
):
    suffix = uuid.uuid4().hex[:8]
    database_url, drop_database = _database(tmp_path, suffix)
    env = child_environ(drop={"DATABASE_URL"}, drop_prefixes=("PYTEST_", "DJANGO_")) | {
        "DJANGO_SETTINGS_MODULE": "mlopsportal.settings",
        "DATABASE_URL": database_url,
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "PORTAL_MONITORING_STORAGE_DIR": str(tmp_path / "batches"),  # shared, as object storage would be
        "MLFLOW_TRACKING_URI": mlflow_server.uri,
        "CELERY_TASK_DEFAULT_QUEUE": f"portal-scale-{suffix}",  # nobody else's worker takes ours
        "PORTAL_SYNC_INCREMENTAL_SECONDS": str(SYNC_EVERY),
        "PYTHONUNBUFFERED": "1",
    }
    processes.env = env
    try:
        _scenario(processes, env, tmp_path, request)
    finally:
        processes.stop_all()
        drop_database()


def _scenario(processes: Processes, env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest) -> None:
    def manage(*args: str) -> str:
        return manage_py(env, *args)

    database_url = env["DATABASE_URL"]
    started = time.monotonic()
    manage("migrate", "--no-input", "--verbosity", "0")
    keys = json.loads(manage("shell", "-c", SETUP).strip().splitlines()[-1])
    monitor = keys["monitor"]

    bin_dir = Path(sys.executable).parent
    celery = [sys.executable, "-m", "celery", "-A", "mlopsportal"]
    webs = {}
    for name in ("web-a", "web-b"):
        address = f"127.0.0.1:{free_port()}"
        argv = RunLocal._gunicorn_argv(bin_dir, address)
        argv[argv.index("--workers") + 1] = "1"  # one process each is enough to show two servers
        processes.start(name, argv)
        webs[name] = f"http://{address}"
    hosts = {"worker-a": f"scale-a-{os.getpid()}@127.0.0.1", "worker-b": f"scale-b-{os.getpid()}@127.0.0.1"}
    # The default queue only, as a deployment's general workers (README: Scaling out): on the SQLite
    # broker a worker that also polls the shadow replays' queue takes each task a poll later, and the
    # simultaneous syncs below no longer contend.
    queue = ["--queues", env["CELERY_TASK_DEFAULT_QUEUE"]]
    for name, hostname in hosts.items():
        processes.start(
            name, [*celery, "worker", "--loglevel", "INFO", "--concurrency", "1", "--hostname", hostname, *queue]
        )
        # One after the other: on the embedded SQLite broker, kombu's SQL transport creates a queue's
        # row without guarding against a second worker doing the same at that moment, and the loser
        # exits (UNIQUE constraint failed: kombu_queue.name). Redis, the broker for more than one
        # worker (README: Scaling out), has no such step.
        wait_for(
            lambda name=name: " ready." in processes.log(name),
            timeout=120,
            message=lambda name=name: processes.log(name)[-3000:],
        )
    processes.start("beat", [*celery, "beat", "--loglevel", "DEBUG", "--schedule", str(tmp_path / "beat-schedule")])

    api = {"Authorization": f"Token {keys['api']}"}

    def up(name: str, url: str) -> bool:
        assert processes.running[name].poll() is None, processes.log(name)[-3000:]
        with suppress(requests.RequestException):
            return requests.get(f"{url}/api/v1/monitors/{monitor}/", headers=api, timeout=2).status_code == 200
        return False

    wait_for(
        lambda: all(up(n, u) for n, u in webs.items()) and all(" ready." in processes.log(n) for n in hosts),
        timeout=120,
        message=lambda: "\n".join(processes.log(n)[-1500:] for n in [*webs, *hosts]),
    )
    a, b = webs["web-a"], webs["web-b"]

    # (a) What one web server writes, the other reads: batches, and a signed-in session.
    posted = []
    for i in range(6):
        frame = reference_frame(400, seed=100 + i)
        frame["feature_a"] += 1.5  # drifted, so the window raises alerts too
        answer = requests.post(
            f"{(a, b)[i % 2]}/api/v1/monitors/{monitor}/batches/",
            data=frame.to_csv(index=False),
            headers={"Authorization": f"Bearer {keys['ingest']}", "Content-Type": "text/csv"},
            timeout=60,
        )
        assert answer.status_code == 201, answer.text
        posted.append(answer.json())
    seen_by_b = requests.get(f"{b}/api/v1/monitors/{monitor}/", headers=api, timeout=30).json()
    seen_by_a = requests.get(f"{a}/api/v1/monitors/{monitor}/", headers=api, timeout=30).json()
    latest = max(batch["event_time"] for batch in posted)
    assert seen_by_b["last_batch_at"] == seen_by_a["last_batch_at"] == latest  # the last one went to b

    # Sessions live in the database: signed in through a, the same cookie is signed in on b. (The
    # CSRF cookie is the client's to choose, Django's double-submit check; pages are not rendered
    # here: they need collectstatic's manifest, over a minute to build on this machine.)
    browser = requests.Session()
    csrf = uuid.uuid4().hex
    browser.cookies.set("csrftoken", csrf)
    signed_in = browser.post(
        f"{a}/login/",
        data={"username": "ops", "password": PASSWORD, "csrfmiddlewaretoken": csrf},
        allow_redirects=False,
        timeout=30,
    )
    assert signed_in.status_code == 302 and "sessionid" in browser.cookies, signed_in.text[:500]
    on_b = browser.get(f"{b}/api/v1/monitors/{monitor}/", timeout=30)
    assert on_b.status_code == 200 and on_b.json()["id"] == monitor, on_b.text[:500]

    # (d) One window's drift job asked for many times at once, through both servers.
    window = min(batch["event_time"] for batch in posted)

    def run_drift(i: int) -> requests.Response:
        return requests.post(
            f"{(a, b)[i % 2]}/api/v1/monitors/{monitor}/run-drift/",
            json={"window_start": window},
            headers=api,
            timeout=60,
        )

    def sync_now(i: int) -> requests.Response:
        return requests.post(f"{(a, b)[i % 2]}/api/v1/sync/", json={"full": True}, headers=api, timeout=60)

    with ThreadPoolExecutor(max_workers=8) as pool:
        drift_answers = list(pool.map(run_drift, range(DRIFT_REQUESTS)))
        sync_answers = list(pool.map(sync_now, range(SYNC_REQUESTS)))
    assert [r.status_code for r in drift_answers + sync_answers] == [202] * (DRIFT_REQUESTS + SYNC_REQUESTS), [
        r.text[:300] for r in drift_answers + sync_answers if r.status_code != 202
    ]
    run_ids = {r.json()["id"] for r in drift_answers}
    assert len(run_ids) == 1, run_ids  # one run for the window, however many asked

    def worker_tasks() -> tuple[dict[str, dict[str, str]], ...]:
        received, finished, dropped = {}, {}, {}
        for name in hosts:
            received[name], finished[name], dropped[name] = _tasks(processes.log(name))
        return received, finished, dropped

    def count(task: str, of: dict[str, dict[str, str]]) -> int:
        return sum(1 for tasks in of.values() for name in tasks.values() if name == task)

    def beat_between_ticks() -> bool:  # every firing it logged is in the broker
        log = processes.log("beat")
        return len(SENT.findall(log)) == len(PUBLISHED.findall(log))

    # Beat keeps firing meanwhile: let it publish its 30 s heartbeat, then stop it while it sleeps
    # between ticks (a stop in the middle of a publish would lose that firing, not run it twice).
    wait_for(
        lambda: (
            count("monitoring.tasks.drift_run_execute", worker_tasks()[1]) >= DRIFT_REQUESTS
            and "registry.tasks.worker_heartbeat sent. id->" in processes.log("beat")
            and beat_between_ticks()
        ),
        timeout=150,
        message=lambda: f"drift deliveries not all handled, or no heartbeat: {worker_tasks()[1]}",
    )
    processes.stop("beat")
    beat_log = processes.log("beat")
    sends = _beat_sends(beat_log)
    published = {task_id: task for task, task_id in PUBLISHED.findall(beat_log)}
    # Beat may have woken between the check above and the stop: a firing it logged but did not
    # finish publishing may or may not have reached the broker.
    unconfirmed = len(sends) - len(published)
    fired = Counter(published.values())

    def settled() -> bool:  # every firing and request picked up by a worker, and every task ended
        received, finished, _ = worker_tasks()
        received_ids = set().union(*(received[n] for n in hosts))
        if not set(published) <= received_ids:
            return False
        if count("registry.tasks.mlflow_sync", received) < fired["registry.tasks.mlflow_sync"] + SYNC_REQUESTS:
            return False
        return received_ids <= set().union(*(finished[n] for n in hosts))

    wait_for(settled, timeout=120, message=lambda: f"tasks still running: {worker_tasks()}")
    received, _, dropped = worker_tasks()
    for name in hosts:
        processes.stop(name)
    for name in webs:
        processes.stop(name)
    facts = json.loads(manage("shell", "-c", FACTS).strip().splitlines()[-1])
    elapsed = time.monotonic() - started

    # (b) Any task on any worker: each task went to exactly one worker, and both workers ran tasks
    # of the same kinds. (Which kinds varies: a worker busy with a long full sync of a big MLflow
    # server leaves the drift deliveries to the other; the syncs themselves then reach both.)
    ids_a, ids_b = set(received["worker-a"]), set(received["worker-b"])
    # No task delivered to both, but a retried "Sync now" (its next try is a new delivery).
    assert all(received["worker-a"][i] == "registry.tasks.mlflow_sync" for i in ids_a & ids_b), ids_a & ids_b
    by_worker = {n: Counter(received[n].values()) for n in hosts}
    shared_kinds = set(by_worker["worker-a"]) & set(by_worker["worker-b"])
    assert shared_kinds, by_worker

    # (c) Beat runs once: every firing ran once, on one of the workers; no entry fired twice in one interval.
    ran = Counter({**received["worker-a"], **received["worker-b"]}.values())  # each task id once
    only_beat_sends = {"registry.tasks.worker_heartbeat", "monitoring.tasks.lost_work_sweep"}
    only_beat_sends |= {"registry.promotion_tasks.promotion_outbox_sweep", "monitoring.tasks.drift_schedule"}
    for task in only_beat_sends:
        assert 0 <= ran[task] - fired[task] <= unconfirmed, (task, fired, ran, unconfirmed)
    assert fired["registry.tasks.worker_heartbeat"] >= 1 and fired["registry.tasks.mlflow_sync"] >= 3, fired
    syncs = facts["syncs"]
    beat_syncs = [s for s in syncs if s["by"] is None]
    # Each firing: one pass (run, or skipped when another was running), or dropped unrun when it waited
    # in the queue past its interval (the entry's `expires`: the next firing covers it).
    dropped_syncs = count("registry.tasks.mlflow_sync", dropped)
    beat_syncs_delivered = ran["registry.tasks.mlflow_sync"] - SYNC_REQUESTS
    assert 0 <= beat_syncs_delivered - fired["registry.tasks.mlflow_sync"] <= unconfirmed, (fired, ran)
    assert len(beat_syncs) == beat_syncs_delivered - dropped_syncs
    # Each "Sync now" ran once; one that found another pass running left a "skipped" row and ran after it.
    assert len([s for s in syncs if s["by"] is not None and s["status"] != "skipped"]) == SYNC_REQUESTS
    gaps: dict[str, list[float]] = {}
    last: dict[str, datetime] = {}
    for when, entry, _ in sends:
        if entry in last:
            gaps.setdefault(entry, []).append((when - last[entry]).total_seconds())
        last[entry] = when
    for entry in gaps:
        interval = SYNC_EVERY if entry == "mlflow-sync-incremental" else 30 if entry == "worker-heartbeat" else 55
        assert min(gaps[entry]) > interval / 2, (entry, gaps[entry])  # a second beat would fire in between

    # (d) The drift window: one run, claimed once, one result set, nothing failed.
    (run,) = facts["drift_runs"]
    assert run["id"] in run_ids and run["status"] == "done" and not run["error"], run
    assert run["attempts"] == 1, run  # claims since the window was last queued: never two at once
    assert run["results"] == ["feature_a", "feature_b", "segment"], run
    assert run["rows"] == 6 * 400 and run["batches"] == 6, run  # batches posted through both servers
    assert facts["batches"] == ["binned"] * 6, facts["batches"]
    # Sync passes: never two running at once (the "running" SyncRun row is the lock); the contended
    # ones are recorded as skipped, and every pass ended.
    passes = [s for s in syncs if s["status"] in ("succeeded", "failed")]
    assert all(s["finished"] is not None for s in syncs), syncs
    overlaps = [(p, q) for p, q in pairwise(passes) if q["started"] < p["finished"]]
    assert not overlaps, overlaps
    skipped = [s for s in syncs if s["status"] == "skipped"]
    assert skipped, syncs  # passes did contend: otherwise nothing above was tested
    assert all(s["status"] != "failed" for s in syncs), [s["error"] for s in syncs if s["error"]]

    hosts_ran = {n: dict(by_worker[n].most_common()) for n in hosts}
    observed(
        request,
        f"Scale-out on {'PostgreSQL' if database_url.startswith('postgres') else 'SQLite'} "
        f"+ {env.get('CELERY_BROKER_URL', 'the SQLite broker').split(':')[0]}: 2 gunicorn servers, "
        f"2 workers (concurrency 1), 1 beat, {elapsed:.0f} s in all",
        {
            "(a) batches posted alternately to a and b": f"6; b and a both read last_batch_at {latest}; "
            "a session signed in on a was signed in on b",
            "(b) tasks received per worker": hosts_ran,
            "(c) beat firings (each received by one worker)": dict(fired),
            "(c) beat syncs dropped unrun after waiting past their interval": dropped_syncs,
            "(c) shortest gap between firings of an entry, s": {e: round(min(g), 1) for e, g in gaps.items()},
            f"(d) {DRIFT_REQUESTS} run-drift requests for one window": f"1 run, attempts {run['attempts']}, "
            f"{len(run['results'])} results, {run['rows']} rows",
            f"(d) sync passes ({SYNC_REQUESTS} asked at once + {len(beat_syncs)} from beat)": dict(
                Counter(s["status"] for s in syncs)
            )
            | {"overlapping": len(overlaps)},
            "alerts (dedupe key, occurrences)": facts["alerts"],
            "worker heartbeats recorded by": facts["heartbeats"],
            "stored": facts["sizes"],
        },
    )
