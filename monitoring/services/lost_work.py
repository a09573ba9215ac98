"""Work recorded while the broker was down, found and sent again."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from mlopsportal.dispatch import send_now
from monitoring.models import (
    Alert,
    DriftRun,
    InferenceBatch,
    Notification,
    RetrainEvent,
)
from monitoring.shadow import evaluations as shadow

logger = logging.getLogger(__name__)

# Work recorded while the broker was down never reached a worker (mlopsportal/dispatch.py). After
# MONITORING_LOST_WORK_AFTER_SECONDS, lost_work_sweep sends it again; every task it sends is idempotent,
# so work that was merely slow and gets sent twice costs a no-op. Older than the lookback, work was
# done or shows as failed.
LOST_WORK_LOOKBACK = timedelta(days=1)
LOST_WORK_BATCH = 500  # per kind and sweep: a long outage's backlog drains over a few minutes


@dataclass(frozen=True)
class LostWork:
    batches: list[int]  # received, not binned, and their monitor has a reference to bin against
    drift_runs: list[int]  # queued, never claimed
    alerts: list[int]  # open, the monitor has an active channel, no notification was ever created
    notifications: list[int]  # pending, never attempted
    retrain_events: list[int]  # pending, never attempted


def lost_work(*, now: datetime | None = None) -> LostWork:
    """What was recorded between LOST_WORK_LOOKBACK and MONITORING_LOST_WORK_AFTER_SECONDS ago and
    never started."""
    now = now or timezone.now()
    since, until = now - LOST_WORK_LOOKBACK, now - timedelta(seconds=settings.MONITORING_LOST_WORK_AFTER_SECONDS)

    def ids(queryset: Any) -> list[int]:
        return list(queryset.order_by("pk").values_list("pk", flat=True).distinct()[:LOST_WORK_BATCH])

    return LostWork(
        batches=ids(
            InferenceBatch.objects.filter(
                status=InferenceBatch.Status.RECEIVED,
                received_at__range=(since, until),
                monitor__references__is_current=True,
            )
        ),
        drift_runs=ids(
            DriftRun.objects.filter(
                status=DriftRun.Status.QUEUED, claimed_at__isnull=True, created_at__range=(since, until)
            )
        ),
        alerts=ids(
            Alert.objects.filter(
                status=Alert.Status.OPEN, created_at__range=(since, until), monitor__channels__is_active=True
            ).filter(notifications__isnull=True)
        ),
        notifications=ids(
            Notification.objects.filter(
                status=Notification.Status.PENDING, attempts=0, created_at__range=(since, until)
            )
        ),
        retrain_events=ids(
            RetrainEvent.objects.filter(
                status=RetrainEvent.Status.PENDING, attempts=0, created_at__range=(since, until)
            )
        ),
    )


# Each kind of lost work and the task, by its pinned name, that does it (services never import tasks).
LOST_WORK_TASKS = {
    "batches": "monitoring.tasks.batch_bin",
    "drift_runs": "monitoring.tasks.drift_run_execute",
    "alerts": "monitoring.tasks.alert_notify",
    "notifications": "monitoring.tasks.notification_send",
    "retrain_events": "monitoring.tasks.retrain_send",
}
SHADOW_EVALUATION_EXECUTE = "monitoring.tasks.shadow_evaluation_execute"


def lost_work_send() -> LostWork:
    """From beat, every minute: work recorded while the broker was down (batches to bin, drift runs,
    alerts to notify, deliveries, shadow replays) is sent now that it is back."""
    work = lost_work()
    for kind, task_name in LOST_WORK_TASKS.items():
        for pk in getattr(work, kind):
            send_now(task_name, pk)
    if any(vars(work).values()):
        logger.info("Lost work sent again: %s", {kind: len(ids) for kind, ids in vars(work).items() if ids})
    for pk in shadow.shadow_evaluations_lost():
        send_now(SHADOW_EVALUATION_EXECUTE, pk)
    return work
