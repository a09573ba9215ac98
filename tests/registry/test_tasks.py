"""Tasks run on a real Celery worker over the configured broker (Redis in CI)."""

import time

import pytest

from registry.models import WorkerHeartbeat
from registry.tasks import worker_heartbeat


def test_the_heartbeat_task_runs_on_a_real_worker_and_healthz_sees_it(celery_worker, client, mlflow_uri):
    worker_heartbeat.delay()
    deadline = time.monotonic() + 30
    while not WorkerHeartbeat.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    beat = WorkerHeartbeat.objects.get()
    assert beat.hostname and beat.hostname in celery_worker.hostname

    worker_heartbeat.delay()  # a second heartbeat updates the row instead of adding one
    first_seen = beat.last_seen
    deadline = time.monotonic() + 30
    while WorkerHeartbeat.objects.get().last_seen == first_seen and time.monotonic() < deadline:
        time.sleep(0.2)
    assert WorkerHeartbeat.objects.count() == 1
    assert WorkerHeartbeat.objects.get().last_seen > first_seen

    worker = client.get("/healthz").json()["checks"]["worker"]
    assert worker["ok"] is True
    assert beat.hostname in worker["detail"]


@pytest.mark.django_db
def test_beat_schedules_the_heartbeat_in_code(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["worker-heartbeat"]
    assert entry["task"] == worker_heartbeat.name
