"""The Celery app of fault F3's worker process: the portal's own app and tasks, plus one test-only
hook, so a kill lands in the middle of a drift job every time.

Inside a drift job's results transaction — the window's results written, its alerts raised, nothing
committed yet — the job writes `computing-<run>-<attempt>` (its process id) into PORTAL_FAULT_HOOK_DIR
and waits there to be killed, on the attempts the test asked for in `kill-<run>` (a number; attempts
up to it wait). Any other job runs through untouched."""

import os
import time
from pathlib import Path

from celery.signals import worker_process_init

from mlopsportal.celery import app

__all__ = ["app"]


@worker_process_init.connect
def _wait_to_be_killed_in_the_middle(**_: object) -> None:
    from monitoring.services import drift_runs

    hook_dir = Path(os.environ["PORTAL_FAULT_HOOK_DIR"])
    alerts_for_run = drift_runs._alerts_for_run

    def alerts_then_wait(run, *args, **kwargs) -> None:
        alerts_for_run(run, *args, **kwargs)
        wanted = hook_dir / f"kill-{run.pk}"
        if wanted.exists() and run.attempts <= int(wanted.read_text()):
            (hook_dir / f"computing-{run.pk}-{run.attempts}").write_text(str(os.getpid()))
            print(f"in the middle of run {run.pk}, attempt {run.attempts}", flush=True)
            time.sleep(120)  # the test kills this process long before

    drift_runs._alerts_for_run = alerts_then_wait
