"""Fault F7 (issue 15): a webhook receiver and a training pipeline's API that hang.

Two endpoints on loopback read each request and then send nothing, for as long as the test runs; a
real Celery worker delivers an alert's webhook and a retrain request to them. What must hold: each
call is given up after PORTAL_MONITORING_WEBHOOK_TIMEOUT (the endpoint sees the portal hang up, it
never answers by itself), retried with a growing delay up to a maximum, and the monitor's page shows
the attempts and the timeout. When the webhook answers again, the next attempt delivers it."""

import pytest

from monitoring.models import Alert, Notification, NotificationChannel, RetrainEvent, RetrainTrigger
from monitoring.services.alerts import alert_raise
from monitoring.services.retrain import retrain_request
from monitoring.tasks import NOTIFICATION_MAX_RETRIES, RETRAIN_MAX_RETRIES
from tests.waiting import wait_for

from .loopback import hanging_endpoint, observed

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

TIMEOUT = 1.0


def test_f7_hanging_webhook_and_pipeline_calls_time_out_retry_with_backoff_and_show_it(
    request, celery_worker, monitor, engineer, client, settings
):
    settings.MONITORING_WEBHOOK_TIMEOUT = TIMEOUT
    settings.MONITORING_DELIVERY_RETRY_BACKOFF = 1.0
    settings.MONITORING_DELIVERY_RETRY_MAX_DELAY = 4.0
    with hanging_endpoint() as webhook, hanging_endpoint() as pipeline:
        NotificationChannel.objects.create(monitor=monitor, kind="webhook", target=f"{webhook.url}/hook")
        RetrainTrigger.objects.create(monitor=monitor, url=f"{pipeline.url}/apis/v2beta1/runs", cooldown_hours=24)
        alert_raise(  # queues the notification on the worker, as a drift job's alert does
            monitor=monitor, kind=Alert.Kind.VOLUME, key_suffix="", severity="warning", title="Volume dropped"
        )
        event = retrain_request(monitor=monitor, run=None, reason=RetrainEvent.Reason.MANUAL, actor=engineer)

        def notification() -> Notification:  # created by the worker's alert_notify
            return Notification.objects.filter(channel__monitor=monitor).first() or Notification(attempts=0)

        # Both endpoints hang: attempts pile up, each given up by the portal.
        wait_for(lambda: notification().attempts >= 3, timeout=60, message="three webhook attempts")
        hung = notification()
        assert hung.status == Notification.Status.FAILED
        assert f"no answer within the {TIMEOUT:g} s timeout" in hung.last_error
        assert "next attempt in" in hung.last_error
        client.force_login(engineer)
        page = client.get(f"/monitors/{monitor.pk}/jobs/").content.decode()
        assert f"no answer within the {TIMEOUT:g} s timeout" in page

        # The webhook answers again: the next attempt delivers the alert.
        webhook.mode = "ok"
        wait_for(lambda: notification().status == Notification.Status.SENT, timeout=60, message="the webhook sent")
        # The pipeline never answers: the retrain request gives up after its maximum, shown as failed.
        wait_for(
            lambda: "gave up" in RetrainEvent.objects.get(pk=event.pk).response_body,
            timeout=90,
            message="the retrain request given up",
        )
        hung_calls = [d for d in webhook.deliveries + pipeline.deliveries if not d.answered]
        webhook_calls, pipeline_calls = list(webhook.deliveries), list(pipeline.deliveries)

    sent = notification()
    assert sent.attempts == len(webhook_calls) and sent.last_error == ""
    assert [d.answered for d in webhook_calls] == [False] * (len(webhook_calls) - 1) + [True]
    assert len(webhook_calls) <= NOTIFICATION_MAX_RETRIES + 1
    given_up = RetrainEvent.objects.get(pk=event.pk)
    assert given_up.status == RetrainEvent.Status.FAILED and given_up.response_status is None
    assert given_up.attempts == len(pipeline_calls) == RETRAIN_MAX_RETRIES + 1
    assert f"no answer within the {TIMEOUT:g} s timeout" in given_up.response_body
    assert f"gave up after {RETRAIN_MAX_RETRIES + 1} attempts" in given_up.response_body
    jobs_page = client.get(f"/monitors/{monitor.pk}/jobs/").content.decode()
    assert f"{given_up.attempts} attempts" in jobs_page and "gave up after" in jobs_page  # the retrain's too
    # Every hung call ended because the portal hung up: the endpoint itself would have waited forever.
    assert hung_calls and all(d.caller_hung_up for d in hung_calls)

    observed(
        request,
        "F7: a webhook and a pipeline endpoint that hang",
        {
            "timeout": f"{TIMEOUT:g} s",
            "webhook": f"{len(webhook_calls) - 1} hung calls, then delivered on attempt {sent.attempts}",
            "pipeline": f"{len(pipeline_calls)} hung calls, then given up: {given_up.response_body[-80:]!r}",
            "longest hold of a hung call (endpoint's clock)": f"{max(d.held for d in hung_calls):.2f} s",
            "every hung call ended by the portal hanging up": all(d.caller_hung_up for d in hung_calls),
        },
    )


def test_f7_a_pipeline_that_trickles_its_answer_is_given_up_at_the_timeout_too(
    request, celery_worker, monitor, engineer, settings
):
    """requests' timeout bounds each wait for a byte; an answer sent a byte every 0.2 s never trips
    it. The portal bounds the whole call instead."""
    settings.MONITORING_WEBHOOK_TIMEOUT = TIMEOUT
    settings.MONITORING_DELIVERY_RETRY_BACKOFF = 1.0
    settings.MONITORING_DELIVERY_RETRY_MAX_DELAY = 4.0
    with hanging_endpoint() as pipeline:
        pipeline.mode = "trickle"
        RetrainTrigger.objects.create(monitor=monitor, url=f"{pipeline.url}/apis/v2beta1/runs", cooldown_hours=24)
        event = retrain_request(monitor=monitor, run=None, reason=RetrainEvent.Reason.MANUAL, actor=engineer)
        wait_for(
            lambda: "gave up" in RetrainEvent.objects.get(pk=event.pk).response_body,
            timeout=90,
            message="the retrain request given up",
        )
        wait_for(lambda: len(pipeline.deliveries) == RETRAIN_MAX_RETRIES + 1, timeout=10, message="every call ended")
        calls = list(pipeline.deliveries)

    given_up = RetrainEvent.objects.get(pk=event.pk)
    assert given_up.status == RetrainEvent.Status.FAILED and given_up.attempts == RETRAIN_MAX_RETRIES + 1
    assert f"HTTP 200, but its answer was still arriving at the {TIMEOUT:g} s timeout" in given_up.response_body
    assert len(calls) == RETRAIN_MAX_RETRIES + 1
    observed(
        request,
        "F7: a pipeline endpoint that trickles its answer (a byte every 0.2 s)",
        {
            "timeout": f"{TIMEOUT:g} s",
            "calls, each cut by the portal": len(calls),
            "longest call (endpoint's clock)": f"{max(c.held for c in calls):.2f} s",
            "shown": given_up.response_body[-90:],
        },
    )
