"""/healthz tells a load balancer and an operator which part is down."""

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_is_200_when_database_broker_and_mlflow_answer(client, mlflow_uri):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert {name for name, check in body["checks"].items() if check["ok"]} >= {"database", "broker", "mlflow"}
    assert body["checks"]["mlflow"]["detail"] == mlflow_uri


def test_healthz_is_503_and_names_mlflow_when_mlflow_is_down(client, mlflow_server, mlflow_uri):
    mlflow_server.stop()  # the real server, stopped: the mlflow_uri fixture restarts it for later tests
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["mlflow"]["ok"] is False
    assert "did not answer" in body["checks"]["mlflow"]["detail"]
    assert body["checks"]["database"]["ok"] is True


def test_healthz_is_503_when_the_broker_is_unreachable(client, mlflow_uri, settings):
    from tests.conftest import free_port

    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False


def test_a_stale_worker_heartbeat_is_reported_but_does_not_fail_health(client, mlflow_uri):
    from datetime import timedelta

    from django.utils import timezone

    from registry.models import WorkerHeartbeat

    WorkerHeartbeat.objects.create(hostname="w1@host", last_seen=timezone.now() - timedelta(hours=1))
    response = client.get("/healthz")
    worker = response.json()["checks"]["worker"]
    assert response.status_code == 200
    assert worker["ok"] is False and worker["critical"] is False
    assert "w1@host" in worker["detail"]
