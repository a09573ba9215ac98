"""Operating the sync: the command, the Celery tasks and schedule, the status page and API."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from registry.errors import MlflowUnavailable
from registry.mirror.tasks import mlflow_sync
from registry.models import Run, SyncRun
from tests.waiting import wait_for

from .mlflow_helpers import log_run, register_version, unique

pytestmark = pytest.mark.django_db


def test_the_sync_command_prints_what_changed_per_kind_and_how_long_it_took(mlflow_uri, mlflow_client):
    experiment_id = mlflow_client.create_experiment(unique("command"))
    log_run(mlflow_client, experiment_id, params={"depth": "3"})
    out = StringIO()

    call_command("mlflow_sync", "--full", stdout=out)

    text = out.getvalue()
    assert f"Full reconcile sync of {mlflow_uri}: succeeded" in text
    runs_line = next(line for line in text.splitlines() if line.strip().startswith("runs"))
    assert f"created {Run.objects.count():>6}" in runs_line
    assert "Took " in text
    assert SyncRun.objects.get().kind == SyncRun.Kind.FULL


def test_the_sync_command_fails_with_the_reason_when_mlflow_is_down(settings, mlflow_uri):
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # nothing listens on the discard port
    settings.MLFLOW_REQUEST_RETRIES = 0
    with pytest.raises(CommandError, match="did not answer"):
        call_command("mlflow_sync", stdout=StringIO())
    assert SyncRun.objects.get().status == SyncRun.Status.FAILED


def test_beat_runs_an_incremental_sync_every_minute_and_a_full_reconcile_every_hour(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE
    incremental, full = schedule["mlflow-sync-incremental"], schedule["mlflow-sync-full"]
    assert incremental["task"] == full["task"] == mlflow_sync.name
    assert incremental["kwargs"] == {"kind": "incremental"} and incremental["schedule"].total_seconds() == 60
    assert full["kwargs"] == {"kind": "full"} and full["schedule"].total_seconds() == 3600


def test_the_sync_task_retries_only_mlflow_outages_with_backoff_and_a_limit():
    assert mlflow_sync.autoretry_for == (MlflowUnavailable,)
    assert mlflow_sync.retry_backoff and mlflow_sync.max_retries == 4
    assert mlflow_sync.time_limit and mlflow_sync.soft_time_limit


def test_sync_now_on_the_status_page_queues_a_sync_that_a_real_worker_runs(
    celery_worker, client, engineer, mlflow_uri, mlflow_client
):
    experiment_id = mlflow_client.create_experiment(unique("now"))
    run_id = log_run(mlflow_client, experiment_id)
    client.force_login(engineer)

    response = client.post("/mlflow/sync/now/")

    assert response.status_code == 302
    wait_for(lambda: SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED).exists())
    sync = SyncRun.objects.get()
    assert sync.status == SyncRun.Status.SUCCEEDED and sync.requested_by == engineer
    assert Run.objects.filter(run_id=run_id).exists()
    fragment = client.get("/mlflow/sync/?fragment=1").content.decode()
    assert f'data-version="{sync.pk}"' in fragment and "<html" not in fragment


def test_the_sync_api_queues_a_full_sync_for_engineers(celery_worker, client, engineer, mlflow_uri):
    client.force_login(engineer)

    response = client.post("/api/v1/sync/", {"full": True}, content_type="application/json")

    assert response.status_code == 202 and response.json() == {"queued": True, "kind": "full"}
    wait_for(lambda: SyncRun.objects.exclude(status=SyncRun.Status.RUNNING).exists())
    status = client.get("/api/v1/sync/").json()
    assert status["last_full"]["status"] == "succeeded" and status["mlflow_uri"] == mlflow_uri
    assert status["recent"][0]["requested_by"] == engineer.username


def test_the_status_page_shows_the_last_error_with_its_time(client, engineer, settings, mlflow_uri):
    from registry.mirror.sync import sync_execute

    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"
    settings.MLFLOW_REQUEST_RETRIES = 0
    failed = sync_execute(kind=SyncRun.Kind.FULL)
    client.force_login(engineer)

    page = client.get("/mlflow/sync/").content.decode()

    assert "did not answer" in page and "http://127.0.0.1:9" in page
    assert failed.started_at.strftime("%Y-%m-%d %H:%M:%S") in page
    assert 'id="sync-now"' in page


@pytest.mark.parametrize(
    ("role", "page", "api_get", "api_post"),
    [
        ("manager", 403, 403, 403),
        ("reviewer", 403, 403, 403),
        ("engineer", 200, 200, 202),
        ("portal_admin", 200, 200, 202),
    ],
)
def test_engineers_and_admins_see_the_sync_status_and_start_syncs(
    request, client, role, page, api_get, api_post, mlflow_uri
):
    client.force_login(request.getfixturevalue(role))
    assert client.get("/mlflow/sync/").status_code == page
    assert client.get("/api/v1/sync/").status_code == api_get
    assert client.post("/api/v1/sync/", {}, content_type="application/json").status_code == api_post
    assert client.post("/mlflow/sync/now/").status_code == (302 if api_post == 202 else 403)


def test_anonymous_users_are_sent_to_sign_in_or_get_401(client):
    assert client.get("/mlflow/sync/").status_code == 302
    assert client.post("/mlflow/sync/now/").status_code == 302
    assert client.get("/api/v1/sync/").status_code == 401


def test_a_model_sync_that_finds_another_sync_running_tries_again_after_it(celery_worker, mlflow_uri, mlflow_client):
    from django.utils import timezone

    experiment_id = mlflow_client.create_experiment(unique("later"))
    model_name = unique("later-model")
    register_version(mlflow_client, model_name, log_run(mlflow_client, experiment_id))
    holder = SyncRun.objects.create(kind=SyncRun.Kind.FULL, started_at=timezone.now())

    mlflow_sync.delay(kind=SyncRun.Kind.MODEL, model_name=model_name)
    wait_for(lambda: SyncRun.objects.filter(status=SyncRun.Status.SKIPPED).exists())
    SyncRun.objects.filter(pk=holder.pk).update(status=SyncRun.Status.SUCCEEDED)

    wait_for(lambda: SyncRun.objects.filter(kind=SyncRun.Kind.MODEL, status=SyncRun.Status.SUCCEEDED).exists())
    assert SyncRun.objects.get(kind=SyncRun.Kind.MODEL, status=SyncRun.Status.SUCCEEDED).target == model_name


def test_a_sync_someone_asked_for_that_finds_another_running_runs_after_it(celery_worker, mlflow_uri, engineer):
    from django.utils import timezone

    holder = SyncRun.objects.create(kind=SyncRun.Kind.INCREMENTAL, started_at=timezone.now())

    mlflow_sync.delay(kind=SyncRun.Kind.FULL, requested_by_id=engineer.pk)
    wait_for(lambda: SyncRun.objects.filter(status=SyncRun.Status.SKIPPED, requested_by=engineer).exists())
    SyncRun.objects.filter(pk=holder.pk).update(status=SyncRun.Status.SUCCEEDED)

    wait_for(lambda: SyncRun.objects.filter(requested_by=engineer, status=SyncRun.Status.SUCCEEDED).exists())
    assert SyncRun.objects.get(requested_by=engineer, status=SyncRun.Status.SUCCEEDED).kind == SyncRun.Kind.FULL


def _pass(kind: str, status: str, *, minutes_ago: int, target: str = "", error: str = "") -> SyncRun:
    from datetime import timedelta

    from django.utils import timezone

    started = timezone.now() - timedelta(minutes=minutes_ago)
    return SyncRun.objects.create(
        kind=kind,
        status=status,
        target=target,
        started_at=started,
        finished_at=started + timedelta(seconds=2),
        duration_ms=2000,
        error=error,
    )


def test_the_status_shows_a_failure_until_a_pass_of_its_scope_succeeds_then_shows_the_recovery(
    client, engineer, mlflow_uri
):
    client.force_login(engineer)
    failed = SyncRun.Status.FAILED
    ok = SyncRun.Status.SUCCEEDED
    _pass(SyncRun.Kind.FULL, ok, minutes_ago=100)
    outage = _pass(SyncRun.Kind.INCREMENTAL, failed, minutes_ago=50, error="MlflowUnavailable: did not answer")

    status = client.get("/api/v1/sync/").json()
    assert status["last_failure"]["id"] == outage.pk
    assert "field-error" in client.get("/mlflow/sync/").content.decode()

    # 20 good passes later the error is history, not a current one.
    for minute in range(40, 20, -1):
        _pass(SyncRun.Kind.INCREMENTAL, ok, minutes_ago=minute)
    status = client.get("/api/v1/sync/").json()
    assert status["last_failure"] is None
    assert status["last_incremental"]["status"] == "succeeded"
    panel = client.get("/mlflow/sync/?fragment=1").content.decode()
    last_error = panel.split('id="sync-last-error">', 1)[1].split("</dd>", 1)[0]
    assert "field-error" not in panel
    assert "Recovered" in last_error and "did not answer" in last_error
    first_good = SyncRun.objects.filter(kind=SyncRun.Kind.INCREMENTAL, status=ok).order_by("started_at").first()
    assert first_good.finished_at.strftime("%Y-%m-%d %H:%M:%S") in last_error  # recovered at the first good pass


def test_a_failed_full_reconcile_stays_current_until_a_full_reconcile_succeeds(client, engineer, mlflow_uri):
    client.force_login(engineer)
    failed = SyncRun.Status.FAILED
    ok = SyncRun.Status.SUCCEEDED
    _pass(SyncRun.Kind.FULL, ok, minutes_ago=200)
    full_failure = _pass(SyncRun.Kind.FULL, failed, minutes_ago=60, error="MlflowUnavailable: full")
    _pass(SyncRun.Kind.INCREMENTAL, failed, minutes_ago=50, error="MlflowUnavailable: incremental")
    _pass(SyncRun.Kind.INCREMENTAL, ok, minutes_ago=40)  # makes good the incremental failure only
    model_failure = _pass(SyncRun.Kind.MODEL, failed, minutes_ago=30, target="churn", error="churn: refused")
    _pass(SyncRun.Kind.MODEL, ok, minutes_ago=20, target="fraud")  # another model's pass

    assert client.get("/api/v1/sync/").json()["last_failure"]["id"] == model_failure.pk

    _pass(SyncRun.Kind.MODEL, ok, minutes_ago=15, target="churn")

    assert client.get("/api/v1/sync/").json()["last_failure"]["id"] == full_failure.pk
    assert "MlflowUnavailable: full" in client.get("/mlflow/sync/").content.decode()

    _pass(SyncRun.Kind.FULL, ok, minutes_ago=5)

    assert client.get("/api/v1/sync/").json()["last_failure"] is None
    page = client.get("/mlflow/sync/").content.decode()
    assert "field-error" not in page
    assert "Recovered" in page and "churn: refused" in page  # the newest failure, and what made it good
