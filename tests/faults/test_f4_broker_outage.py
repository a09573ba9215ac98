"""F4: the broker (Redis) is down while people use the portal and serving systems send batches.

A Redis server of the test's own on a free loopback port is the Celery broker. It is stopped; a
batch is posted, a drift job is asked for, the monitor's pages are read: every answer is what it
would be with Redis up (201, 202, 200), the batch and the drift run are stored and wait. Redis comes
back; the beat task that sweeps lost work sends them, and a real Celery worker bins the batch and
computes the window. Before mlopsportal/dispatch.py, each of those POSTs stored its work and then
answered 500 (the publish raised in the commit hook), so a sender without an Idempotency-Key posted
the batch again."""

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
from celery.contrib.testing.worker import start_worker

from mlopsportal.celery import app
from monitoring.models import DriftRun, InferenceBatch
from monitoring.services.alerts import alert_raise
from monitoring.services.ingest_tokens import ingest_token_create
from monitoring.services.lost_work import LostWork, lost_work
from monitoring.services.notifications import channel_add
from monitoring.tasks import lost_work_sweep_task
from tests.conftest import free_port
from tests.monitoring.conftest import reference_frame
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.faults,
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server (.ci/run installs it)"),
]


class OwnRedis:
    """redis-server on 127.0.0.1:<port>, stopped and started again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout != b"PONG\n":
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None


@pytest.fixture
def own_broker(celery_queue: str) -> Iterator[OwnRedis]:
    """Celery publishes to a Redis of this test's own: its connection pools are dropped so that the
    next publish connects to the new URL, and put back afterwards."""
    redis = OwnRedis()
    redis.start()
    saved = app.conf.broker_url, app.conf.task_default_queue, app.conf.task_always_eager

    def reconnect() -> None:
        app._pool = None  # Celery caches its broker connections per app
        app.amqp._producer_pool = None

    app.conf.broker_url, app.conf.task_default_queue, app.conf.task_always_eager = redis.url, celery_queue, False
    reconnect()
    try:
        yield redis
    finally:
        redis.stop()
        app.conf.broker_url, app.conf.task_default_queue, app.conf.task_always_eager = saved
        reconnect()


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_requests_answer_and_their_work_runs_once_it_is_back(
    client, engineer, monitor, own_broker, settings, celery_queue
):
    settings.MONITORING_LOST_WORK_AFTER_SECONDS = 0  # the sweep takes work as soon as it is recorded
    ingest_key = ingest_token_create(actor=None, monitor=monitor, name="serving").key
    client.force_login(engineer)
    own_broker.stop()

    started = time.monotonic()
    batch_answer = client.post(
        f"/api/v1/monitors/{monitor.pk}/batches/",
        reference_frame(200, seed=11).to_csv(index=False),
        content_type="text/csv",
        headers={"Authorization": f"Bearer {ingest_key}"},
    )
    drift_answer = client.post(f"/api/v1/monitors/{monitor.pk}/run-drift/", {}, content_type="application/json")
    overview = client.get(monitor.get_absolute_url())
    outage_seconds = time.monotonic() - started

    assert (batch_answer.status_code, drift_answer.status_code, overview.status_code) == (201, 202, 200)
    batch = InferenceBatch.objects.get()
    run = DriftRun.objects.get(pk=drift_answer.json()["id"])
    assert (batch.status, run.status) == (InferenceBatch.Status.RECEIVED, DriftRun.Status.QUEUED)
    lost = lost_work()
    assert (lost.batches, lost.drift_runs) == ([batch.pk], [run.pk])

    own_broker.start()
    lost_work_sweep_task()  # what beat runs every minute
    with start_worker(
        app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING", queues=[celery_queue]
    ):
        wait_for(
            lambda: InferenceBatch.objects.get().status == InferenceBatch.Status.BINNED,
            timeout=60,
            message="the batch binned after the broker came back",
        )
        wait_for(
            lambda: DriftRun.objects.get(pk=run.pk).status == DriftRun.Status.DONE,
            timeout=60,
            message="the drift job done after the broker came back",
        )

    assert DriftRun.objects.get(pk=run.pk).rows == 200
    assert lost_work() == LostWork([], [], [], [], [])  # nothing is sent twice
    print(
        f"\nF4 broker down: batch 201, run-drift 202, monitor page 200 in {outage_seconds:.1f} s "
        f"(publishes gave up); after Redis returned the sweep sent 1 batch and 1 drift run, both done"
    )


@pytest.mark.django_db
def test_the_sweep_finds_every_kind_of_work_that_never_started_and_nothing_that_did(monitor, settings):
    from monitoring.models import Alert, Notification, RetrainEvent, RetrainTrigger

    settings.MONITORING_LOST_WORK_AFTER_SECONDS = 0
    channel = channel_add(actor=None, monitor=monitor, kind="webhook", target="http://127.0.0.1:9/hook")
    alert, _ = alert_raise(
        monitor=monitor, kind=Alert.Kind.VOLUME, key_suffix="lost", severity=Alert.Severity.WARNING, title="Volume"
    )
    trigger = RetrainTrigger.objects.create(monitor=monitor, url="http://127.0.0.1:9/run")
    event = RetrainEvent.objects.create(trigger=trigger, monitor=monitor, reason="manual", payload={})
    muted_channel_alert, _ = alert_raise(
        monitor=monitor, kind=Alert.Kind.VOLUME, key_suffix="muted", severity=Alert.Severity.WARNING, title="Other"
    )
    Alert.objects.filter(pk=muted_channel_alert.pk).update(status=Alert.Status.RESOLVED)

    lost = lost_work()
    assert (lost.alerts, lost.retrain_events) == ([alert.pk], [event.pk])

    notification = Notification.objects.create(alert=alert, channel=channel)
    lost = lost_work()
    assert (lost.alerts, lost.notifications) == ([], [notification.pk])  # created, never attempted

    Notification.objects.filter(pk=notification.pk).update(attempts=1)
    RetrainEvent.objects.filter(pk=event.pk).update(attempts=1)
    assert lost_work() == LostWork([], [], [], [], [])  # attempted: their own retries own them

    settings.MONITORING_LOST_WORK_AFTER_SECONDS = 120
    Notification.objects.filter(pk=notification.pk).update(attempts=0)
    assert lost_work().notifications == []  # too recent: its task may still be on its way
