"""Queueing Celery work after the transaction that records it commits, without failing the request
when the broker is away.

Every kind of background work is written to the database first (a batch waiting to be binned, a
drift run, an alert's notifications, a retrain event, a promotion's outbox row) and queued once that
commits. When Redis is down at that moment, publishing fails after about two seconds; the request has
already stored what it came for, so it answers as it would have (a batch is 201, not a 500 that makes
the sender post it again), and the work waits in the database. A beat task that owns each kind of
work queues it again once the broker is back (monitoring.tasks.lost_work_sweep, drift_schedule's
resumed runs, registry's promotion outbox sweep; a lost sync request is covered by the next
scheduled pass).

Services queue a task by its pinned name ("monitoring.tasks.batch_bin"), so that they never import
the module of tasks that calls them. A name is sent as the task object would be: Celery's send_task
applies the task's routes (CELERY_TASK_ROUTES: the shadow evaluation's own queue) and, for a task
this process has loaded, its options."""

import logging
from typing import Any

from celery import Task
from django.db import transaction
from kombu.exceptions import OperationalError

from mlopsportal.celery import app

logger = logging.getLogger(__name__)


def send_now(task: Task | str, *args: Any, **kwargs: Any) -> None:
    """`task.delay(*args, **kwargs)`, `task` a task or its registered name."""
    if isinstance(task, str):
        app.send_task(task, args=args, kwargs=kwargs)
    else:
        task.delay(*args, **kwargs)


def queue_after_commit(task: Task | str, *args: Any, **kwargs: Any) -> None:
    """`task.delay(*args, **kwargs)` once the current transaction commits (at once outside one), `task`
    a task or its registered name; a broker that cannot take it is logged, not raised: the work's
    sweep sends it later."""
    name = task if isinstance(task, str) else task.name

    def send() -> None:
        try:
            send_now(task, *args, **kwargs)
        except OperationalError as exc:  # what Celery raises when it cannot publish
            logger.warning("Broker unavailable: %s%r waits for its sweep (%s)", name, args, exc)

    transaction.on_commit(send)
