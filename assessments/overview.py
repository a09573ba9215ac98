"""The admin's overview: what needs attention across the portal, on one page.

It lives in assessments because it reads all three apps (the mirror's syncs and the gate's promotions
in registry, alerts in monitoring, stale answers here) and assessments is the one app allowed to read
the other two (registry reads nobody, monitoring reads registry).

Each part is a count and the first few things behind it, each linking to where it is dealt with; the
page costs a fixed number of queries however much needs attention.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from assessments.models import AnswerStatus, AttestedAnswer
from monitoring.models import Alert
from registry.access import oversees_all_projects
from registry.errors import PermissionDenied
from registry.live import action_refused
from registry.mirror.selectors import sync_status
from registry.models import SyncRun, WorkerHeartbeat
from registry.promotions.models import GateAlert, PromotionRequest, PromotionState
from registry.templatetags.when import ago

# How many things each part names before "and n more".
SHOWN = 5
# The overview is a first look at the day: failed syncs older than this are history, not news.
RECENT_SYNC_FAILURES = 24  # hours


@dataclass(frozen=True)
class Item:
    label: str
    url: str
    detail: str = ""


@dataclass(frozen=True)
class Attention:
    """One part of the overview: what it is about, how many things need attention, the first few."""

    key: str
    title: str
    count: int
    items: list[Item] = field(default_factory=list)
    more_url: str = ""
    more_label: str = ""
    # Said when nothing needs attention, as a person would say it.
    calm: str = ""
    count_label: str = ""

    @property
    def needs_attention(self) -> bool:
        return self.count > 0


def _syncs(now: datetime, user: AbstractBaseUser) -> Attention:
    status = sync_status(mlflow_uri=settings.MLFLOW_TRACKING_URI, user=user)
    since = now - timedelta(hours=RECENT_SYNC_FAILURES)
    failed_recently = SyncRun.objects.filter(status=SyncRun.Status.FAILED, started_at__gte=since).count()
    items = []
    current = status.last_failure
    if current is not None:
        error = (current.error or "no message").splitlines()[0][:160]
        items.append(
            Item(
                f"{current.get_kind_display()} sync failed {ago(current.started_at, now)}",
                reverse("registry:sync_status"),
                f"Not made good by a later pass yet: {error}",
            )
        )
    return Attention(
        key="syncs",
        title="MLflow syncs",
        count=1 if current is not None else 0,
        count_label="failing now" if current is not None else "failing",
        items=items,
        more_url=reverse("registry:sync_status"),
        more_label=f"Sync page ({failed_recently} failed pass{'es' if failed_recently != 1 else ''} in the last "
        f"{RECENT_SYNC_FAILURES} hours)",
        calm="The mirror is in step with MLflow: no sync is failing.",
    )


def _promotions(now: datetime) -> Attention:
    failed = (
        PromotionRequest.objects.filter(state=PromotionState.FAILED)
        .select_related("registered_model")
        .order_by("-created_at", "-pk")
    )
    shown = list(failed[:SHOWN])
    count = failed.count() if len(shown) == SHOWN else len(shown)
    bypasses = list(
        GateAlert.objects.filter(resolved_at__isnull=True)
        .select_related("registered_model")
        .order_by("-created_at")[:SHOWN]
    )
    items = [
        Item(
            f"{p.registered_model.name} v{p.version} → @{p.target_alias}",
            p.get_absolute_url(),
            f"Requested {ago(p.created_at, now)}; {(p.reason or 'no reason recorded').splitlines()[0][:160]}",
        )
        for p in shown
    ] + [
        Item(
            f"{a.registered_model.name} @{a.alias}: {a.get_kind_display().lower()}",
            reverse("registry:promotion_queue"),
            a.message[:160],
        )
        for a in bypasses
    ]
    return Attention(
        key="promotions",
        title="Promotions",
        count=count + len(bypasses),
        count_label="failed or bypassed",
        items=items,
        more_url=reverse("registry:promotion_queue") + "?" + urlencode({"state": PromotionState.FAILED}),
        more_label="All failed promotions",
        calm="Every approved promotion reached MLflow, and no alias was moved around the gate.",
    )


def _alerts(now: datetime) -> Attention:
    critical = (
        Alert.objects.filter(status=Alert.Status.OPEN, severity=Alert.Severity.CRITICAL)
        .select_related("monitor")
        .order_by("-last_seen_at", "-pk")
    )
    shown = list(critical[:SHOWN])
    count = critical.count() if len(shown) == SHOWN else len(shown)
    return Attention(
        key="alerts",
        title="Critical alerts",
        count=count,
        count_label="open",
        items=[
            Item(a.title, a.get_absolute_url(), f"{a.monitor.name}, seen {ago(a.last_seen_at, now)}") for a in shown
        ],
        more_url=reverse("monitoring:alert_list")
        + "?"
        + urlencode({"status": Alert.Status.OPEN, "severity": Alert.Severity.CRITICAL}),
        more_label="All open critical alerts",
        calm="No critical alert is open.",
    )


def _stale_answers(now: datetime) -> Attention:
    max_age = settings.ASSESSMENTS_ANSWER_MAX_AGE
    per_project = list(
        AttestedAnswer.objects.filter(answered_at__lt=now - max_age)
        .exclude(status=AnswerStatus.NOT_APPLICABLE)
        .values("project__slug", "project__name")
        .annotate(n=Count("pk"), oldest=Max("answered_at"))
        .order_by("-n", "project__name")
    )
    return Attention(
        key="answers",
        title="Stale answers",
        count=sum(row["n"] for row in per_project),
        count_label=f"older than {max_age.days} days",
        items=[
            Item(
                row["project__name"],
                reverse("assessments:scorecard", kwargs={"slug": row["project__slug"]}),
                f"{row['n']} answer{'s' if row['n'] != 1 else ''} to confirm again",
            )
            for row in per_project[:SHOWN]
        ],
        more_url=reverse("assessments:portfolio"),
        more_label="Maturity portfolio",
        calm=f"Every attested answer was given or confirmed in the last {max_age.days} days.",
    )


def _workers(now: datetime) -> Attention:
    max_age = settings.PORTAL_WORKER_HEARTBEAT_MAX_AGE
    heartbeats = list(WorkerHeartbeat.objects.order_by("-last_seen")[:50])
    silent = [h for h in heartbeats if now - h.last_seen > max_age]
    heard = len(heartbeats) - len(silent)
    items = [Item(h.hostname, "", f"last heard {ago(h.last_seen, now)}") for h in silent[:SHOWN]]
    if not heartbeats:
        items = [Item("No worker has reported yet", "", "Is a Celery worker and beat running?")]
    return Attention(
        key="workers",
        title="Workers",
        count=len(silent) if heartbeats else 1,
        count_label="silent",
        items=items,
        more_url=reverse("admin:registry_workerheartbeat_changelist"),
        more_label=f"Worker heartbeats ({heard} worker{'s' if heard != 1 else ''} heard in the last "
        f"{int(max_age.total_seconds())} s)",
        calm=f"Every worker reported in the last {int(max_age.total_seconds())} seconds.",
    )


def attention_overview(*, user: AbstractBaseUser, now: datetime | None = None) -> list[Attention]:
    """What needs attention, read as `user` (an admin, who sees every project)."""
    now = now or timezone.now()
    return [_syncs(now, user), _promotions(now), _alerts(now), _stale_answers(now), _workers(now)]


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    if not oversees_all_projects(request.user):
        return action_refused(request, error=PermissionDenied("The overview is for administrators."))
    parts = attention_overview(user=request.user)
    return render(
        request,
        "assessments/overview.html",
        {"parts": parts, "waiting": [p for p in parts if p.needs_attention]},
    )
