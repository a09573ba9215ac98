"""Drift jobs end to end on a real Celery worker; alerts, notifications, retrain trigger, command."""

import hashlib
import hmac
import http.server
import json
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from monitoring.ingest import BadBatch
from monitoring.models import (
    Alert,
    BatchHistogram,
    DriftRun,
    FeatureDriftResult,
    InferenceBatch,
    Notification,
    NotificationChannel,
    RetrainEvent,
    RetrainTrigger,
)
from monitoring.services import (
    alerts,
    batches,
    delivery,
    drift_runs,
    exact_recheck,
    files,
    monitors,
    notifications,
    references,
    windows,
)
from registry.models import AuditEvent
from tests.monitoring.conftest import reference_frame, to_parquet
from tests.waiting import wait_for

DAY = datetime(2026, 11, 10, tzinfo=UTC)


class Receiver:
    """A small HTTP server on loopback standing in for a webhook receiver or a pipeline endpoint."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[dict] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"run_id": "r-1"}')

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def ingest(monitor, frame, at, key=""):
    return batches.batch_ingest(
        monitor=monitor, body=to_parquet(frame), fmt="parquet", idempotency_key=key, received_at=at
    )


def shifted(rows=3000, seed=1):
    frame = reference_frame(rows, seed=seed)
    frame["feature_a"] = frame["feature_a"] + np.float32(1.5)
    return frame


@pytest.mark.django_db
def test_a_shift_in_one_feature_raises_an_alert_for_that_feature_only(monitor):
    ingest(monitor, shifted(), DAY + timedelta(hours=3))
    run = drift_runs.drift_run_now(monitor=monitor, window_start=DAY, trigger=DriftRun.Trigger.COMMAND)
    drifted = {r.feature: r.drifted for r in run.results.all()}
    assert drifted == {"feature_a": True, "feature_b": False, "segment": False}
    result = run.results.get(feature="feature_a")
    assert result.method == "wasserstein" and result.threshold == 0.1
    assert "reference n=5000" in result.why and "current n=3000" in result.why
    assert not Alert.objects.filter(kind=Alert.Kind.FEATURE_DRIFT).exists()  # one alert per window, not per feature
    alert = Alert.objects.get(kind=Alert.Kind.WINDOW_DRIFT)
    assert alert.drifted_features == ["feature_a"]
    assert alert.severity == Alert.Severity.WARNING  # 1 of 3 < 50 %: the window itself does not drift


@pytest.mark.django_db
def test_re_running_a_window_replaces_its_results_and_never_doubles_alerts(monitor):
    ingest(monitor, shifted(), DAY + timedelta(hours=3))
    first = drift_runs.drift_run_now(monitor=monitor, window_start=DAY, trigger=DriftRun.Trigger.COMMAND)
    again = drift_runs.drift_run_now(
        monitor=monitor, window_start=DAY + timedelta(hours=5), trigger=DriftRun.Trigger.MANUAL
    )
    assert again.pk == first.pk
    assert DriftRun.objects.count() == 1 and FeatureDriftResult.objects.count() == 3
    alert = Alert.objects.get(kind=Alert.Kind.WINDOW_DRIFT)
    assert alert.occurrences == 2 and alert.drifted_features == ["feature_a"]
    assert Alert.objects.count() == 1


@pytest.mark.django_db
def test_a_run_left_running_by_a_dead_worker_is_claimed_again_but_a_live_one_is_not(monitor):
    run = drift_runs.drift_run_prepare(monitor=monitor, window_start=DAY, trigger=DriftRun.Trigger.SCHEDULE)
    assert drift_runs.drift_run_claim(run_id=run.pk)
    assert not drift_runs.drift_run_claim(run_id=run.pk)  # a second delivery while it runs
    DriftRun.objects.filter(pk=run.pk).update(
        claimed_at=datetime.now(UTC) - drift_runs.STALE_AFTER - timedelta(minutes=1)
    )
    assert drift_runs.drift_run_claim(run_id=run.pk)
    assert DriftRun.objects.get(pk=run.pk).attempts == 2


@pytest.mark.django_db
def test_a_volume_drop_against_the_trailing_median_is_an_alert(monitor):
    for day in range(4):
        ingest(monitor, reference_frame(1000, seed=day + 10), DAY + timedelta(days=day, hours=1))
        drift_runs.drift_run_now(
            monitor=monitor, window_start=DAY + timedelta(days=day), trigger=DriftRun.Trigger.COMMAND
        )
    ingest(monitor, reference_frame(100, seed=99), DAY + timedelta(days=4, hours=1))
    run = drift_runs.drift_run_now(
        monitor=monitor, window_start=DAY + timedelta(days=4), trigger=DriftRun.Trigger.COMMAND
    )
    assert run.volume["anomaly"] == "drop"
    assert Alert.objects.filter(kind=Alert.Kind.VOLUME).count() == 1


@pytest.mark.django_db
def test_the_drift_run_command_runs_synchronously_and_prints_the_results(monitor, capsys):
    ingest(monitor, shifted(), DAY + timedelta(hours=3))
    call_command("drift_run", "--monitor", str(monitor.pk), "--window", "2026-11-10")
    out = capsys.readouterr().out
    assert "feature_a" in out and "DRIFTED" in out and "wasserstein" in out
    assert DriftRun.objects.get().status == DriftRun.Status.DONE


@pytest.mark.django_db
def test_webhook_notifications_carry_an_hmac_signature_the_receiver_can_check(monitor, receiver):
    channel = NotificationChannel.objects.create(
        monitor=monitor, kind="webhook", target=receiver.url + "/hook", secret="s3cret"
    )
    alert, _ = alerts.alert_raise(monitor=monitor, kind=Alert.Kind.VOLUME, key_suffix="", severity="warning", title="t")
    for notification_id in notifications.notifications_create(alert_id=alert.pk):
        notifications.notification_send(notification_id=notification_id)
    request = receiver.requests[0]
    expected = hmac.new(
        b"s3cret", request["headers"]["X-Portal-Timestamp"].encode() + b"." + request["body"], hashlib.sha256
    )
    assert request["headers"]["X-Portal-Signature"] == f"sha256={expected.hexdigest()}"
    assert json.loads(request["body"])["alert"]["id"] == alert.pk
    assert Notification.objects.get(channel=channel).status == Notification.Status.SENT


@pytest.mark.django_db
def test_a_failing_webhook_is_recorded_as_failed_and_raises_for_a_retry(monitor):
    failing = Receiver(status=503)
    try:
        NotificationChannel.objects.create(monitor=monitor, kind="webhook", target=failing.url)
        alert, _ = alerts.alert_raise(
            monitor=monitor, kind=Alert.Kind.VOLUME, key_suffix="", severity="warning", title="t"
        )
        (notification_id,) = notifications.notifications_create(alert_id=alert.pk)
        with pytest.raises(delivery.DeliveryFailed):
            notifications.notification_send(notification_id=notification_id)
        notification = Notification.objects.get()
        assert notification.status == Notification.Status.FAILED and "503" in notification.last_error
        assert notification.attempts == 1
    finally:
        failing.close()


def test_end_to_end_on_a_worker_batches_are_binned_and_a_drift_episode_triggers_retraining_once(
    celery_worker, worker_drained, monitoring_storage, receiver, engineer, settings
):
    from tests.factories import ProjectFactory

    project = ProjectFactory(name="E2E")
    project.memberships.create(user=engineer, role="lead")
    monitor = monitors.monitor_create(
        actor=None,
        project=project,
        name="e2e",
        model_name="churn",
        expected_schema=[
            {"name": "feature_a", "type": "float"},
            {"name": "feature_b", "type": "float"},
            {"name": "segment", "type": "string"},
        ],
        drift_share=0.3,
    )
    references.reference_upload(actor=None, monitor_id=monitor.pk, body=to_parquet(reference_frame()), fmt="parquet")
    RetrainTrigger.objects.create(
        monitor=monitor,
        url=receiver.url + "/apis/v2beta1/runs",
        preset="kubeflow",
        options={"pipeline_id": "p-1", "pipeline_version_id": "v-1"},
        cooldown_hours=24,
    )
    NotificationChannel.objects.create(monitor=monitor, kind="email", target="oncall@example.com")

    result = ingest(monitor, shifted(), DAY + timedelta(hours=3), key="b-1")
    wait_for(lambda: InferenceBatch.objects.get(pk=result.batch.pk).status == InferenceBatch.Status.BINNED, timeout=30)
    assert BatchHistogram.objects.filter(batch=result.batch).count() == 3

    from monitoring.tasks import drift_run_execute_task

    # Two windows of one drift episode, one re-delivered: one retraining.
    ingest(monitor, shifted(seed=2), DAY + timedelta(days=1, hours=3), key="b-2")
    for start in (DAY, DAY + timedelta(days=1)):
        run = drift_runs.drift_run_prepare(monitor=monitor, window_start=start, trigger=DriftRun.Trigger.SCHEDULE)
        drift_run_execute_task.delay(run.pk)
        drift_run_execute_task.delay(run.pk)  # re-delivered
    worker_drained()  # both runs, every delivery of them, and all they queued have run: a duplicate is here
    assert DriftRun.objects.filter(status=DriftRun.Status.DONE).count() == 2
    assert RetrainEvent.objects.filter(status=RetrainEvent.Status.SENT).count() == 1
    assert len(receiver.requests) == 1
    body = json.loads(receiver.requests[0]["body"])
    assert body["pipeline_version_reference"] == {"pipeline_id": "p-1", "pipeline_version_id": "v-1"}
    assert body["runtime_config"]["parameters"]["drifted_features"] == "feature_a"
    assert RetrainEvent.objects.count() == 1
    assert AuditEvent.objects.filter(action="monitor.retrain_triggered").count() == 1
    assert Notification.objects.filter(status=Notification.Status.SENT).exists()
    from django.core import mail

    assert any("feature_a" in m.subject for m in mail.outbox)
    window_alerts = Alert.objects.filter(kind=Alert.Kind.WINDOW_DRIFT)
    assert [a.drifted_features for a in window_alerts] == [["feature_a"], ["feature_a"]]  # one per window


@pytest.mark.django_db
def test_the_gate_drift_check_fails_while_a_critical_drift_alert_is_open(monitor):
    from types import SimpleNamespace

    from monitoring.gate import drift_gate_check

    context = SimpleNamespace(registered_model=SimpleNamespace(name="churn"), alias="champion")
    assert drift_gate_check(context).status == "passed"
    alert, _ = alerts.alert_raise(
        monitor=monitor, kind=Alert.Kind.WINDOW_DRIFT, key_suffix="", severity="critical", title="window drifted"
    )
    outcome = drift_gate_check(context)
    assert outcome.status == "failed" and "window drifted" in outcome.summary
    Alert.objects.filter(pk=alert.pk).update(status=Alert.Status.ACKNOWLEDGED)
    assert drift_gate_check(context).status == "passed"
    unwatched = SimpleNamespace(registered_model=SimpleNamespace(name="other"), alias="champion")
    assert drift_gate_check(unwatched).status == "not_applicable"


@pytest.mark.django_db
def test_when_labels_arrive_the_window_records_the_models_metric_and_the_prediction_drift(monitor):
    monitor.prediction_column, monitor.label_column = "predicted", "actual"
    monitor.save()
    reference = reference_frame(2000)
    reference["predicted"] = np.where(reference["feature_a"] > 0, "churn", "stay")
    reference["actual"] = reference["predicted"]
    references.reference_upload(actor=None, monitor_id=monitor.pk, body=to_parquet(reference), fmt="parquet")
    batch = reference_frame(400, seed=5)
    batch["predicted"] = np.where(batch["feature_a"] > 0, "churn", "stay")
    batch["actual"] = np.where(np.arange(400) < 300, batch["predicted"], "unknown")  # 75 % right
    ingest(monitor, batch, DAY + timedelta(hours=1))
    run = drift_runs.drift_run_now(monitor=monitor, window_start=DAY, trigger=DriftRun.Trigger.COMMAND)
    assert run.volume["metrics"] == {"accuracy": 0.75, "labelled_rows": 400}
    roles = dict(run.results.values_list("feature", "role"))
    assert roles["predicted"] == "prediction" and roles["actual"] == "label"


@pytest.mark.django_db
def test_row_count_windows_group_whole_batches_and_only_complete_ones_are_due(monitor):
    monitor.window_rows = 1000
    monitor.save()
    for i in range(5):
        ingest(monitor, shifted(400, seed=i) if i >= 3 else reference_frame(400, seed=i), DAY + timedelta(hours=i))
    row_windows = windows.row_windows(monitor)
    assert [complete for _, _, complete in row_windows] == [True, False]
    assert row_windows[0][0] == DAY and row_windows[1][0] == DAY + timedelta(hours=3)
    assert windows.due_windows() == [(monitor, DAY)]
    run = drift_runs.drift_run_now(monitor=monitor, window_start=DAY, trigger=DriftRun.Trigger.COMMAND)
    assert run.rows == 1200 and run.batches == 3 and not run.drifted
    assert windows.due_windows() == []
    ingest(monitor, shifted(400, seed=9), DAY + timedelta(hours=6))  # the second window fills up
    assert windows.due_windows() == [(monitor, DAY + timedelta(hours=3))]
    second = drift_runs.drift_run_now(
        monitor=monitor, window_start=DAY + timedelta(hours=3), trigger=DriftRun.Trigger.COMMAND
    )
    assert second.rows == 1200 and second.results.get(feature="feature_a").drifted


@pytest.mark.django_db
def test_beat_resumes_runs_a_dead_worker_left_and_queued_runs_whose_task_was_lost(monitor):
    old = datetime.now(UTC) - drift_runs.STALE_AFTER - timedelta(minutes=1)
    running = drift_runs.drift_run_prepare(monitor=monitor, window_start=DAY, trigger=DriftRun.Trigger.SCHEDULE)
    lost = drift_runs.drift_run_prepare(
        monitor=monitor, window_start=DAY + timedelta(days=1), trigger=DriftRun.Trigger.SCHEDULE
    )
    fresh = drift_runs.drift_run_prepare(
        monitor=monitor, window_start=DAY + timedelta(days=2), trigger=DriftRun.Trigger.SCHEDULE
    )
    DriftRun.objects.filter(pk=running.pk).update(status=DriftRun.Status.RUNNING, claimed_at=old, created_at=old)
    DriftRun.objects.filter(pk=lost.pk).update(created_at=old)
    assert sorted(drift_runs.runs_to_resume()) == sorted([running.pk, lost.pk])
    assert fresh.pk not in drift_runs.runs_to_resume()


@pytest.mark.django_db
def test_a_resolved_alert_that_fires_again_reopens_and_a_muted_one_stays_muted_until_its_date(monitor):
    def fire():
        return alerts.alert_raise(
            monitor=monitor, kind=Alert.Kind.VOLUME, key_suffix="", severity="warning", title="t"
        )[0]

    alert = fire()
    Alert.objects.filter(pk=alert.pk).update(status=Alert.Status.RESOLVED)
    assert fire().status == Alert.Status.OPEN
    Alert.objects.filter(pk=alert.pk).update(
        status=Alert.Status.MUTED, muted_until=datetime.now(UTC) + timedelta(days=1)
    )
    assert fire().status == Alert.Status.MUTED
    Alert.objects.filter(pk=alert.pk).update(muted_until=datetime.now(UTC) - timedelta(minutes=1))
    reopened = fire()
    assert reopened.status == Alert.Status.OPEN and reopened.occurrences == 4
    assert Alert.objects.count() == 1


def test_a_batch_whose_file_is_gone_is_marked_failed_with_the_reason(celery_worker, monitoring_storage, engineer):
    from monitoring.tasks import batch_bin_task
    from tests.factories import ProjectFactory

    project = ProjectFactory(name="Lost files")
    monitor = monitors.monitor_create(
        actor=None,
        project=project,
        name="lost",
        model_name="m",
        expected_schema=[{"name": "feature_a", "type": "float"}],
    )
    references.reference_upload(actor=None, monitor_id=monitor.pk, body=to_parquet(reference_frame(100)), fmt="parquet")
    batch = ingest(monitor, reference_frame(10), DAY).batch
    wait_for(lambda: InferenceBatch.objects.get(pk=batch.pk).status == InferenceBatch.Status.BINNED, timeout=30)
    BatchHistogram.objects.filter(batch=batch).delete()
    (monitoring_storage / batch.file_name).unlink()
    batch_bin_task.delay(batch.pk)
    wait_for(lambda: InferenceBatch.objects.get(pk=batch.pk).status == InferenceBatch.Status.FAILED, timeout=30)
    assert InferenceBatch.objects.get(pk=batch.pk).error


@pytest.mark.django_db
def test_a_feature_near_its_threshold_is_decided_on_the_windows_raw_values(monitor):
    frame = reference_frame(3000, seed=9)
    # feature_b (reference N(5, 2)) moved by about 0.2 std: Wasserstein/std near its 0.1 threshold.
    frame["feature_b"] = frame["feature_b"] + np.float32(0.2)
    ingest(monitor, frame, DAY + timedelta(hours=3))

    run = drift_runs.drift_run_now(monitor=monitor, window_start=DAY, trigger=DriftRun.Trigger.MANUAL)

    result = run.results.get(feature="feature_b")
    assert result.method == "wasserstein"
    assert "exact on the window's raw values" in result.why
    raw = frame["feature_b"].to_numpy(dtype=np.float64)
    profile = references.reference_current(monitor).profile["feature_b"]
    sample = np.asarray(profile["sample"])
    from scipy import stats

    assert result.statistic == pytest.approx(stats.wasserstein_distance(sample, raw) / sample.std(), rel=1e-6)


@pytest.mark.django_db
def test_a_window_without_rows_is_no_data_not_a_green_no_drift(client, engineer, monitor):
    run = drift_runs.drift_run_now(monitor=monitor, window_start=DAY, trigger=DriftRun.Trigger.MANUAL)

    assert run.rows == 0 and run.outcome == "no_data" and not run.drifted
    client.force_login(engineer)
    page = client.get(f"/monitors/{monitor.pk}/drift/?run={run.pk}").content.decode()
    panel = client.get(f"/monitors/{monitor.pk}/?fragment=activity").content.decode()
    for html in (page, panel):
        assert ">no data</span>" in html
        assert "no drift" not in html


@pytest.mark.django_db
def test_a_reference_too_small_to_judge_drift_against_is_refused(monitor):
    before = references.reference_current(monitor).pk
    with pytest.raises(BadBatch, match="at least 30 rows"):
        references.reference_upload(
            actor=None, monitor_id=monitor.pk, body=to_parquet(reference_frame(12)), fmt="parquet"
        )
    assert references.reference_current(monitor).pk == before


@pytest.mark.django_db
def test_a_window_over_the_exact_checks_cap_is_sampled_uniformly_and_the_same_way_each_run(monitor, monkeypatch):
    monkeypatch.setattr(exact_recheck, "EXACT_MAX_VALUES", 1500)
    frames = [reference_frame(rows, seed=20 + i) for i, rows in enumerate((3000, 1000, 2000))]
    for i, frame in enumerate(frames):
        frame["feature_b"] = frame["feature_b"] + np.float32(0.2)  # near its threshold, as above
        frame.loc[::10, "feature_b"] = np.nan
        ingest(monitor, frame, DAY + timedelta(hours=i + 1))
    batches = list(monitor.batches.all())

    values, finite = exact_recheck._window_values(batches, "feature_b", 1500)
    again, _ = exact_recheck._window_values(batches, "feature_b", 1500)

    assert finite == 5400 and np.array_equal(values, again)
    assert 1300 < values.size <= 1500 and np.isfinite(values).all()  # 1,500 rows, their values
    window = np.concatenate([f["feature_b"].to_numpy(np.float64) for f in frames])
    assert np.isin(values, window).all()
    first = np.isin(values, frames[0]["feature_b"].to_numpy(np.float64)).sum()
    assert 600 < first < 900  # half the rows are the first batch's
    run = drift_runs.drift_run_now(monitor=monitor, window_start=DAY, trigger=DriftRun.Trigger.MANUAL)
    result = run.results.get(feature="feature_b")
    assert f"exact test on a uniform sample of {values.size:,} of the window's 5,400 values" in result.why
    assert result.current_n == 5400


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_the_exact_check_reads_a_batchs_columns_as_the_whole_file_reads(monitor, fmt):
    frame = reference_frame(500, seed=3)
    frame.loc[::7, "feature_a"] = np.nan
    body = {
        "parquet": to_parquet(frame),
        "csv": frame.to_csv(index=False).encode(),
        "json": frame.to_json(orient="records").encode(),
    }[fmt]
    batch = batches.batch_ingest(monitor=monitor, body=body, fmt=fmt, received_at=DAY).batch
    whole = files.batch_frame(batch)

    columns = files.batch_columns(batch, ["segment", "feature_a", "absent"])

    assert list(columns.columns) == ["segment", "feature_a"]
    pd.testing.assert_frame_equal(columns, whole[["segment", "feature_a"]])


@pytest.mark.django_db
def test_a_numeric_prediction_is_scored_over_the_windows_batches_as_one(monitor):
    monitor.prediction_column, monitor.label_column = "predicted", "actual"
    monitor.save()
    reference = reference_frame(2000)
    reference["predicted"], reference["actual"] = reference["feature_b"], reference["feature_b"]
    references.reference_upload(actor=None, monitor_id=monitor.pk, body=to_parquet(reference), fmt="parquet")
    pairs = []
    for i, rows in enumerate((300, 500)):
        batch = reference_frame(rows, seed=40 + i)
        batch["predicted"] = batch["feature_b"].astype(np.float64)
        batch["actual"] = batch["predicted"] + np.random.default_rng(i).normal(0, 0.5, rows)
        batch.loc[::9, "actual"] = np.nan
        ingest(monitor, batch, DAY + timedelta(hours=i + 1))
        pairs.append(batch[["predicted", "actual"]].dropna())
    both = pd.concat(pairs)
    err = both["predicted"].to_numpy() - both["actual"].to_numpy()

    run = drift_runs.drift_run_now(monitor=monitor, window_start=DAY, trigger=DriftRun.Trigger.COMMAND)

    metrics = run.volume["metrics"]
    assert metrics["labelled_rows"] == len(both)
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-12)
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-12)
