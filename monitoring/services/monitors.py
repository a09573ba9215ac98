"""Monitors: creating and changing them, and who may."""

from __future__ import annotations

from typing import Any

import pandas as pd
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from monitoring import drift, profiles
from monitoring.models import (
    Monitor,
)
from monitoring.schema import NUMBER_TYPES
from monitoring.signatures import signature_fetch
from registry import access
from registry.errors import PermissionDenied, PortalError, Unavailable
from registry.mirror.sync import sync_execute
from registry.mlflow_client import MlflowRestClient
from registry.models import Project, RegisteredModel, SyncRun

CHANGE_MONITOR = "monitoring.change_monitor"


def ensure_editable(project: Project, user: AbstractBaseUser) -> None:
    """Changing a monitor, its reference, tokens, channels, trigger or alerts takes the role's
    permission to change monitors and membership of the monitor's project (registry.access)."""
    if not access.member_may(user=user, project=project, permission=CHANGE_MONITOR):
        raise PermissionDenied(
            "Only the project's members with the Engineer role, or an admin, can change its monitors."
        )


MONITOR_FIELDS = (
    "prediction_column",
    "label_column",
    "event_time_column",
    "numeric_method",
    "numeric_threshold",
    "categorical_method",
    "categorical_threshold",
    "drift_share",
    "window_seconds",
    "window_rows",
    "volume_drop_below",
    "volume_spike_above",
    "require_declared_types",
    "is_active",
)


def ensure_model_usable(actor: AbstractBaseUser, model_name: str) -> None:
    """The model must be in the mirror and visible to the actor. A model of a project the actor may
    not see is answered exactly like one that does not exist: its signature and training data would
    otherwise reach the monitor through the name alone."""
    if access.model_named(user=actor, name=model_name) is not None:
        return
    if not RegisteredModel.objects.filter(name=model_name).exists():
        # Registered in MLflow a moment ago, perhaps: mirror that one model now instead of making
        # the user wait for the next sync. A new model belongs to no project, so anyone may use it.
        sync = sync_execute(kind=SyncRun.Kind.MODEL, model_name=model_name)
        if sync.status == SyncRun.Status.FAILED:
            raise Unavailable(f"Could not look {model_name!r} up in MLflow: {sync.error}")
        if access.model_named(user=actor, name=model_name) is not None:
            return
    raise PortalError(f"No registered model named {model_name!r}.", fields={"model_name": ["Unknown model."]})


def _experiment_in_mlflow(run_id: str) -> str | None:
    found = MlflowRestClient().run(run_id)
    return found["info"]["experiment_id"] if found else None


def ensure_run_readable(actor: AbstractBaseUser, run_id: str) -> None:
    """The run's artifacts are read only when the actor may see the run (mirrored or, for a run the
    sync has not seen yet, its experiment as MLflow reports it)."""
    if not access.run_usable(user=actor, run_id=run_id, experiment_in_mlflow=_experiment_in_mlflow):
        raise PortalError(f"MLflow has no run {run_id!r}.", fields={"run_id": ["Unknown run."]})


# The methods each kind of feature can be judged by: a method set for the other kind (KS for
# categorical features) is refused here, where it is configured, never silently replaced in a run.
METHODS_FOR = {"numeric_method": drift.NUMERIC_METHODS, "categorical_method": drift.CATEGORICAL_METHODS}


def ensure_methods_apply(fields: dict[str, Any]) -> None:
    """The statistical methods among `fields` apply to their kind of feature ("" is automatic)."""
    refused = {}
    for field, applicable in METHODS_FOR.items():
        method = fields.get(field) or ""
        if method and method not in applicable:
            kind = field.removesuffix("_method")
            refused[field] = [f"{method} does not apply to {kind} features: one of {', '.join(applicable)}."]
    if refused:
        raise PortalError(" ".join(message for messages in refused.values() for message in messages), fields=refused)


@transaction.atomic
def monitor_create(
    *,
    actor: AbstractBaseUser | None,
    project: Project,
    name: str,
    model_name: str,
    alias: str = "champion",
    version: int | None = None,
    expected_schema: list[dict[str, Any]] | None = None,
    **options: Any,
) -> Monitor:
    if actor is not None:
        if not actor.has_perm("monitoring.add_monitor"):
            raise PermissionDenied("Your role cannot create monitors.")
        ensure_editable(project, actor)
    if not alias and not version:
        raise PortalError("Name an alias to follow or a version to pin.", fields={"alias": ["Alias or version."]})
    if actor is not None:
        ensure_model_usable(actor, model_name)
    if Monitor.objects.filter(project=project, name=name).exists():
        raise PortalError(f"The project already has a monitor named “{name}”.", fields={"name": ["Taken."]})
    if expected_schema is None:
        # Pre-filled from the model's signature; empty when MLflow has none (the reference fills it).
        expected_schema = signature_fetch(model_name=model_name, alias=alias, version=version) or []
    unknown = set(options) - set(MONITOR_FIELDS)
    if unknown:
        raise TypeError(f"Unknown monitor options: {', '.join(sorted(unknown))}")
    ensure_methods_apply(options)
    return Monitor.objects.create(
        project=project,
        name=name,
        model_name=model_name,
        alias=alias,
        version=version,
        expected_schema=expected_schema,
        created_by=actor,
        **options,
    )


@transaction.atomic
def monitor_update(*, actor: AbstractBaseUser, monitor_id: int, **fields: Any) -> Monitor:
    monitor = Monitor.objects.select_for_update().select_related("project").get(pk=monitor_id)
    ensure_editable(monitor.project, actor)
    allowed = {*MONITOR_FIELDS, "name", "model_name", "alias", "version", "expected_schema"}
    if "model_name" in fields:
        ensure_model_usable(actor, fields["model_name"])
    ensure_methods_apply(fields)
    for key, value in fields.items():
        if key not in allowed:
            raise TypeError(f"Unknown monitor field {key}")
        setattr(monitor, key, value)
    monitor.save()
    return monitor


def feature_kinds(monitor: Monitor, frame: pd.DataFrame | None = None) -> dict[str, str]:
    """Feature -> numeric/categorical from the expected schema, plus the prediction and label columns."""
    kinds = {
        str(col["name"]): profiles.FeatureKind.NUMERIC
        if str(col.get("type")) in NUMBER_TYPES
        else profiles.FeatureKind.CATEGORICAL
        for col in monitor.expected_schema
        if col.get("name")
    }
    for column in (monitor.prediction_column, monitor.label_column):
        if column and frame is not None and column in frame:
            kinds[column] = profiles.infer_kind(frame[column])
    return kinds
