"""Queueing Celery work after the transaction that records it commits, without failing the request
when the broker is away.

Every kind of background work is written to the database first (a batch waiting to be binned, a
drift run, an alert's notifications, a retrain event, a promotion's outbox row) and queued once that
commits. When Redis is down at that moment, publishing fails after about two seconds; the request has
already stored what it came for, so it answers as it would have (a batch is 201, not a 500 that makes
the sender post it again), and the work waits in the database. A beat task that owns each kind of
work queues it again once the broker is back (monitoring.tasks.lost_work_sweep, drift_schedule's
resumed runs, registry's promotion outbox sweep; a lost sync request is covered by the next
scheduled pass)."""

import logging
from typing import Any

from celery import Task
from django.db import transaction
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)


def queue_after_commit(task: Task, *args: Any, **kwargs: Any) -> None:
    """`task.delay(*args, **kwargs)` once the current transaction commits (at once outside one); a
    broker that cannot take it is logged, not raised: the work's sweep sends it later."""

    def send() -> None:
        try:
            task.delay(*args, **kwargs)
        except OperationalError as exc:  # what Celery raises when it cannot publish
            logger.warning("Broker unavailable: %s%r waits for its sweep (%s)", task.name, args, exc)

    transaction.on_commit(send)
