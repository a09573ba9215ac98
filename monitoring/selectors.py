"""Monitoring reads: querysets with the joins each page needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Case, Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from monitoring import profiles
from monitoring.models import (
    Alert,
    BatchHistogram,
    DriftRun,
    FeatureDriftResult,
    InferenceBatch,
    Monitor,
    RetrainEvent,
    SchemaMismatch,
    ShadowEvaluation,
)
from registry.selectors import projects_visible_to


class MonitorStatus:
    OK = "ok"
    DRIFTING = "drifting"
    SCHEMA_MISMATCH = "schema_mismatch"
    NO_DATA = "no_data"

    LABELS = {OK: "OK", DRIFTING: "Drifting", SCHEMA_MISMATCH: "Schema mismatch", NO_DATA: "No data"}
    BADGES = {OK: "badge-ok", DRIFTING: "badge-bad", SCHEMA_MISMATCH: "badge-warn", NO_DATA: ""}


def monitors_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Monitor]:
    """Monitors of the projects a user may see (private projects: members only)."""
    return Monitor.objects.filter(project__in=projects_visible_to(user=user)).select_related("project")


def monitor_list_for(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Monitor]:
    """Monitors with their open alerts, last batch and latest verdict, each a correlated subquery:
    joining batches and alerts at once would multiply their rows."""
    open_alerts = Alert.objects.filter(monitor=OuterRef("pk"), status=Alert.Status.OPEN).order_by()
    count_open = open_alerts.values("monitor").annotate(n=Count("*")).values("n")
    count_schema = (
        open_alerts.filter(kind=Alert.Kind.SCHEMA_MISMATCH).values("monitor").annotate(n=Count("*")).values("n")
    )
    last_batch = InferenceBatch.objects.filter(monitor=OuterRef("pk")).order_by("-received_at").values("received_at")
    latest_run = DriftRun.objects.filter(monitor=OuterRef("pk"), status=DriftRun.Status.DONE).order_by("-window_start")
    return (
        monitors_visible_to(user=user)
        .annotate(
            open_alerts=Coalesce(Subquery(count_open, output_field=IntegerField()), Value(0)),
            open_schema_alerts=Coalesce(Subquery(count_schema, output_field=IntegerField()), Value(0)),
            last_batch_at=Subquery(last_batch[:1]),
            latest_drifted=Subquery(latest_run.values("drifted")[:1]),
        )
        .order_by("project__name", "name")
    )


@dataclass(frozen=True)
class MonitorActivity:
    """The monitor's latest drift job and retrain request: what the "Run drift now" and "Trigger
    retraining" buttons follow until the work they queued has finished."""

    drift_run: DriftRun | None
    retrain_event: RetrainEvent | None

    @property
    def running(self) -> bool:
        drift_busy = self.drift_run is not None and self.drift_run.status in {
            DriftRun.Status.QUEUED,
            DriftRun.Status.RUNNING,
        }
        retrain_busy = self.retrain_event is not None and self.retrain_event.status == RetrainEvent.Status.PENDING
        return drift_busy or retrain_busy

    @property
    def version(self) -> str:
        """Changes with every step of either: a re-run of a window reuses its DriftRun row."""
        run, event = self.drift_run, self.retrain_event
        drift = f"{run.pk}:{run.status}:{run.finished_at and run.finished_at.timestamp()}" if run else "-"
        retrain = f"{event.pk}:{event.status}" if event else "-"
        return f"{drift}/{retrain}"


def monitor_activity(*, monitor: Monitor) -> MonitorActivity:
    return MonitorActivity(
        # Work in progress first; else the newest window, which "Run drift now" re-runs in place.
        drift_run=DriftRun.objects.filter(monitor=monitor)
        .order_by(
            Case(When(status__in=[DriftRun.Status.QUEUED, DriftRun.Status.RUNNING], then=0), default=1),
            "-window_start",
        )
        .first(),
        retrain_event=RetrainEvent.objects.filter(monitor=monitor).order_by("-created_at", "-pk").first(),
    )


def monitor_status(monitor: Monitor) -> str:
    """Needs the annotations of monitor_list_for."""
    if monitor.last_batch_at is None:
        return MonitorStatus.NO_DATA
    if monitor.open_schema_alerts:
        return MonitorStatus.SCHEMA_MISMATCH
    if monitor.latest_drifted:
        return MonitorStatus.DRIFTING
    return MonitorStatus.OK


def runs_for(*, monitor: Monitor, limit: int = 30, with_results: bool = True) -> list[DriftRun]:
    """The monitor's last finished windows, oldest first; with their results unless a view needs
    only the windows (the overview's volume)."""
    runs = DriftRun.objects.filter(monitor=monitor, status=DriftRun.Status.DONE).order_by("-window_start")
    if with_results:
        runs = runs.prefetch_related(Prefetch("results", queryset=FeatureDriftResult.objects.order_by("feature")))
    return list(reversed(list(runs[:limit])))


def window_histograms(*, run: DriftRun, feature: str) -> list[profiles.Histogram]:
    """The feature's histograms of the run's window, one per batch, binned against the run's reference
    (the distribution chart merges them)."""
    rows = BatchHistogram.objects.filter(
        reference=run.reference,
        feature=feature,
        batch__monitor=run.monitor_id,
        batch__event_time__gte=run.window_start,
        batch__event_time__lt=run.window_end,
    ).values_list("histogram", flat=True)
    return [profiles.histogram_from_dict(histogram) for histogram in rows]


def schema_log_for(*, monitor: Monitor, limit: int | None = 50) -> QuerySet[SchemaMismatch]:
    log = SchemaMismatch.objects.filter(monitor=monitor).select_related("batch").order_by("-created_at")
    return log if limit is None else log[:limit]


def schema_mismatch_count(*, monitor: Monitor) -> int:
    return SchemaMismatch.objects.filter(monitor=monitor).count()


def alerts_of(*, monitor: Monitor) -> QuerySet[Alert]:
    """The monitor's alerts that still ask for attention (open, acknowledged, muted), newest first."""
    return (
        Alert.objects.filter(monitor=monitor)
        .exclude(status=Alert.Status.RESOLVED)
        .select_related("monitor__project")
        .order_by("-created_at", "-pk")
    )


def alerts_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Alert]:
    return Alert.objects.filter(monitor__in=monitors_visible_to(user=user)).select_related("monitor__project")


ALERT_FILTERS = ("status", "kind", "severity", "monitor")


def alerts_filtered(*, user: AbstractBaseUser | AnonymousUser, filters: Mapping[str, object]) -> QuerySet[Alert]:
    """The alerts list of the page and the API: visible alerts matching the filters, values already
    checked by the caller's filter form or serializer (monitoring.forms.AlertFilterForm,
    monitoring.api.alerts.AlertFiltersIn); empty ones are ignored."""
    alerts = alerts_visible_to(user=user)
    for name in ALERT_FILTERS:
        value = filters.get(name)
        if value not in (None, ""):
            alerts = alerts.filter(**{"monitor_id" if name == "monitor" else name: value})
    return alerts


def shadow_evaluations_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[ShadowEvaluation]:
    """Shadow evaluations show the rows production sent a monitor and what two versions of a model
    made of them: visible to whoever may see both the monitor and the model."""
    from registry.mirror.selectors import registered_models_visible_to

    models = registered_models_visible_to(user=user).values("name")
    return ShadowEvaluation.objects.filter(
        monitor__in=monitors_visible_to(user=user), model_name__in=models
    ).select_related("monitor", "monitor__project")
