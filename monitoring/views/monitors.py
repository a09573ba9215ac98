"""A monitor's pages: the list, and each monitor's overview, drift, schema, alerts and jobs views."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from monitoring import charts, forms, profiles, selectors
from monitoring.models import Alert, DriftRun, Monitor, Notification, RetrainEvent, RetrainTrigger
from monitoring.services import monitors, references
from registry import access


def monitor_or_404(request: HttpRequest, pk: int) -> Monitor:
    return get_object_or_404(selectors.monitor_list_for(user=request.user), pk=pk)


@login_required
@permission_required("monitoring.view_monitor", raise_exception=True)
@require_GET
def monitor_list(request: HttpRequest) -> HttpResponse:
    listed = list(selectors.monitor_list_for(user=request.user))
    rows = [
        {
            "monitor": m,
            "status": selectors.monitor_status(m),
            "label": selectors.MonitorStatus.LABELS[selectors.monitor_status(m)],
            "badge": selectors.MonitorStatus.BADGES[selectors.monitor_status(m)],
        }
        for m in listed
    ]
    return render(
        request,
        "monitoring/monitor_list.html",
        {"rows": rows, "can_add": request.user.has_perm("monitoring.add_monitor")},
    )


def _figures(monitor: Monitor, runs: list[DriftRun], selected: DriftRun | None, feature: str) -> dict[str, Any]:
    windows = [_window_label(monitor, r) for r in runs]
    features = sorted({res.feature for r in runs for res in r.results.all()})
    by_run = [{res.feature: res for res in r.results.all()} for r in runs]
    scores = [[round(by[f].score_ratio, 3) if f in by else None for by in by_run] for f in features]
    drifted = [[by[f].drifted if f in by else None for by in by_run] for f in features]
    figures: dict[str, Any] = {}
    table: dict[str, Any] = {
        "windows": windows,
        "heat_rows": [
            {"feature": f, "cells": [{"score": s, "drifted": d} for s, d in zip(srow, drow, strict=True)]}
            for f, srow, drow in zip(features, scores, drifted, strict=True)
        ],
        "run_ids": {w: r.pk for w, r in zip(windows, runs, strict=True)},
    }
    if runs:
        rows = [r.rows for r in runs]
        figures["heatmap"] = charts.drift_heatmap(features, windows, scores, drifted, window_rows=rows)
        figures["timeline"] = charts.drift_timeline(
            {f: list(zip(windows, row, strict=True)) for f, row in zip(features, scores, strict=True)},
            window_rows=dict(zip(windows, rows, strict=True)),
        )
    if selected is not None and selected.reference is not None and feature in selected.reference.profile:
        profile = profiles.profile_from_dict(selected.reference.profile[feature])
        hists = selectors.window_histograms(run=selected, feature=feature)
        if hists:
            overlay = charts.distribution_overlay(feature, profile, profiles.merge_histograms(hists))
            figures["overlay"] = overlay
            table["overlay"] = charts.distribution_table(overlay)
    return {"figures": figures, "table": table}


# The monitor's views, each a page of its own URL: (slug, tab label, URL name). An engineer moves
# between them with the tab bar; each holds about two screens at 1280 x 800, where the one page of
# everything was about eight.
MONITOR_VIEWS = (
    ("overview", "Overview", "monitoring:monitor_detail"),
    ("drift", "Drift", "monitoring:monitor_drift"),
    ("schema", "Schema", "monitoring:monitor_schema"),
    ("alerts", "Alerts", "monitoring:monitor_alerts"),
    ("jobs", "Jobs and setup", "monitoring:monitor_jobs"),
)
MONITOR_ALERTS_PER_PAGE = 25


def _monitor_view(request: HttpRequest, monitor: Monitor, view: str, context: dict[str, Any]) -> HttpResponse:
    """Renders one view of the monitor with what every view shows: the heading, status and tabs."""
    editable = access.member_may(user=request.user, project=monitor.project, permission=monitors.CHANGE_MONITOR)
    counts = {"alerts": monitor.open_alerts, "schema": selectors.schema_mismatch_count(monitor=monitor)}
    tabs = [
        {"slug": slug, "label": label, "url": reverse(name, kwargs={"pk": monitor.pk}), "count": counts.get(slug)}
        for slug, label, name in MONITOR_VIEWS
    ]
    status = selectors.monitor_status(monitor)
    return render(
        request,
        f"monitoring/monitor_{view}.html",
        {
            "monitor": monitor,
            "view": view,
            "tabs": tabs,
            "view_label": next(label for slug, label, _ in MONITOR_VIEWS if slug == view),
            "status": status,
            "status_label": selectors.MonitorStatus.LABELS[status],
            "status_badge": selectors.MonitorStatus.BADGES[status],
            "can_edit": editable,
            "can_run": editable and request.user.has_perm("monitoring.run_drift"),
            "can_retrain": editable and request.user.has_perm("monitoring.trigger_retrain"),
            "can_change_alerts": editable and request.user.has_perm("monitoring.change_alert"),
            **context,
        },
    )


def _activity_context(monitor: Monitor) -> dict[str, Any]:
    trigger = RetrainTrigger.objects.filter(monitor=monitor).first()
    return {
        "activity": selectors.monitor_activity(monitor=monitor),
        "trigger": trigger,
        "has_trigger": trigger is not None and trigger.is_active,
    }


@login_required
@permission_required("monitoring.view_monitor", raise_exception=True)
@require_GET
def monitor_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Overview: what the monitor watches, its latest window, open alerts, volume, the latest jobs."""
    monitor = monitor_or_404(request, pk)
    if request.GET.get("fragment") == "activity":  # polled by the page while a job it queued runs
        return render(
            request,
            "monitoring/partials/activity.html",
            {"monitor": monitor, "activity": selectors.monitor_activity(monitor=monitor)},
        )
    runs = selectors.runs_for(monitor=monitor, with_results=False)
    figures: dict[str, Any] = {}
    if runs:
        figures["volume"] = charts.volume_chart(
            [_window_label(monitor, r) for r in runs],
            [r.rows for r in runs],
            [r.volume.get("trailing_median") for r in runs],
            [r.volume.get("anomaly", "") for r in runs],
        )
    return _monitor_view(
        request,
        monitor,
        "overview",
        {
            **_activity_context(monitor),
            "latest": runs[-1] if runs else None,
            "runs": runs,
            "figures": figures,
            "reference": references.reference_current(monitor),
            "top_alerts": selectors.alerts_of(monitor=monitor).filter(status=Alert.Status.OPEN)[:3],
        },
    )


def _window_label(monitor: Monitor, run: DriftRun) -> str:
    daily = not monitor.window_rows and monitor.window_seconds % 86_400 == 0
    return run.window_start.strftime("%Y-%m-%d" if daily else "%Y-%m-%d %H:%M:%S")


@login_required
@permission_required("monitoring.view_monitor", raise_exception=True)
@require_GET
def monitor_drift(request: HttpRequest, pk: int) -> HttpResponse:
    """Drift: the heatmap, the timeline and the selected window's results and distribution, together,
    so a click on a heatmap cell can focus the others."""
    monitor = monitor_or_404(request, pk)
    runs = selectors.runs_for(monitor=monitor)
    selected = runs[-1] if runs else None
    run_id = request.GET.get("run")
    if run_id and run_id.isascii() and run_id.isdigit() and len(run_id) <= 18:
        selected = next((r for r in runs if r.pk == int(run_id)), None) or get_object_or_404(
            DriftRun.objects.filter(monitor=monitor), pk=int(run_id)
        )
    results = list(selected.results.all()) if selected else []
    # Default drill-down: the first drifted input, else the first drifted column, else the first.
    ranked = sorted(results, key=lambda r: (not r.drifted, r.role != "feature", r.feature))
    feature = request.GET.get("feature") or (ranked[0].feature if ranked else "")
    data = _figures(monitor, runs, selected, feature)
    return _monitor_view(
        request,
        monitor,
        "drift",
        {
            "runs": runs,
            "selected": selected,
            "results": results,
            "feature": feature,
            "figures": data["figures"],
            "table": data["table"],
            "heat_rows": data["table"]["heat_rows"],
            "run_ids": data["table"]["run_ids"],
            "reference": references.reference_current(monitor),
        },
    )


@login_required
@permission_required("monitoring.view_monitor", raise_exception=True)
@require_GET
def monitor_schema(request: HttpRequest, pk: int) -> HttpResponse:
    """Schema: the expected inputs and every batch that did not match them, as Expected/Received."""
    monitor = monitor_or_404(request, pk)
    page = Paginator(selectors.schema_log_for(monitor=monitor, limit=None), 10).get_page(request.GET.get("page"))
    return _monitor_view(request, monitor, "schema", {"page": page, "schema_log": page.object_list})


@login_required
@permission_required("monitoring.view_monitor", raise_exception=True)
@require_GET
def monitor_alerts(request: HttpRequest, pk: int) -> HttpResponse:
    """Alerts: the monitor's alerts that are not resolved, newest first, with actions in place and in bulk."""
    monitor = monitor_or_404(request, pk)
    page = Paginator(selectors.alerts_of(monitor=monitor), MONITOR_ALERTS_PER_PAGE).get_page(request.GET.get("page"))
    return _monitor_view(request, monitor, "alerts", {"page": page, "alerts": page.object_list})


@login_required
@permission_required("monitoring.view_monitor", raise_exception=True)
@require_GET
def monitor_jobs(request: HttpRequest, pk: int) -> HttpResponse:
    """Jobs and setup: the latest jobs, retraining, ingest tokens and notifications."""
    monitor = monitor_or_404(request, pk)
    context = _activity_context(monitor)
    trigger = context["trigger"]
    return _monitor_view(
        request,
        monitor,
        "jobs",
        {
            **context,
            "tokens": monitor.ingest_tokens.all()[:10],
            "retrain_events": RetrainEvent.objects.filter(monitor=monitor)[:10],
            "channels": monitor.channels.all(),
            "notifications": Notification.objects.filter(alert__monitor=monitor)
            .select_related("alert", "channel")
            .order_by("-created_at")[:10],
            "channel_form": forms.ChannelForm(),
            "trigger_form": forms.TriggerForm(
                initial=forms.trigger_initial(trigger), saved_auth_header=bool(trigger and trigger.auth_header)
            ),
            "new_key": request.session.pop(f"monitor-{monitor.pk}-new-key", None),
        },
    )
