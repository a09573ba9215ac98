"""Health of the parts the portal depends on, for /healthz and the status shown to operators."""

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone
from kombu import Connection

from registry.mlflow_client import MlflowRestClient
from registry.models import WorkerHeartbeat

CHECK_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    milliseconds: float
    # A failing critical check makes the whole portal unhealthy (503); the others only inform.
    critical: bool = True

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _timed(name: str, probe: Callable[[], str], *, critical: bool = True) -> CheckResult:
    started = time.perf_counter()
    try:
        detail, ok = probe(), True
    except Exception as exc:  # a health probe reports every failure instead of raising it
        detail, ok = f"{type(exc).__name__}: {exc}", False
    elapsed = (time.perf_counter() - started) * 1000
    return CheckResult(name=name, ok=ok, detail=detail, milliseconds=round(elapsed, 1), critical=critical)


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _broker() -> str:
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=CHECK_TIMEOUT_SECONDS) as broker:
        broker.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)
        return broker.as_uri()  # masks any password


def _mlflow() -> str:
    MlflowRestClient(timeout=CHECK_TIMEOUT_SECONDS).ping()
    return settings.MLFLOW_TRACKING_URI


def _worker() -> str:
    latest = WorkerHeartbeat.objects.order_by("-last_seen").first()
    if latest is None:
        raise RuntimeError("no Celery worker has reported a heartbeat yet")
    age = timezone.now() - latest.last_seen
    if age > settings.PORTAL_WORKER_HEARTBEAT_MAX_AGE:
        raise RuntimeError(f"last heartbeat from {latest.hostname} was {int(age.total_seconds())} s ago")
    return f"{latest.hostname}, {int(age.total_seconds())} s ago"


def health_report() -> list[CheckResult]:
    return [
        _timed("database", _database),
        _timed("broker", _broker),
        _timed("mlflow", _mlflow),
        _timed("worker", _worker, critical=False),
    ]
