"""The ingest endpoint's rate limits: batches per address and monitor, and wrong ingest tokens
per address, which share the API's failure budget (registry/throttling.py)."""

import pytest

from monitoring.api.ingest import LargeBodySlots
from monitoring.models import InferenceBatch
from registry.services import api_token_rotate
from tests.monitoring.conftest import reference_frame, to_parquet

pytestmark = pytest.mark.django_db

PARQUET = "application/vnd.apache.parquet"


def _post(client, monitor, key: str, address: str = "10.0.0.5"):
    return client.post(
        f"/api/v1/monitors/{monitor.pk}/batches/",
        to_parquet(reference_frame(rows=50)),
        content_type=PARQUET,
        HTTP_AUTHORIZATION=f"Bearer {key}",
        REMOTE_ADDR=address,
    )


def test_batches_per_monitor_and_address_are_limited_and_the_refused_one_is_not_stored(
    client, monitor, ingest_key, throttle_rates
):
    throttle_rates(ingest="2/minute")

    answers = [_post(client, monitor, ingest_key).status_code for _ in range(3)]

    assert answers == [201, 201, 429]
    assert InferenceBatch.objects.filter(monitor=monitor).count() == 2
    assert _post(client, monitor, ingest_key, address="10.0.0.6").status_code == 201


def test_wrong_ingest_tokens_pause_the_address_for_api_tokens_too(
    client, monitor, ingest_key, engineer, throttle_rates
):
    throttle_rates(credential_failures="2/minute")

    wrong = [_post(client, monitor, "mpi_wrong", address="10.6.6.6").status_code for _ in range(2)]
    paused = _post(client, monitor, ingest_key, address="10.6.6.6")
    api_call = client.get(
        "/api/v1/me/", HTTP_AUTHORIZATION=f"Token {api_token_rotate(user=engineer)}", REMOTE_ADDR="10.6.6.6"
    )

    assert wrong == [401, 401]
    assert paused.status_code == api_call.status_code == 429
    assert "Retry-After" in paused.headers
    assert _post(client, monitor, ingest_key, address="10.0.0.7").status_code == 201


def test_a_large_batch_waits_its_turn_then_gets_503_with_retry_after_and_nothing_is_stored(
    client, monitor, ingest_key, settings, monkeypatch
):
    settings.MONITORING_LARGE_BODY_BYTES = 1_000  # the test's 50-row Parquet batches count as large
    monkeypatch.setattr(LargeBodySlots, "WAIT_SECONDS", 0.2)
    slot = LargeBodySlots.semaphore()
    assert slot.acquire(timeout=1)  # another large batch is being read in this process
    try:
        busy = _post(client, monitor, ingest_key)
        settings.MONITORING_LARGE_BODY_BYTES = 10_000_000
        small = _post(client, monitor, ingest_key)  # small bodies never wait
    finally:
        slot.release()
    settings.MONITORING_LARGE_BODY_BYTES = 1_000

    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "5"
    assert busy.json()["error"]["code"] == "busy"
    assert small.status_code == 201
    assert InferenceBatch.objects.filter(monitor=monitor).count() == 1
    assert _post(client, monitor, ingest_key).status_code == 201  # its turn has come
