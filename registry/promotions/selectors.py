"""Reads of the promotion gate, with the joins each page needs."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet

from registry.access import visible_through_project
from registry.models import AuditEvent, ModelVersion, Run
from registry.promotions.checks import signature_diff
from registry.promotions.models import GateAlert, PromotionRequest, PromotionState
from registry.promotions.rules import DECIDE_PERMISSION


def _visible(user: AbstractBaseUser | AnonymousUser) -> Q:
    return visible_through_project(user=user, project_path="registered_model__project")


def promotions_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[PromotionRequest]:
    if not user.is_authenticated:
        return PromotionRequest.objects.none()
    return (
        PromotionRequest.objects.filter(_visible(user))
        .select_related("registered_model", "registered_model__project", "requested_by", "model_version")
        .annotate(
            approvals=Count("decisions", filter=Q(decisions__verdict="approve")),
        )
    )


def promotion_queue_for(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[PromotionRequest]:
    """Pending requests, oldest first."""
    return promotions_visible_to(user=user).filter(state=PromotionState.PENDING).order_by("created_at", "pk")


def awaiting_decision_count(*, user: AbstractBaseUser | AnonymousUser) -> int:
    """Pending requests this user may decide and has not: the number beside "Promotions"."""
    if not user.is_authenticated or not user.has_perm(DECIDE_PERMISSION):
        return 0
    return (
        PromotionRequest.objects.filter(_visible(user), state=PromotionState.PENDING)
        .exclude(requested_by=user)
        .exclude(decisions__reviewer=user)
        .count()
    )


def gate_alerts_open_for(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[GateAlert]:
    return (
        GateAlert.objects.filter(resolved_at__isnull=True)
        .filter(_visible(user))
        .select_related("registered_model")
        .order_by("-created_at")
    )


def audit_events_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[AuditEvent]:
    """Events of projects the user can see, and events tied to no project."""
    if not user.is_authenticated:
        return AuditEvent.objects.none()
    return (
        AuditEvent.objects.filter(visible_through_project(user=user))
        .select_related("actor", "project")
        .order_by("-at", "-pk")
    )


def audit_events_filter(
    events: QuerySet[AuditEvent],
    *,
    model: str = "",
    user: str = "",
    action: str = "",
    since: Any = None,
    until: Any = None,
) -> QuerySet[AuditEvent]:
    if model:
        events = events.filter(
            Q(data__model=model) | Q(object_type="registry.registeredmodel", summary__contains=f" {model} ")
        )
    if user:
        events = events.filter(actor__username=user)
    if action:
        events = events.filter(action__startswith=action)
    if since:
        events = events.filter(at__date__gte=since)
    if until:
        events = events.filter(at__date__lte=until)
    return events


@dataclass(frozen=True)
class Side:
    version: ModelVersion | None
    run: Run | None
    commit_url: str = ""


def _commit_url(run: Run | None) -> str:
    """A link to the commit when the run recorded an http(s) repository URL (MLflow's git tags)."""
    if run is None or not run.git_commit:
        return ""
    repo = str((run.tags or {}).get("mlflow.source.git.repoURL", ""))
    if not repo.startswith(("https://", "http://")):
        return ""
    return f"{repo.removesuffix('.git').rstrip('/')}/commit/{run.git_commit}"


def _side(version: ModelVersion | None) -> Side:
    if version is None:
        return Side(None, None)
    run = version.run or (Run.objects.filter(run_id=version.run_id).first() if version.run_id else None)
    if run is not None:
        run = Run.objects.select_related("experiment").get(pk=run.pk)
    return Side(version, run, _commit_url(run))


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def promotion_comparison(
    *, promotion: PromotionRequest, metric: str = "", higher_is_better: bool = True
) -> dict[str, Any]:
    """Candidate and current holder side by side: metrics with deltas, params with differences,
    the signature diff, datasets and git commits. Only the policy's metric has a known direction,
    so only its delta says better or worse."""
    candidate = _side(promotion.model_version)
    # A pending request is compared with the version holding the alias now; a decided one with the
    # version that held it when the request was made (what the reviewers saw).
    holder_now = promotion.state == PromotionState.PENDING
    holder_number = (
        (promotion.registered_model.aliases or {}).get(promotion.target_alias)
        if holder_now
        else promotion.holder_version
    )
    holder_version = (
        promotion.registered_model.versions.filter(version=int(holder_number)).select_related("run").first()
        if holder_number is not None
        else None
    )
    holder = _side(holder_version)
    c_metrics = dict(candidate.run.metrics) if candidate.run else {}
    h_metrics = dict(holder.run.metrics) if holder.run else {}
    metrics = []
    for key in sorted(set(c_metrics) | set(h_metrics)):
        c, h = c_metrics.get(key), h_metrics.get(key)
        delta = c - h if isinstance(c, int | float) and isinstance(h, int | float) else None
        better = None
        if key == metric and delta is not None and delta != 0:
            better = (delta > 0) == higher_is_better
        metrics.append({"key": key, "candidate": c, "holder": h, "delta": delta, "better": better})
    c_params = dict(candidate.run.params) if candidate.run else {}
    h_params = dict(holder.run.params) if holder.run else {}
    params = [
        {
            "key": key,
            "candidate": c_params.get(key),
            "holder": h_params.get(key),
            "differs": c_params.get(key) != h_params.get(key),
        }
        for key in sorted(set(c_params) | set(h_params))
    ]
    diff = (
        [
            row.__dict__
            for row in signature_diff(expected=holder_version.signature_inputs, received=promotion.signature_inputs)
        ]
        if holder_version is not None
        and holder_version.signature_inputs is not None
        and promotion.signature_inputs is not None
        else []
    )
    return {
        "candidate": candidate,
        "holder": holder,
        "holder_now": holder_now,
        "metrics": metrics,
        "params": params,
        "signature_diff": diff,
    }
