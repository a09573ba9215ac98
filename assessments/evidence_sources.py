"""Gatherers: build a ProjectEvidence from the registry mirror, the promotion gate and the monitors.

The three apps are always installed (assessments reads registry and monitoring:
docs/architecture.md), so their models are imported directly: a renamed field or model breaks the
import or the query here, loudly, instead of turning criteria into "no evidence yet" and quietly
dropping a project's level.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Q

from assessments.evidence import (
    SOURCE_GATE,
    SOURCE_MIRROR,
    SOURCE_MONITORING,
    AliasMoveFact,
    GatePolicyFact,
    MonitorFact,
    ProjectEvidence,
    RetrainFact,
    RunFact,
    SchemaMismatchFact,
    VersionFact,
)
from monitoring.models import Alert, Monitor, RetrainEvent
from registry.models import AuditEvent, ModelVersion, Project, RegisteredModel, Run
from registry.promotions.policies import policies_for

MAX_RUNS = 500  # the most recent runs a check looks at; enough for shares and cadence


def _mlflow_ui(path: str) -> str:
    return f"{settings.MLFLOW_UI_URL}/#{path}"


def _has_named_dataset(datasets: Any) -> bool:
    return any(isinstance(d, dict) and d.get("name") and d.get("digest") for d in datasets or [])


def gather_mirror(*, project: Project, since: datetime) -> dict[str, Any]:
    runs = (
        Run.objects.filter(experiment__project=project, deleted_at__isnull=True, start_time__gte=since)
        .select_related("experiment")
        .order_by("-start_time")[:MAX_RUNS]
    )
    run_facts = tuple(
        RunFact(
            run_id=r.run_id,
            name=r.name,
            url=r.get_absolute_url(),
            start_time=r.start_time,
            status=r.status,
            param_count=len(r.params or {}),
            metric_count=len(r.metrics or {}),
            git_commit=r.git_commit or "",
            has_dataset=_has_named_dataset(r.datasets),
            source_type=(r.source_type or "").upper(),
            trigger=str((r.tags or {}).get("portal.trigger", "")),
        )
        for r in runs
    )
    models = RegisteredModel.objects.filter(project=project, deleted_at__isnull=True)
    versions = (
        ModelVersion.objects.filter(registered_model__in=models, deleted_at__isnull=True)
        .select_related("registered_model", "run")
        .order_by("registered_model__name", "version")
    )
    version_facts = tuple(
        VersionFact(
            model=v.registered_model.name,
            version=v.version,
            url=v.get_absolute_url(),
            created_at=v.created_at,
            has_input_signature=bool(v.signature_inputs),
            has_run=v.run is not None,
            aliases=tuple(v.aliases or ()),
            run_id=v.run_id or "",
        )
        for v in versions
    )
    return {"runs": run_facts, "versions": version_facts, "registered_model_count": models.count()}


# Audit actions that move a serving alias: through the gate, or around it (noticed by the sync).
GATE_MOVE_ACTIONS = ("promotion.promoted",)
BYPASS_ACTIONS = ("alias.bypassed",)


def gather_gate(*, registered_models: Iterable[RegisteredModel]) -> dict[str, Any]:
    """Alias moves from the audit log, and the gate policy each model follows (the gate's own rule:
    the model's policy, else the default one, else the built-in defaults)."""
    by_name = {model.name: model for model in registered_models}
    events = AuditEvent.objects.filter(
        action__in=GATE_MOVE_ACTIONS + BYPASS_ACTIONS, data__model__in=sorted(by_name)
    ).order_by("at")
    # Audit events and policies have no page of their own: their facts carry no link.
    moves = tuple(
        AliasMoveFact(
            model=str(event.data.get("model", "")),
            alias=str(event.data.get("alias", "")),
            at=event.at,
            via_gate=event.action in GATE_MOVE_ACTIONS,
        )
        for event in events
    )
    policies = policies_for(registered_models=by_name.values())
    gate_policies = tuple(
        GatePolicyFact(model=name, requires_metric_check=bool(policies[model.pk].metric_name))
        for name, model in sorted(by_name.items())
    )
    return {"alias_moves": moves, "gate_policies": gate_policies}


def gather_monitoring(
    *, project: Project, serving: set[tuple[str, int]], aliases: set[tuple[str, str]]
) -> dict[str, Any]:
    """Monitors, their data, channels, schema mismatch alerts and retrain events."""
    monitors = Monitor.objects.filter(project=project).annotate(
        last_data_at=Max("batches__received_at"),
        channel_count=Count("channels", filter=Q(channels__is_active=True), distinct=True),
    )
    serving_models = {name for name, _ in serving}
    facts = []
    for m in monitors:
        pinned = m.version is not None
        watches = m.model_name in serving_models and (
            (m.model_name, m.version) in serving if pinned else (m.model_name, m.alias) in aliases
        )
        facts.append(
            MonitorFact(
                name=m.name,
                url=m.get_absolute_url(),
                active=m.is_active,
                watches_serving_version=watches,
                last_data_at=m.last_data_at,
                channel_count=m.channel_count,
            )
        )
    mismatch_alerts = Alert.objects.filter(monitor__project=project, kind=Alert.Kind.SCHEMA_MISMATCH).order_by(
        "created_at"
    )
    mismatches = tuple(
        SchemaMismatchFact(
            url=a.get_absolute_url(),
            opened_at=a.created_at,
            resolved_at=a.updated_at if a.status == Alert.Status.RESOLVED else None,
        )
        for a in mismatch_alerts
    )
    events = (
        RetrainEvent.objects.filter(monitor__project=project)
        .exclude(status=RetrainEvent.Status.FAILED)
        .order_by("created_at")
    )
    # A retrain event has no page of its own: its fact carries no link.
    retrains = tuple(RetrainFact(url="", at=e.created_at, reason=e.reason) for e in events)
    return {"monitors": tuple(facts), "schema_mismatches": mismatches, "retrains": retrains}


def project_evidence(*, project: Project, now: datetime, window: timedelta) -> ProjectEvidence:
    since = now - window
    fields: dict[str, Any] = gather_mirror(project=project, since=since)
    mirrored = ProjectEvidence(since=since, until=now, **fields)
    # The gate is judged on the models that have live versions.
    versioned = RegisteredModel.objects.filter(
        project=project, deleted_at__isnull=True, name__in={v.model for v in mirrored.versions}
    )
    fields |= gather_gate(registered_models=versioned)
    serving_versions = mirrored.serving_versions()
    fields |= gather_monitoring(
        project=project,
        serving={(v.model, v.version) for v in serving_versions},
        aliases={(v.model, a) for v in serving_versions for a in v.aliases},
    )
    sources = frozenset({SOURCE_MIRROR, SOURCE_GATE, SOURCE_MONITORING})
    return ProjectEvidence(since=since, until=now, sources=sources, **fields)
