"""MLflow 3 webhooks: signed deliveries queue a sync of the model; forged, stale and replayed ones are refused."""

import json
import time
import uuid

import pytest

from registry.mirror.webhooks import signature_for
from registry.models import ModelVersion, SyncRun, WebhookDelivery

from .mlflow_helpers import log_run, register_version, unique

SECRET = "s3cret-for-tests"
URL = "/webhooks/mlflow/"


@pytest.fixture
def webhook_secret(settings):
    settings.PORTAL_MLFLOW_WEBHOOK_SECRET = SECRET
    return SECRET


def _delivery(
    model_name: str,
    *,
    event: str = "model_version.created",
    age: int = 0,
    secret: str = SECRET,
    delivery_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    entity, action = event.split(".")
    body = json.dumps(
        {
            "entity": entity,
            "action": action,
            "timestamp": "2026-01-01T00:00:00+00:00",
            "data": {"name": model_name, "version": "1"},
        }
    ).encode()
    delivery_id = delivery_id or str(uuid.uuid4())
    timestamp = str(int(time.time()) - age)
    headers = {
        "X-MLflow-Delivery-Id": delivery_id,
        "X-MLflow-Timestamp": timestamp,
        "X-MLflow-Signature": signature_for(secret=secret, delivery_id=delivery_id, timestamp=timestamp, body=body),
    }
    return body, headers


def _post(client, body: bytes, headers: dict[str, str]):
    return client.post(URL, body, content_type="application/json", headers=headers)


def test_a_signed_delivery_queues_a_sync_of_that_model_which_a_worker_runs(
    celery_worker, client, webhook_secret, mlflow_uri, mlflow_client
):
    experiment_id = mlflow_client.create_experiment(unique("hooked"))
    run_id = log_run(mlflow_client, experiment_id)
    model_name = unique("hooked-model")
    register_version(mlflow_client, model_name, run_id)

    response = _post(client, *_delivery(model_name))

    assert response.status_code == 202 and response.json()["sync_queued"] is True
    deadline = time.monotonic() + 60
    while not SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    sync = SyncRun.objects.get()
    assert sync.kind == SyncRun.Kind.MODEL and sync.target == model_name and sync.status == "succeeded"
    assert ModelVersion.objects.filter(registered_model__name=model_name, version=1).exists()
    assert WebhookDelivery.objects.get().model_name == model_name


@pytest.mark.django_db
def test_a_delivery_with_a_bad_signature_is_refused(client, webhook_secret):
    body, headers = _delivery("churn", secret="not-the-secret")
    response = _post(client, body, headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == "bad_signature"
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_a_tampered_body_fails_the_signature(client, webhook_secret):
    body, headers = _delivery("churn")
    response = _post(client, body.replace(b"churn", b"fraud"), headers)
    assert response.status_code == 401


@pytest.mark.django_db
def test_a_delivery_with_a_stale_timestamp_is_refused(client, webhook_secret, settings):
    body, headers = _delivery("churn", age=int(settings.PORTAL_MLFLOW_WEBHOOK_MAX_AGE.total_seconds()) + 60)
    response = _post(client, body, headers)
    assert response.status_code == 400 and response.json()["error"]["code"] == "stale_timestamp"
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_a_replayed_delivery_is_refused_and_recorded_once(client, webhook_secret):
    body, headers = _delivery("churn", event="model_version_alias.created")
    assert _post(client, body, headers).status_code == 202
    replay = _post(client, body, headers)
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "replayed_delivery"
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.django_db
def test_deliveries_without_headers_or_when_no_secret_is_configured_are_refused(client, settings):
    settings.PORTAL_MLFLOW_WEBHOOK_SECRET = ""
    assert _post(client, *_delivery("churn")).status_code == 503
    settings.PORTAL_MLFLOW_WEBHOOK_SECRET = SECRET
    assert _post(client, b"{}", {}).status_code == 400
    assert client.get(URL).status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [b"[]", b'{"data": "x"}', b'"text"', b"1" * 5000, b"[" * 1000 + b"]" * 1000, b'{"data": [1]}'],
    ids=["list", "data-not-object", "string", "huge-integer", "nested-1000-deep", "data-a-list"],
)
def test_a_correctly_signed_body_of_the_wrong_shape_gets_a_400_not_a_500(client, webhook_secret, body):
    delivery_id, timestamp = str(uuid.uuid4()), str(int(time.time()))
    headers = {
        "X-MLflow-Delivery-Id": delivery_id,
        "X-MLflow-Timestamp": timestamp,
        "X-MLflow-Signature": signature_for(
            secret=webhook_secret, delivery_id=delivery_id, timestamp=timestamp, body=body
        ),
    }
    response = _post(client, body, headers)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in ("bad_payload", "parse_error")


@pytest.mark.django_db
def test_events_that_do_not_concern_a_model_are_acknowledged_without_a_sync(client, webhook_secret):
    response = _post(client, *_delivery("", event="prompt.created"))
    assert response.status_code == 202 and response.json()["sync_queued"] is False


def test_mlflow_delivers_a_registered_webhook_and_the_model_is_synced(
    celery_worker, live_server, webhook_secret, settings, mlflow_uri, mlflow_client
):
    from io import StringIO

    from django.core.management import call_command

    settings.PORTAL_MLFLOW_WEBHOOK_URL = f"{live_server.url}{URL}"
    out = StringIO()
    call_command("mlflow_webhooks", "--register", stdout=out)
    call_command("mlflow_webhooks", "--register", stdout=out)  # a second call updates, never duplicates
    assert "Created webhook" in out.getvalue() and "Updated webhook" in out.getvalue()
    assert [h.name for h in mlflow_client.list_webhooks()].count("mlops-portal-mirror") == 1

    experiment_id = mlflow_client.create_experiment(unique("delivered"))
    run_id = log_run(mlflow_client, experiment_id)
    model_name = unique("delivered-model")
    register_version(mlflow_client, model_name, run_id)  # MLflow sends registered_model.created, model_version.created

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not ModelVersion.objects.filter(registered_model__name=model_name).exists():
        time.sleep(0.3)
    assert ModelVersion.objects.filter(registered_model__name=model_name, version=1).exists()
    assert WebhookDelivery.objects.filter(model_name=model_name, event="model_version.created").exists()
    assert SyncRun.objects.filter(kind=SyncRun.Kind.MODEL, target=model_name).exists()
    for hook in mlflow_client.list_webhooks():  # the server is shared by the session: leave it quiet
        mlflow_client.delete_webhook(hook.webhook_id)
