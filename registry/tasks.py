from celery import shared_task
from django.utils import timezone

from registry.models import WorkerHeartbeat


@shared_task(name="registry.tasks.worker_heartbeat", bind=True, ignore_result=True, soft_time_limit=10, time_limit=20)
def worker_heartbeat(self) -> None:  # noqa: ANN001 - Celery binds the task instance
    """Record that a worker took a task from beat's schedule: /healthz reports its age."""
    WorkerHeartbeat.objects.update_or_create(
        hostname=self.request.hostname or "unknown", defaults={"last_seen": timezone.now()}
    )
