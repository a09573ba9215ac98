from celery import shared_task

from assessments import services
from registry.models import Project


@shared_task(
    name="assessments.tasks.scorecard_recompute_task",
    bind=True,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
)
def scorecard_recompute_task(self, project_id: int) -> None:  # noqa: ANN001 - Celery binds the task
    """Safe to run twice: the second run finds an unchanged scorecard and stores nothing."""
    if Project.objects.filter(pk=project_id).exists():
        services.scorecard_recompute(project_id=project_id)


@shared_task(name="assessments.tasks.scorecards_recompute_all", ignore_result=True, soft_time_limit=120, time_limit=180)
def scorecards_recompute_all() -> int:
    """Nightly from beat: one task per project, so workers share the load and one failure stays local."""
    ids = list(Project.objects.order_by("pk").values_list("pk", flat=True))
    for project_id in ids:
        scorecard_recompute_task.delay(project_id)
    return len(ids)
