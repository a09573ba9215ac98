"""Writes on the mirror that people start: queue a sync, link objects to projects, cache histories."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from mlopsportal.dispatch import queue_after_commit
from registry.access import member_may
from registry.audit import audit_record
from registry.errors import PermissionDenied
from registry.mlflow_client import MlflowRestClient
from registry.models import Experiment, MetricHistory, Project, RegisteredModel, Run, SyncRun


def sync_request(*, user: AbstractBaseUser, full: bool = False) -> None:
    """Queue a sync pass on the workers (after the request's transaction commits)."""
    kind = SyncRun.Kind.FULL if full else SyncRun.Kind.INCREMENTAL
    queue_after_commit("registry.tasks.mlflow_sync", kind=kind, requested_by_id=user.pk)


@transaction.atomic
def mirror_object_link(
    *, obj: Experiment | RegisteredModel, project: Project | None, user: AbstractBaseUser
) -> Experiment | RegisteredModel:
    """Link an experiment or a registered model to a project (None: unlink). The user must be allowed
    on both the project it leaves and the project it joins."""
    permission = "registry.change_experiment" if isinstance(obj, Experiment) else "registry.change_registeredmodel"
    current = obj.project
    if not member_may(user=user, project=project, permission=permission) or not member_may(
        user=user, project=current, permission=permission
    ):
        raise PermissionDenied("Only engineers of both projects, or an admin, can move this link.")
    if current == project:
        return obj
    obj.project = project
    obj.save(update_fields=["project"])
    kind = "experiment" if isinstance(obj, Experiment) else "registered_model"
    audit_record(
        action=f"{kind}.linked" if project else f"{kind}.unlinked",
        actor=user,
        obj=obj,
        project=project or current,
        summary=f"{obj} linked to {project}" if project else f"{obj} unlinked from {current}",
        data={"from": current.slug if current else None, "to": project.slug if project else None},
    )
    return obj


def metric_histories(*, run: Run, keys: list[str], client: MlflowRestClient | None = None) -> dict[str, list[list]]:
    """Histories of a run's metrics as {key: [[step, timestamp_ms, value], ...]}, from the cache, or
    fetched from MLflow once and cached (the sync drops a run's cache when its metrics move).
    Raises MlflowUnavailable when a history is not cached and MLflow does not answer."""
    cached = {h.key: h.points for h in MetricHistory.objects.filter(run=run, key__in=keys)}
    missing = [key for key in keys if key not in cached]
    if missing:
        client = client or MlflowRestClient()
        for key in missing:
            points = sorted(
                [int(p.get("step", 0) or 0), int(p.get("timestamp", 0) or 0), p.get("value")]
                for p in client.metric_history(run_id=run.run_id, key=key)
            )
            MetricHistory.objects.update_or_create(run=run, key=key, defaults={"points": points})
            cached[key] = points
    return {key: cached[key] for key in keys}
