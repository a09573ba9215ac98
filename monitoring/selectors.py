"""Monitoring reads: querysets with the joins each page needs."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from registry.selectors import projects_visible_to

from .models import Alert, DriftRun, FeatureDriftResult, InferenceBatch, Monitor, SchemaMismatch


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


def monitor_status(monitor: Monitor) -> str:
    """Needs the annotations of monitor_list_for."""
    if monitor.last_batch_at is None:
        return MonitorStatus.NO_DATA
    if monitor.open_schema_alerts:
        return MonitorStatus.SCHEMA_MISMATCH
    if monitor.latest_drifted:
        return MonitorStatus.DRIFTING
    return MonitorStatus.OK


def runs_for(*, monitor: Monitor, limit: int = 30) -> list[DriftRun]:
    runs = (
        DriftRun.objects.filter(monitor=monitor, status=DriftRun.Status.DONE)
        .order_by("-window_start")
        .prefetch_related(Prefetch("results", queryset=FeatureDriftResult.objects.order_by("feature")))[:limit]
    )
    return list(reversed(list(runs)))


def schema_log_for(*, monitor: Monitor, limit: int = 50) -> QuerySet[SchemaMismatch]:
    return SchemaMismatch.objects.filter(monitor=monitor).select_related("batch").order_by("-created_at")[:limit]


def alerts_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Alert]:
    return Alert.objects.filter(monitor__in=monitors_visible_to(user=user)).select_related("monitor__project")
