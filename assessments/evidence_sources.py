"""Gatherers: build a ProjectEvidence from the registry mirror, the promotion gate and the monitors.

Written against the mirror contract (registry.Experiment, Run, RegisteredModel, ModelVersion,
AuditEvent). Models are looked up through the app registry, so assessments keeps working, and says
"no evidence yet", on an installation (or a branch) where a source does not exist.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldError
from django.db.models import Count, Max, Model, Q

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
from registry.models import Project

logger = logging.getLogger(__name__)

MAX_RUNS = 500  # the most recent runs a check looks at; enough for shares and cadence


def _model(app_label: str, name: str) -> type[Model] | None:
    if not apps.is_installed(app_label):
        return None
    try:
        return apps.get_model(app_label, name)
    except LookupError:
        return None


def _url_of(obj: Any, fallback: str = "") -> str:
    get_url: Callable[[], str] | None = getattr(obj, "get_absolute_url", None)
    if get_url is not None:
        try:
            return get_url()
        except Exception:  # a model whose URL needs a route that is not installed
            return fallback
    return fallback


def _mlflow_ui(path: str) -> str:
    return f"{settings.MLFLOW_UI_URL}/#{path}"


def _has_named_dataset(datasets: Any) -> bool:
    return any(isinstance(d, dict) and d.get("name") and d.get("digest") for d in datasets or [])


def gather_mirror(*, project: Project, since: datetime) -> dict[str, Any] | None:
    Run = _model("registry", "Run")
    ModelVersion = _model("registry", "ModelVersion")
    RegisteredModel = _model("registry", "RegisteredModel")
    if Run is None or ModelVersion is None or RegisteredModel is None:
        return None
    runs = (
        Run.objects.filter(experiment__project=project, deleted_at__isnull=True, start_time__gte=since)
        .select_related("experiment")
        .order_by("-start_time")[:MAX_RUNS]
    )
    run_facts = tuple(
        RunFact(
            run_id=r.run_id,
            name=r.name,
            url=_url_of(r, _mlflow_ui(f"/experiments/{r.experiment.mlflow_id}/runs/{r.run_id}")),
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
        .select_related("registered_model")
        .order_by("registered_model__name", "version")
    )
    version_facts = tuple(
        VersionFact(
            model=v.registered_model.name,
            version=v.version,
            url=_url_of(v, _mlflow_ui(f"/models/{v.registered_model.name}/versions/{v.version}")),
            created_at=v.created_at,
            has_input_signature=bool(v.signature_inputs),
            has_run=v.run is not None,
            aliases=tuple(v.aliases or ()),
            run_id=v.run_id or "",
        )
        for v in versions.select_related("run")
    )
    return {"runs": run_facts, "versions": version_facts, "registered_model_count": models.count()}


# Audit actions that move a serving alias: through the gate, or around it (noticed by the sync).
GATE_MOVE_ACTIONS = ("promotion.promoted",)
BYPASS_ACTIONS = ("alias.bypassed",)


def gather_gate(*, model_names: set[str]) -> dict[str, Any] | None:
    """Alias moves from the audit log and the gate policies. Needs the gate (registry.PromotionPolicy)."""
    AuditEvent = _model("registry", "AuditEvent")
    Policy = _model("registry", "PromotionPolicy")
    if AuditEvent is None or Policy is None:
        return None
    events = AuditEvent.objects.filter(
        action__in=GATE_MOVE_ACTIONS + BYPASS_ACTIONS, data__model__in=sorted(model_names)
    ).order_by("at")
    moves = tuple(
        AliasMoveFact(
            model=str(event.data.get("model", "")),
            alias=str(event.data.get("alias", "")),
            at=event.at,
            via_gate=event.action in GATE_MOVE_ACTIONS,
            url=_url_of(event),
        )
        for event in events
    )
    own: dict[str, GatePolicyFact] = {}
    default: Any = None
    for policy in Policy.objects.select_related("registered_model"):
        if policy.registered_model_id is None:
            default = policy
        elif policy.registered_model.name in model_names:
            own[policy.registered_model.name] = GatePolicyFact(
                model=policy.registered_model.name, requires_metric_check=bool(policy.metric_name), url=_url_of(policy)
            )
    # A model without a policy of its own follows the default one.
    for name in model_names - own.keys():
        if default is not None:
            own[name] = GatePolicyFact(
                model=name, requires_metric_check=bool(default.metric_name), url=_url_of(default)
            )
    return {"alias_moves": moves, "gate_policies": tuple(own.values())}


def gather_monitoring(
    *, project: Project, serving: set[tuple[str, int]], aliases: set[tuple[str, str]]
) -> dict[str, Any] | None:
    """Monitors, their data, channels, schema mismatch alerts and retrain events (monitoring app)."""
    Monitor = _model("monitoring", "Monitor")
    Alert = _model("monitoring", "Alert")
    RetrainEvent = _model("monitoring", "RetrainEvent")
    if Monitor is None or Alert is None or RetrainEvent is None:
        return None
    try:
        return _monitoring_facts(
            Monitor=Monitor, Alert=Alert, RetrainEvent=RetrainEvent, project=project, serving=serving, aliases=aliases
        )
    except (FieldError, AttributeError) as exc:  # a monitoring app whose models differ from what we read
        logger.warning("Monitoring evidence unavailable: %s", exc)
        return None


def _monitoring_facts(
    *,
    Monitor: type[Model],
    Alert: type[Model],
    RetrainEvent: type[Model],
    project: Project,
    serving: set[tuple[str, int]],
    aliases: set[tuple[str, str]],
) -> dict[str, Any]:
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
                url=_url_of(m),
                active=m.is_active,
                watches_serving_version=watches,
                last_data_at=m.last_data_at,
                channel_count=m.channel_count,
            )
        )
    mismatch_alerts = Alert.objects.filter(monitor__project=project, kind="schema_mismatch").order_by("created_at")
    mismatches = tuple(
        SchemaMismatchFact(
            url=_url_of(a),
            opened_at=a.created_at,
            resolved_at=a.updated_at if a.status == "resolved" else None,
        )
        for a in mismatch_alerts
    )
    events = RetrainEvent.objects.filter(monitor__project=project).exclude(status="failed").order_by("created_at")
    retrains = tuple(RetrainFact(url=_url_of(e), at=e.created_at, reason=e.reason) for e in events)
    return {"monitors": tuple(facts), "schema_mismatches": mismatches, "retrains": retrains}


def project_evidence(*, project: Project, now: datetime, window: timedelta) -> ProjectEvidence:
    since = now - window
    sources: set[str] = set()
    fields: dict[str, Any] = {}
    mirror = gather_mirror(project=project, since=since)
    if mirror is not None:
        sources.add(SOURCE_MIRROR)
        fields |= mirror
    evidence = ProjectEvidence(since=since, until=now, sources=frozenset(sources), **fields)
    model_names = {v.model for v in evidence.versions}
    gate = gather_gate(model_names=model_names) if mirror is not None else None
    if gate is not None:
        sources.add(SOURCE_GATE)
        fields |= gate
    serving_versions = evidence.serving_versions()
    serving = {(v.model, v.version) for v in serving_versions}
    aliases = {(v.model, a) for v in serving_versions for a in v.aliases}
    monitoring = gather_monitoring(project=project, serving=serving, aliases=aliases)
    if monitoring is not None:
        sources.add(SOURCE_MONITORING)
        fields |= monitoring
    return ProjectEvidence(since=since, until=now, sources=frozenset(sources), **fields)
