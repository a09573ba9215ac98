"""Celery tasks of the MLflow mirror. The name keeps the module it was first published from: queued
messages and beat's schedule carry it."""

from celery import shared_task

from registry.errors import MlflowUnavailable
from registry.mirror.sync import sync_execute
from registry.models import SyncRun


@shared_task(
    name="registry.tasks.mlflow_sync",
    bind=True,
    ignore_result=True,
    autoretry_for=(MlflowUnavailable,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=4,
    soft_time_limit=540,
    time_limit=600,
)
def mlflow_sync(
    self,  # noqa: ANN001 - Celery binds the task instance
    kind: str = SyncRun.Kind.INCREMENTAL,
    model_name: str = "",
    requested_by_id: int | None = None,
) -> int:
    """One sync pass. MLflow being unreachable is recorded on the SyncRun and retried with backoff;
    a pass that finds another one running is recorded as skipped (the running one covers it)."""
    sync = sync_execute(kind=kind, model_name=model_name, requested_by_id=requested_by_id, raise_errors=True)
    if sync.status == SyncRun.Status.SKIPPED and (kind == SyncRun.Kind.MODEL or requested_by_id is not None):
        # The running pass may have read this model before the change the webhook announced; and a
        # person who pressed "Sync now" gets the pass they asked for once the running one is done,
        # not a "skipped" line (with beat's passes every few seconds, theirs was often skipped).
        raise self.retry(countdown=MODEL_SYNC_RETRY_SECONDS, max_retries=10)
    return sync.pk


MODEL_SYNC_RETRY_SECONDS = 5
