"""The one Celery app. Configuration lives in settings (CELERY_*), the schedule included."""

import os

from celery import Celery
from celery.signals import task_postrun, worker_init

from mlopsportal.memory import arrow_allocates_with_malloc, freed_memory_released, malloc_arenas_limited

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlopsportal.settings")
malloc_arenas_limited()  # before the pool's threads or processes start: see mlopsportal/memory.py
arrow_allocates_with_malloc()

app = Celery("mlopsportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_postrun.connect
def _memory_given_back(**_: object) -> None:
    # A batch binned or a window computed leaves hundreds of MB freed but kept; hand it back.
    freed_memory_released()


@worker_init.connect
def _drift_statistics_loaded_once(**_: object) -> None:
    # SciPy loads scipy.stats on first use, ~4 s on the 2-core development machine. Loaded here, in
    # the worker's main process before its pool starts, every pool process forked from it has it
    # already, also each one that replaces a process killed in the middle of a drift job.
    import scipy.stats  # noqa: F401
