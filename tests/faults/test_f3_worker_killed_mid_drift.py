"""Fault F3 (issue 15): the worker process computing a drift job is SIGKILLed in the middle, 20 times.

A real Celery worker in a process of its own (prefork, one child, the portal's own settings against
the test database and broker) computes drift windows of a real monitor. A test-only hook
(killable_worker.py) holds each chosen attempt inside the job's results transaction, where the test
kills the child with SIGKILL, as the kernel's OOM killer would. Seven windows are killed twice each and
must then finish; two "poison" windows are killed on every attempt and must be stopped after
DRIFT_RUN_MAX_ATTEMPTS (3) and shown as failed. What must hold: exactly one result set per window,
each window's alert raised once (no occurrence counted by a killed attempt), and no window retried
for ever."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count

from monitoring.models import Alert, DriftRun, FeatureDriftResult, InferenceBatch
from monitoring.services.batches import batch_bin, batch_ingest
from monitoring.services.drift_runs import drift_run_prepare
from monitoring.tasks import drift_run_execute_task
from tests.conftest import REPO_ROOT, child_environ, stop_process_group
from tests.monitoring.conftest import reference_frame, to_parquet
from tests.waiting import wait_for

from .loopback import observed

pytestmark = [pytest.mark.faults, pytest.mark.timeout(360)]

FIRST_DAY = datetime(2026, 11, 10, tzinfo=UTC)
KILLED_TWICE, POISON = 7, 2
MAX_ATTEMPTS = 3  # DRIFT_RUN_MAX_ATTEMPTS's default, which the worker process runs with


def _database_url() -> str:
    """The test database, as the worker process must reach it."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _worker(queue: str, hook_dir: Path, storage_dir: Path, log: Path) -> subprocess.Popen:
    env = child_environ() | {
        "DATABASE_URL": _database_url(),
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "PORTAL_MONITORING_STORAGE_DIR": str(storage_dir),
        "PORTAL_FAULT_HOOK_DIR": str(hook_dir),
        "PORTAL_DRIFT_RUN_LOST_WORKER_RETRY_DELAY": "0.5",
        "CELERY_WORKER_LOST_WAIT": "1",  # no result backend: nothing to wait for
    }
    argv = [sys.executable, "-m", "celery", "-A", "tests.faults.killable_worker", "worker"]
    argv += ["--pool", "prefork", "--concurrency", "1", "--queues", queue, "--loglevel", "INFO"]
    argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _shifted(seed: int):
    frame = reference_frame(2000, seed=seed)
    frame["feature_a"] = frame["feature_a"] + 1.5
    return frame


def test_f3_a_worker_killed_in_the_middle_of_drift_jobs_20_times_leaves_one_result_set_per_window(
    request, transactional_db, celery_queue, monitor, monitoring_storage, engineer, client
):
    from mlopsportal.celery import app

    app.conf.task_default_queue = celery_queue  # this process's tasks go to the worker's queue only
    windows = KILLED_TWICE + POISON
    for day in range(windows):
        batch_ingest(
            monitor=monitor,
            body=to_parquet(_shifted(seed=day + 1)),
            fmt="parquet",
            idempotency_key=f"f3-{day}",
            received_at=FIRST_DAY + timedelta(days=day, hours=3),
        )
    for batch in InferenceBatch.objects.all():  # binned on arrival, as a worker would
        batch_bin(batch_id=batch.pk)
    runs = [
        drift_run_prepare(monitor=monitor, window_start=FIRST_DAY + timedelta(days=day), trigger="schedule")
        for day in range(windows)
    ]
    killed_twice, poison = runs[:KILLED_TWICE], runs[KILLED_TWICE:]

    hook_dir = Path(tempfile.mkdtemp(prefix="portal-f3-"))
    for run in killed_twice:
        (hook_dir / f"kill-{run.pk}").write_text("2")
    for run in poison:
        (hook_dir / f"kill-{run.pk}").write_text("99")
    worker = _worker(celery_queue, hook_dir, monitoring_storage, hook_dir / "worker.log")
    kills: list[tuple[int, int]] = []
    try:
        for run in runs:
            drift_run_execute_task.delay(run.pk)

        def settled() -> bool:
            for marker in hook_dir.glob("computing-*"):
                _, run_id, attempt = marker.name.split("-")
                os.kill(int(marker.read_text()), signal.SIGKILL)  # the pool child, mid-transaction
                kills.append((int(run_id), int(attempt)))
                marker.unlink()
            finished = DriftRun.objects.filter(status__in=[DriftRun.Status.DONE, DriftRun.Status.FAILED])
            return finished.count() == windows

        started = time.monotonic()
        wait_for(settled, timeout=240, message=f"all {windows} windows done or stopped")
        elapsed = time.monotonic() - started
        assert worker.poll() is None, "the worker's main process survived its children"
    finally:
        stop_process_group(worker)
        log_tail = (hook_dir / "worker.log").read_text(errors="replace")[-3000:]
        shutil.rmtree(hook_dir, ignore_errors=True)

    assert len(kills) == KILLED_TWICE * 2 + POISON * MAX_ATTEMPTS == 20, log_tail
    assert sorted(kills) == sorted(
        [(run.pk, attempt) for run in killed_twice for attempt in (1, 2)]
        + [(run.pk, attempt) for run in poison for attempt in range(1, MAX_ATTEMPTS + 1)]
    )
    # Killed twice, then finished: one result set, one alert raised once.
    for run in DriftRun.objects.filter(pk__in=[r.pk for r in killed_twice]):
        assert (run.status, run.attempts) == (DriftRun.Status.DONE, 3)
        assert run.results.get(feature="feature_a").drifted  # so the window has an alert to count
    results = (
        FeatureDriftResult.objects.values("run_id", "feature").annotate(n=Count("id")).order_by("run_id", "feature")
    )
    assert {(r["run_id"], r["feature"], r["n"]) for r in results} == {
        (run.pk, feature, 1) for run in killed_twice for feature in ("feature_a", "feature_b", "segment")
    }
    alerts = Alert.objects.filter(monitor=monitor, kind=Alert.Kind.WINDOW_DRIFT)
    assert sorted(a.window_start for a in alerts) == sorted(r.window_start for r in killed_twice)
    assert {a.occurrences for a in alerts} == {1}
    # Killed on every attempt: stopped after the maximum, shown as failed with the reason, nothing kept.
    for run in DriftRun.objects.filter(pk__in=[r.pk for r in poison]):
        assert (run.status, run.attempts) == (DriftRun.Status.FAILED, MAX_ATTEMPTS)
        assert f"Stopped after {MAX_ATTEMPTS} attempts" in run.error
        assert not run.results.exists()
    client.force_login(engineer)  # the monitor's page shows the newest window, a poison one, as failed
    page = client.get(f"/monitors/{monitor.pk}/jobs/").content.decode()
    assert 'data-drift-status="failed"' in page and f"Stopped after {MAX_ATTEMPTS} attempts" in page

    observed(
        request,
        "F3: the worker process SIGKILLed in the middle of drift jobs",
        {
            "kills (pool child, inside the results transaction)": len(kills),
            "windows killed twice, then finished": f"{KILLED_TWICE}, each with 1 result set of 3 features",
            "window alerts": f"{alerts.count()}, each raised once (occurrences 1)",
            "poison windows": f"{POISON}, stopped as failed after {MAX_ATTEMPTS} attempts",
            "from queueing to every window settled": f"{elapsed:.1f} s",
        },
    )
