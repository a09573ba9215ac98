"""Celery tasks: thin, take ids, safe to run twice."""

from celery import shared_task
from django.db import transaction

from . import jobs, services
from .models import DriftRun, InferenceBatch


@shared_task(bind=True, ignore_result=True, acks_late=True, soft_time_limit=300, time_limit=360)
def batch_bin(self, batch_id: int) -> None:  # noqa: ANN001 - Celery binds the task instance
    """Bins a batch against the current reference right after it arrives; a failure is recorded on the
    batch (the next drift job of its window tries again)."""
    try:
        services.batch_bin(batch_id=batch_id)
    except Exception as exc:
        InferenceBatch.objects.filter(pk=batch_id).update(status=InferenceBatch.Status.FAILED, error=str(exc)[:2000])
        raise


@shared_task(bind=True, ignore_result=True, acks_late=True, soft_time_limit=540, time_limit=600)
def drift_run_execute(self, drift_run_id: int) -> None:  # noqa: ANN001
    if not jobs.drift_run_claim(run_id=drift_run_id):
        return  # another delivery holds it, or it is done
    try:
        jobs.drift_run_compute(run_id=drift_run_id)
    except Exception as exc:
        DriftRun.objects.filter(pk=drift_run_id).update(status=DriftRun.Status.FAILED, error=str(exc)[:2000])
        raise


def drift_run_enqueue(*, monitor_id: int, window_start: object, trigger: str) -> DriftRun:
    from .models import Monitor

    monitor = Monitor.objects.get(pk=monitor_id)
    run = jobs.drift_run_prepare(monitor=monitor, window_start=window_start, trigger=trigger)
    transaction.on_commit(lambda: drift_run_execute.delay(run.pk))
    return run


@shared_task(bind=True, ignore_result=True, soft_time_limit=120, time_limit=180)
def drift_schedule(self) -> None:  # noqa: ANN001
    """From beat: queue the last complete window of every monitor that lacks a finished run, and
    re-queue runs a dead worker left behind."""
    for monitor, start in jobs.due_windows():
        run = jobs.drift_run_prepare(monitor=monitor, window_start=start, trigger=DriftRun.Trigger.SCHEDULE)
        if run.status == DriftRun.Status.QUEUED:
            drift_run_execute.delay(run.pk)
    for run_id in jobs.runs_to_resume():
        drift_run_execute.delay(run_id)


@shared_task(bind=True, ignore_result=True, soft_time_limit=60, time_limit=90)
def alert_notify(self, alert_id: int) -> None:  # noqa: ANN001
    for notification_id in jobs.notifications_create(alert_id=alert_id):
        notification_send.delay(notification_id)


# Deliveries to someone else's endpoint: retried with jittered backoff while it fails, acked late
# so a worker lost mid-delivery leaves the message for another (the sends are idempotent).
DELIVERY_TASK = {
    "bind": True,
    "ignore_result": True,
    "acks_late": True,
    "autoretry_for": (jobs.DeliveryFailed,),
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "soft_time_limit": 60,
    "time_limit": 90,
}


@shared_task(**DELIVERY_TASK, max_retries=5)
def notification_send(self, notification_id: int) -> None:  # noqa: ANN001
    jobs.notification_send(notification_id=notification_id)


@shared_task(**DELIVERY_TASK, max_retries=3)  # a pipeline run is costly: give up sooner
def retrain_send(self, event_id: int) -> None:  # noqa: ANN001
    jobs.retrain_send(event_id=event_id)
