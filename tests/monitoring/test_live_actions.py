"""Run drift now and trigger retraining: the page posts without reloading and follows the job."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import DriftRun, RetrainEvent, RetrainTrigger
from monitoring.services import batches, monitors
from tests.conftest import CHROMIUM, browser_page_as
from tests.monitoring.conftest import reference_frame, to_parquet
from tests.monitoring.test_drift_jobs import Receiver, shifted

LIVE = {"HTTP_ACCEPT": "application/json"}


def _ingest_now(monitor, frame):
    return batches.batch_ingest(
        monitor=monitor, body=to_parquet(frame), fmt="parquet", received_at=timezone.now() - timedelta(seconds=5)
    )


@pytest.mark.django_db
def test_a_live_run_drift_now_answers_202_and_the_activity_panel_shows_the_queued_job(client, engineer, monitor):
    _ingest_now(monitor, reference_frame(200, seed=4))
    client.force_login(engineer)

    response = client.post(f"/monitors/{monitor.pk}/run-drift/", **LIVE)

    assert response.status_code == 202
    assert response.json()["message"].startswith("Drift job queued for the window starting")
    fragment = client.get(f"/monitors/{monitor.pk}/?fragment=activity").content.decode()
    assert fragment.lstrip().startswith('<section class="card" id="monitor-activity"')
    assert 'data-running="1"' in fragment and 'data-drift-status="queued"' in fragment
    # The page's script reports the outcome; no flash message waits for a later page.
    assert "Drift job queued" not in client.get(monitor.get_absolute_url()).content.decode()


@pytest.mark.django_db
def test_a_plain_post_still_redirects_with_a_message(client, engineer, monitor):
    _ingest_now(monitor, reference_frame(200, seed=4))
    client.force_login(engineer)
    response = client.post(f"/monitors/{monitor.pk}/run-drift/", follow=True)
    assert response.redirect_chain[-1][0] == monitor.get_absolute_url()
    assert "Drift job queued" in response.content.decode()


@pytest.mark.django_db
def test_a_live_retrain_without_an_active_trigger_is_refused_with_a_json_error(client, engineer, monitor):
    client.force_login(engineer)
    RetrainTrigger.objects.create(monitor=monitor, url="http://127.0.0.1:9/none", is_active=False)
    response = client.post(f"/monitors/{monitor.pk}/retrain/", **LIVE)
    assert response.status_code == 409
    assert response.json()["error"]["message"] == "This monitor has no active retrain trigger."
    assert response.json()["error"]["code"] == "conflict"
    assert not RetrainEvent.objects.exists()


@pytest.mark.django_db
def test_the_activity_panel_follows_the_monitors_visibility_and_the_actions_their_permissions(
    client, engineer, manager, reviewer, outsider, monitor, private_project
):
    url = f"/monitors/{monitor.pk}/?fragment=activity"
    for user in (engineer, manager, reviewer, outsider):  # a public project's monitor: everyone reads it
        client.force_login(user)
        assert client.get(url).status_code == 200, user
    for user in (manager, reviewer, outsider):  # only the project's engineers act on it
        client.force_login(user)
        assert client.post(f"/monitors/{monitor.pk}/run-drift/", **LIVE).status_code == 403, user
        assert client.post(f"/monitors/{monitor.pk}/retrain/", **LIVE).status_code == 403, user
    assert not DriftRun.objects.exists()

    secret = monitors.monitor_create(
        actor=None, project=private_project, name="secret", model_name="m", expected_schema=[]
    )
    client.force_login(outsider)
    assert client.get(f"/monitors/{secret.pk}/?fragment=activity").status_code == 404
    client.logout()
    assert client.get(url).status_code == 302  # to the login page


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs the chromium package (CI installs it)")
def test_both_buttons_follow_their_job_to_the_end_without_reloading_the_page(
    celery_worker, live_server, client, engineer, monitor
):
    receiver = Receiver(status=202)
    try:
        RetrainTrigger.objects.create(monitor=monitor, url=receiver.url + "/retrain", cooldown_hours=0)
        _ingest_now(monitor, shifted(rows=2000))
        with browser_page_as(engineer, live_server=live_server, client=client) as page:
            page.goto(f"{live_server.url}{monitor.get_absolute_url()}")
            page.evaluate("window.notReloaded = true")
            assert "None yet" in page.inner_text("#monitor-activity")
            # A function, not an expression: Playwright evaluates an expression with eval(), which
            # the page's Content-Security-Policy refuses.
            done = "() => document.getElementById('monitor-action-state').textContent === 'Done.'"

            page.get_by_role("button", name="Run drift now").click()
            page.wait_for_function(done, timeout=90_000)
            panel = page.inner_text("#monitor-activity")
            assert "2000 rows" in panel and "see this window" in panel, panel

            page.evaluate("document.getElementById('monitor-action-state').textContent = ''")
            page.get_by_role("button", name="Trigger retraining").click()
            page.wait_for_function(done, timeout=60_000)
            panel = page.inner_text("#monitor-activity")
            assert "sent" in panel and "HTTP 202" in panel, panel

            assert page.evaluate("window.notReloaded") is True  # the same page, updated in place
            assert page.errors == []
        assert DriftRun.objects.get(monitor=monitor).status == DriftRun.Status.DONE
        assert len(receiver.requests) == 1
        assert json.loads(receiver.requests[0]["body"])
    finally:
        receiver.close()
