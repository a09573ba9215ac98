"""Celery tasks: thin, take ids, each calls one service; safe to run twice.

Each task's name is pinned in its decorator (the name queued messages and beat's schedule carry);
services queue tasks by that name (mlopsportal.dispatch) and never import this module. A task's
function is named `<name>_task`, never the name of the service it calls."""

import logging
import random
from collections.abc import Callable

from celery import Task, shared_task
from django.conf import settings

from monitoring.models import InferenceBatch
from monitoring.services import batches, delivery, drift_runs, lost_work, notifications, retrain
from monitoring.shadow import evaluations as shadow

logger = logging.getLogger(__name__)


@shared_task(
    name="monitoring.tasks.batch_bin",
    bind=True,
    ignore_result=True,
    acks_late=True,
    soft_time_limit=300,
    time_limit=360,
)
def batch_bin_task(self, batch_id: int) -> None:  # noqa: ANN001 - Celery binds the task instance
    """Bins a batch against the current reference right after it arrives; a failure is recorded on the
    batch (the next drift job of its window tries again)."""
    try:
        batches.batch_bin(batch_id=batch_id)
    except Exception as exc:
        InferenceBatch.objects.filter(pk=batch_id).update(status=InferenceBatch.Status.FAILED, error=str(exc)[:2000])
        raise


# A worker process that dies mid-job (SIGKILL, the OOM killer) makes Celery's main process send the
# job again, as a retry, after a short delay (retry_on_worker_lost; without it the message would be
# requeued as the same delivery, indistinguishable from a duplicate while the dead claim looks live).
# The retry takes over the dead claim at once; drift_run_claim stops a window after
# DRIFT_RUN_MAX_ATTEMPTS, so Celery's own retry count is left unbounded.
@shared_task(
    name="monitoring.tasks.drift_run_execute",
    bind=True,
    ignore_result=True,
    acks_late=True,
    retry_on_worker_lost=True,
    default_retry_delay=settings.DRIFT_RUN_LOST_WORKER_RETRY_DELAY,
    max_retries=None,
    soft_time_limit=540,
    time_limit=600,
)
def drift_run_execute_task(self, drift_run_id: int) -> None:  # noqa: ANN001
    # Retries of this task come only from a lost worker: it never calls self.retry().
    drift_runs.drift_run_execute(run_id=drift_run_id, after_lost_worker=self.request.retries > 0)


@shared_task(name="monitoring.tasks.drift_schedule", bind=True, ignore_result=True, soft_time_limit=120, time_limit=180)
def drift_schedule_task(self) -> None:  # noqa: ANN001
    """From beat: queue the due windows and the runs a dead worker left behind."""
    drift_runs.drift_runs_schedule()


@shared_task(name="monitoring.tasks.alert_notify", bind=True, ignore_result=True, soft_time_limit=60, time_limit=90)
def alert_notify_task(self, alert_id: int) -> None:  # noqa: ANN001
    notifications.alert_notify(alert_id=alert_id)


# Deliveries to someone else's endpoint: acked late so a worker lost mid-delivery leaves the message
# for another (the sends are idempotent). Each call is bounded by MONITORING_WEBHOOK_TIMEOUT
# (delivery.post_within); a failed one is retried with a growing, jittered delay read from settings
# (Celery's autoretry reads its backoff once, at import), up to a maximum, and the page shows each attempt.
DELIVERY_TASK = {"bind": True, "ignore_result": True, "acks_late": True, "soft_time_limit": 60, "time_limit": 90}
NOTIFICATION_MAX_RETRIES = 5
RETRAIN_MAX_RETRIES = 3  # a pipeline run is costly: give up sooner


def _retry_delivery(task: Task, exc: Exception, *, max_retries: int, explain: Callable[[str], None]) -> None:
    retries = task.request.retries
    if retries >= max_retries:
        explain(f"gave up after {retries + 1} attempts")
        logger.warning("%s gave up after %s attempts: %s", task.name, retries + 1, exc)
        return
    ceiling = min(settings.MONITORING_DELIVERY_RETRY_BACKOFF * 2**retries, settings.MONITORING_DELIVERY_RETRY_MAX_DELAY)
    countdown = round(ceiling / 2 + random.uniform(0, ceiling / 2), 1)  # grows, yet never in lockstep
    explain(f"next attempt in {countdown:g} s")
    raise task.retry(exc=exc, countdown=countdown, max_retries=max_retries)


@shared_task(name="monitoring.tasks.notification_send", **DELIVERY_TASK)
def notification_send_task(self, notification_id: int) -> None:  # noqa: ANN001
    try:
        notifications.notification_send(notification_id=notification_id)
    except delivery.DeliveryFailed as exc:
        _retry_delivery(
            self,
            exc,
            max_retries=NOTIFICATION_MAX_RETRIES,
            explain=lambda note: delivery.delivery_failure_explained(notification_id=notification_id, what_next=note),
        )


@shared_task(name="monitoring.tasks.retrain_send", **DELIVERY_TASK)
def retrain_send_task(self, event_id: int) -> None:  # noqa: ANN001
    try:
        retrain.retrain_send(event_id=event_id)
    except delivery.DeliveryFailed as exc:
        _retry_delivery(
            self,
            exc,
            max_retries=RETRAIN_MAX_RETRIES,
            explain=lambda note: delivery.delivery_failure_explained(retrain_event_id=event_id, what_next=note),
        )


@shared_task(name="monitoring.tasks.lost_work_sweep", bind=True, ignore_result=True, soft_time_limit=60, time_limit=90)
def lost_work_sweep_task(self) -> None:  # noqa: ANN001
    """From beat, every minute: work recorded while the broker was down is sent again (lost_work)."""
    lost_work.lost_work_send()


# On its own queue (settings.SHADOW_QUEUE, routed in CELERY_TASK_ROUTES by this name, also when
# queued by name): loading a model runs code its author wrote, so an installation may give these
# jobs workers of their own. The model processes and environment builds the job starts have their
# own time limits; the task's bound the whole job.
@shared_task(
    name="monitoring.tasks.shadow_evaluation_execute",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=settings.SHADOW_JOB_SECONDS,
    time_limit=settings.SHADOW_JOB_SECONDS + 60,
)
def shadow_evaluation_execute_task(evaluation_id: int) -> None:
    if shadow.shadow_evaluation_claim(evaluation_id=evaluation_id):
        shadow.shadow_evaluation_run(evaluation_id=evaluation_id)
