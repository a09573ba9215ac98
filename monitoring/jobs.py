"""The old module of drift jobs, notifications and retraining, now in monitoring.services (drift_runs,
windows, exact_recheck, notifications, delivery, retrain, lost_work).

Answered only for the callers outside monitoring that still import it (tests/faults/
test_f3_worker_killed_mid_drift.py, test_f4_broker_outage.py, test_f7_hanging_endpoints.py,
tests/test_api_schema_conformance.py); remove this module once they import the services they use.
Nothing in monitoring imports it."""

from importlib import import_module
from typing import Any

_MOVED = {
    "LostWork": "monitoring.services.lost_work",
    "lost_work": "monitoring.services.lost_work",
    "drift_run_now": "monitoring.services.drift_runs",
    "drift_run_prepare": "monitoring.services.drift_runs",
    "retrain_request": "monitoring.services.retrain",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'monitoring.jobs' has no attribute {name!r}")
