"""Celery tasks of the promotion gate: thin, take ids, safe to run twice."""

from celery import shared_task
from django.conf import settings

from registry.errors import MlflowRejected, MlflowUnavailable
from registry.promotions import outbox
from registry.promotions.outbox import outbox_sweep, promotion_attempt_failed, promotion_fail


@shared_task(
    name="registry.promotion_tasks.promotion_execute",
    bind=True,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
    max_retries=None,
)
def promotion_execute(self, request_id: int) -> None:  # noqa: ANN001 - Celery binds the task instance
    """Move the alias in MLflow. Transient MLflow failures are retried with exponential backoff up
    to PORTAL_PROMOTION_MAX_RETRIES; then the request fails with the error and an alert."""
    try:
        outbox.promotion_execute(request_id=request_id)
    except MlflowUnavailable as exc:
        retries = self.request.retries
        if retries >= settings.PORTAL_PROMOTION_MAX_RETRIES:
            promotion_fail(request_id=request_id, error=f"{exc} (gave up after {retries + 1} attempts)")
            return
        countdown = min(settings.PORTAL_PROMOTION_RETRY_BACKOFF * 2**retries, settings.PORTAL_PROMOTION_RETRY_MAX_DELAY)
        promotion_attempt_failed(request_id=request_id, error=str(exc), retry_in=countdown)
        raise self.retry(exc=exc, countdown=countdown) from exc
    except MlflowRejected as exc:  # MLflow refused: retrying the same call cannot help
        promotion_fail(request_id=request_id, error=str(exc))


@shared_task(
    name="registry.promotion_tasks.promotion_outbox_sweep", ignore_result=True, soft_time_limit=60, time_limit=90
)
def promotion_outbox_sweep() -> int:
    """Beat runs this: outbox rows a crash left behind are dispatched again."""
    return outbox_sweep(older_than_seconds=settings.PORTAL_PROMOTION_SWEEP_AFTER_SECONDS)
