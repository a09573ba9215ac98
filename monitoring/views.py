"""Monitoring pages: thin views over selectors, services and chart builders."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core import validators
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from monitoring import charts, jobs, profiles, selectors, services
from monitoring.ingest import format_for
from monitoring.models import Alert, DriftRun, Monitor, Notification, NotificationChannel, RetrainEvent, RetrainTrigger
from monitoring.tasks import drift_run_enqueue
from registry.errors import Conflict, PortalError
from registry.live import action_queued, action_refused, wants_json
from registry.mirror.selectors import registered_models_visible_to
from registry.selectors import projects_visible_to


def _monitor_or_404(request: HttpRequest, pk: int) -> Monitor:
    return get_object_or_404(selectors.monitor_list_for(user=request.user), pk=pk)


@login_required
@permission_required("monitoring.view_monitor", raise_exception=True)
@require_GET
def monitor_list(request: HttpRequest) -> HttpResponse:
    monitors = list(selectors.monitor_list_for(user=request.user))
    rows = [
        {
            "monitor": m,
            "status": selectors.monitor_status(m),
            "label": selectors.MonitorStatus.LABELS[selectors.monitor_status(m)],
            "badge": selectors.MonitorStatus.BADGES[selectors.monitor_status(m)],
        }
        for m in monitors
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
        from monitoring.models import BatchHistogram

        profile = profiles.profile_from_dict(selected.reference.profile[feature])
        hists = [
            profiles.histogram_from_dict(h.histogram)
            for h in BatchHistogram.objects.filter(
                reference=selected.reference,
                feature=feature,
                batch__monitor=monitor,
                batch__event_time__gte=selected.window_start,
                batch__event_time__lt=selected.window_end,
            )
        ]
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
    editable = services.monitor_editable_by(monitor_project=monitor.project, user=request.user)
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
    monitor = _monitor_or_404(request, pk)
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
            "reference": services.reference_current(monitor),
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
    monitor = _monitor_or_404(request, pk)
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
            "reference": services.reference_current(monitor),
        },
    )


@login_required
@permission_required("monitoring.view_monitor", raise_exception=True)
@require_GET
def monitor_schema(request: HttpRequest, pk: int) -> HttpResponse:
    """Schema: the expected inputs and every batch that did not match them, as Expected/Received."""
    monitor = _monitor_or_404(request, pk)
    page = Paginator(selectors.schema_log_for(monitor=monitor, limit=None), 10).get_page(request.GET.get("page"))
    return _monitor_view(request, monitor, "schema", {"page": page, "schema_log": page.object_list})


@login_required
@permission_required("monitoring.view_monitor", raise_exception=True)
@require_GET
def monitor_alerts(request: HttpRequest, pk: int) -> HttpResponse:
    """Alerts: the monitor's alerts that are not resolved, newest first, with actions in place and in bulk."""
    monitor = _monitor_or_404(request, pk)
    page = Paginator(selectors.alerts_of(monitor=monitor), MONITOR_ALERTS_PER_PAGE).get_page(request.GET.get("page"))
    return _monitor_view(request, monitor, "alerts", {"page": page, "alerts": page.object_list})


@login_required
@permission_required("monitoring.view_monitor", raise_exception=True)
@require_GET
def monitor_jobs(request: HttpRequest, pk: int) -> HttpResponse:
    """Jobs and setup: the latest jobs, retraining, ingest tokens and notifications."""
    monitor = _monitor_or_404(request, pk)
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
            "channel_form": ChannelForm(),
            "trigger_form": TriggerForm(
                initial=_trigger_initial(trigger), saved_auth_header=bool(trigger and trigger.auth_header)
            ),
            "new_key": request.session.pop(f"monitor-{monitor.pk}-new-key", None),
        },
    )


def _jobs_url(monitor: Monitor, anchor: str = "") -> str:
    return reverse("monitoring:monitor_jobs", kwargs={"pk": monitor.pk}) + (f"#{anchor}" if anchor else "")


def _trigger_initial(trigger: RetrainTrigger | None) -> dict[str, Any]:
    if trigger is None:
        return {}
    fields = ("url", "preset", "cooldown_hours", "on_drift", "is_active")  # never the auth header
    return {**{f: getattr(trigger, f) for f in fields}, **(trigger.options or {})}


class MonitorForm(forms.Form):
    project = forms.ModelChoiceField(queryset=None, to_field_name="slug")
    name = forms.CharField(max_length=120)
    model_name = forms.CharField(max_length=255, help_text="The registered model's name in MLflow.")
    alias = forms.CharField(
        max_length=120, required=False, initial="champion", help_text="Followed through promotions."
    )
    version = forms.IntegerField(required=False, min_value=1, help_text="Pin a version instead of following the alias.")
    expected_schema = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        help_text='JSON list of {"name", "type", "required"}; empty reads the model\'s signature from MLflow.',
    )
    prediction_column = forms.CharField(required=False)
    label_column = forms.CharField(required=False)
    event_time_column = forms.CharField(required=False)
    numeric_method = forms.ChoiceField(choices=Monitor.Method.choices, required=False)
    numeric_threshold = forms.FloatField(required=False)
    categorical_method = forms.ChoiceField(choices=Monitor.Method.choices, required=False)
    categorical_threshold = forms.FloatField(required=False)
    drift_share = forms.FloatField(min_value=0.01, max_value=1, initial=0.5)
    window_seconds = forms.IntegerField(min_value=60, initial=86_400, help_text="86400 = daily windows.")
    window_rows = forms.IntegerField(
        min_value=1, required=False, help_text="Or windows of this many rows (whole batches), instead of time."
    )
    require_declared_types = forms.BooleanField(
        required=False,
        label="JSON/CSV batches declare their column types",
        help_text="JSON and CSV cannot show float32 against float64: with this, such batches must name their "
        "types in an X-Column-Types header (e.g. feature_a=float32), checked like Parquet's.",
    )
    reference = forms.FileField(required=False, help_text="Reference dataset, CSV or Parquet.")
    reference_artifact = forms.CharField(
        required=False,
        max_length=500,
        help_text="Or: path of a CSV/Parquet artifact of the model's training run in MLflow, e.g. data/train.parquet.",
    )

    # Suggestions, not a closed list: a model registered in MLflow a moment ago may not be mirrored yet,
    # and the service checks whatever is typed against MLflow and the user's access.
    SUGGESTED_MODELS = 500

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects_visible_to(user=user)
        models = list(
            registered_models_visible_to(user=user)
            .filter(deleted_at__isnull=True)
            .order_by("name")
            .values_list("name", "aliases")[: self.SUGGESTED_MODELS]
        )
        self.model_suggestions = [name for name, _ in models]
        self.alias_suggestions = sorted({alias for _, aliases in models for alias in (aliases or {})} | {"champion"})
        self.fields["model_name"].widget.attrs["list"] = "monitor-model-names"
        self.fields["alias"].widget.attrs["list"] = "monitor-aliases"

    def clean_expected_schema(self) -> list[dict[str, Any]] | None:
        text = self.cleaned_data["expected_schema"].strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not JSON: {exc.msg}.") from exc
        if not isinstance(value, list) or not all(isinstance(c, dict) and c.get("name") for c in value):
            raise forms.ValidationError('A list of objects, each with a "name" and a "type".')
        return value


@transaction.atomic  # a reference that fails to load leaves no half-made monitor behind
def _save_monitor(request: HttpRequest, form: MonitorForm, monitor: Monitor | None) -> Monitor:
    data = dict(form.cleaned_data)
    upload = data.pop("reference")
    artifact = data.pop("reference_artifact")
    project = data.pop("project")
    data["numeric_method"] = data["numeric_method"] or ""
    data["categorical_method"] = data["categorical_method"] or ""
    if monitor is None:
        monitor = services.monitor_create(actor=request.user, project=project, **data)
    else:
        if data["expected_schema"] is None:
            data.pop("expected_schema")
        monitor = services.monitor_update(actor=request.user, monitor_id=monitor.pk, **data)
    if upload is not None:
        fmt = format_for(upload.content_type or "", upload.name or "")
        if fmt not in ("csv", "parquet"):
            raise PortalError("The reference must be a CSV or Parquet file.", fields={"reference": ["CSV or Parquet."]})
        services.reference_upload(actor=request.user, monitor_id=monitor.pk, body=upload.read(), fmt=fmt)
    elif artifact:
        services.reference_from_mlflow(actor=request.user, monitor_id=monitor.pk, artifact_path=artifact)
    return monitor


def _form_page(request: HttpRequest, monitor: Monitor | None) -> HttpResponse:
    initial: dict[str, Any] = {}
    if monitor is not None:
        initial = {f: getattr(monitor, f) for f in ("name", "model_name", "alias", "version", *services.MONITOR_FIELDS)}
        initial["project"] = monitor.project.slug
        initial["expected_schema"] = json.dumps(monitor.expected_schema, indent=1)
    form = MonitorForm(request.POST or None, request.FILES or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            monitor = _save_monitor(request, form, monitor)
        except PortalError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Monitor “{monitor.name}” saved.")
            return redirect(monitor)
    return render(request, "monitoring/monitor_form.html", {"form": form, "monitor": monitor})


@login_required
@permission_required("monitoring.add_monitor", raise_exception=True)
@require_http_methods(["GET", "POST"])
def monitor_create(request: HttpRequest) -> HttpResponse:
    return _form_page(request, None)


@login_required
@permission_required("monitoring.change_monitor", raise_exception=True)
@require_http_methods(["GET", "POST"])
def monitor_edit(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = _monitor_or_404(request, pk)
    if not services.monitor_editable_by(monitor_project=monitor.project, user=request.user):
        raise PermissionDenied
    return _form_page(request, monitor)


@login_required
@permission_required("monitoring.run_drift", raise_exception=True)
@require_POST
def monitor_run_drift(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = _monitor_or_404(request, pk)
    if not services.monitor_editable_by(monitor_project=monitor.project, user=request.user):
        raise PermissionDenied
    try:
        run = drift_run_enqueue(monitor_id=monitor.pk, window_start=timezone.now(), trigger=DriftRun.Trigger.MANUAL)
    except PortalError as error:
        return action_refused(request, error=error, redirect_to=monitor)
    message = f"Drift job queued for the window starting {run.window_start:%Y-%m-%d %H:%M} UTC."
    return action_queued(request, message=message, redirect_to=monitor)


@login_required
@permission_required("monitoring.trigger_retrain", raise_exception=True)
@require_POST
def monitor_retrain(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = _monitor_or_404(request, pk)
    if not services.monitor_editable_by(monitor_project=monitor.project, user=request.user):
        raise PermissionDenied
    run = DriftRun.objects.filter(monitor=monitor, status=DriftRun.Status.DONE).order_by("-window_start").first()
    event = jobs.retrain_request(monitor=monitor, run=run, reason=RetrainEvent.Reason.MANUAL, actor=request.user)
    if event is None:
        return action_refused(
            request, error=Conflict("This monitor has no active retrain trigger."), redirect_to=monitor
        )
    return action_queued(
        request, message="Retraining requested; the pipeline's answer appears below.", redirect_to=monitor
    )


@login_required
@permission_required("monitoring.change_monitor", raise_exception=True)
@require_POST
def monitor_token_create(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = _monitor_or_404(request, pk)
    try:
        new = services.ingest_token_create(actor=request.user, monitor=monitor, name=request.POST.get("name", ""))
    except PortalError as exc:
        raise PermissionDenied from exc
    # Shown once, on the next page view, then gone from the session.
    request.session[f"monitor-{monitor.pk}-new-key"] = new.key
    return redirect(_jobs_url(monitor, "tokens-title"))


class ChannelForm(forms.Form):
    kind = forms.ChoiceField(choices=NotificationChannel.Kind.choices)
    target = forms.CharField(max_length=1000, help_text="E-mail addresses (comma-separated) or the webhook URL.")
    secret = forms.CharField(
        max_length=200,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Webhook only: the HMAC-SHA256 secret. Write-only: it is never shown again.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        target = data.get("target", "")
        if data.get("kind") == NotificationChannel.Kind.EMAIL:
            for address in [a.strip() for a in target.split(",") if a.strip()]:
                validators.validate_email(address)
        elif target:
            validators.URLValidator(schemes=["http", "https"])(target)
        return data


class TriggerForm(forms.Form):
    url = forms.URLField(
        max_length=500,
        assume_scheme="https",
        help_text="The pipeline endpoint, e.g. https://kfp.example/apis/v2beta1/runs.",
    )
    preset = forms.ChoiceField(choices=RetrainTrigger.Preset.choices)
    pipeline_id = forms.CharField(required=False, help_text="Kubeflow only.")
    pipeline_version_id = forms.CharField(required=False, help_text="Kubeflow only.")
    experiment_id = forms.CharField(required=False, help_text="Kubeflow only, optional.")
    auth_header = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False),
        help_text="Sent as the Authorization header. Write-only: it is never shown again.",
    )
    remove_auth_header = forms.BooleanField(required=False, label="Remove the saved auth header")
    cooldown_hours = forms.IntegerField(min_value=0, initial=24)
    on_drift = forms.BooleanField(required=False, initial=True, help_text="Trigger when a window drifts.")
    is_active = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, saved_auth_header: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if saved_auth_header:
            self.fields["auth_header"].help_text = "A header is saved; leave this empty to keep it."
        else:
            del self.fields["remove_auth_header"]

    def auth_header_change(self) -> str | None:
        """What to store: the new header, "" to remove the saved one, None to keep it."""
        if self.cleaned_data.get("remove_auth_header"):
            return ""
        return self.cleaned_data.get("auth_header") or None


def _editable_monitor(request: HttpRequest, pk: int) -> Monitor:
    monitor = _monitor_or_404(request, pk)
    if not services.monitor_editable_by(monitor_project=monitor.project, user=request.user):
        raise PermissionDenied
    return monitor


@login_required
@permission_required("monitoring.change_monitor", raise_exception=True)
@require_POST
def monitor_channel_add(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = _editable_monitor(request, pk)
    form = ChannelForm(request.POST)
    if form.is_valid():
        services.channel_add(actor=request.user, monitor=monitor, **form.cleaned_data)
        messages.success(request, "Notification channel added.")
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect(_jobs_url(monitor, "notifications-title"))


@login_required
@permission_required("monitoring.change_monitor", raise_exception=True)
@require_POST
def monitor_channel_remove(request: HttpRequest, pk: int, channel_id: int) -> HttpResponse:
    monitor = _editable_monitor(request, pk)
    channel = get_object_or_404(monitor.channels, pk=channel_id)
    services.channel_remove(actor=request.user, channel_id=channel.pk)
    messages.success(request, "Notification channel removed.")
    return redirect(_jobs_url(monitor, "notifications-title"))


@login_required
@permission_required("monitoring.change_monitor", raise_exception=True)
@require_POST
def monitor_trigger_set(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = _editable_monitor(request, pk)
    saved = RetrainTrigger.objects.filter(monitor=monitor).exclude(auth_header="").exists()
    form = TriggerForm(request.POST, saved_auth_header=saved)
    if form.is_valid():
        data = dict(form.cleaned_data)
        data.pop("remove_auth_header", None)
        data["auth_header"] = form.auth_header_change()
        options = {
            k: data.pop(k) for k in ("pipeline_id", "pipeline_version_id", "experiment_id") if data.get(k) is not None
        }
        services.retrain_trigger_set(
            actor=request.user, monitor=monitor, options={k: v for k, v in options.items() if v}, **data
        )
        messages.success(request, "Retrain trigger saved.")
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect(_jobs_url(monitor, "retrain-title"))


@login_required
@permission_required("monitoring.change_monitor", raise_exception=True)
@require_POST
def monitor_token_revoke(request: HttpRequest, pk: int, token_id: int) -> HttpResponse:
    monitor = _monitor_or_404(request, pk)
    token = get_object_or_404(monitor.ingest_tokens, pk=token_id)
    try:
        services.ingest_token_revoke(actor=request.user, token_id=token.pk)
    except PortalError as exc:
        raise PermissionDenied from exc
    messages.success(request, f"Token {token.prefix}… revoked: batches sent with it now get 401.")
    return redirect(_jobs_url(monitor, "tokens-title"))


@login_required
@permission_required("monitoring.view_alert", raise_exception=True)
@require_GET
def alert_list(request: HttpRequest) -> HttpResponse:
    filters = {name: request.GET.get(name, "") for name in selectors.ALERT_FILTERS}
    try:
        alerts = selectors.alerts_filtered(user=request.user, filters=filters)
    except PortalError as exc:
        messages.error(request, exc.message)
        alerts = selectors.alerts_visible_to(user=request.user).none()
    page = Paginator(alerts.order_by("-created_at"), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "monitoring/alert_list.html",
        {
            "page": page,
            "filters": filters,
            "statuses": Alert.Status.choices,
            "kinds": Alert.Kind.choices,
            "severities": Alert.Severity.choices,
            "monitors": selectors.monitors_visible_to(user=request.user),
            "can_change": request.user.has_perm("monitoring.change_alert"),
        },
    )


def _mute_until(request: HttpRequest) -> datetime | None:
    """The mute's end from a form's datetime-local field, in the portal's time zone; None if empty."""
    text = request.POST.get("until", "").strip()
    if not text:
        return None
    try:
        until = datetime.fromisoformat(text)
    except ValueError as exc:
        raise PortalError("Give the mute's end as a date and time.", fields={"until": ["A date and time."]}) from exc
    return timezone.make_aware(until, timezone.get_current_timezone()) if timezone.is_naive(until) else until


def _back_to(request: HttpRequest, default: str) -> str:
    next_url = request.POST.get("next", "")
    if next_url and url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return next_url
    return default


def _alert_rows(request: HttpRequest, alerts: list[Alert]) -> dict[str, str]:
    """Each changed alert's table row as the page shows it, for the page's script to swap in."""
    context = {
        "show_monitor": request.POST.get("show_monitor") == "1",
        "can_change": True,
        "selectable": request.POST.get("selectable") == "1",
        "next_url": _back_to(request, ""),
    }
    return {
        str(alert.pk): render_to_string(
            "monitoring/_alert_rows.html", {**context, "alerts": [alert]}, request=request
        ).strip()
        for alert in alerts
    }


_DONE = {"acknowledge": "acknowledged", "resolve": "resolved", "mute": "muted"}


@login_required
@permission_required("monitoring.change_alert", raise_exception=True)
@require_POST
def alert_change(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    """Acknowledge, resolve or mute one alert. The page's script (static/js/alerts.js) asks for JSON
    and swaps the answer's row in place; a plain form post is redirected back."""
    alert = get_object_or_404(selectors.alerts_visible_to(user=request.user), pk=pk)
    if verb not in services.ALERT_ACTIONS:
        raise Http404
    back = _back_to(request, alert.monitor.get_absolute_url())
    try:
        if verb == "acknowledge":
            alert = services.alert_acknowledge(actor=request.user, alert_id=alert.pk)
        elif verb == "resolve":
            alert = services.alert_resolve(actor=request.user, alert_id=alert.pk)
        else:
            until = _mute_until(request)
            if until is None:
                raise PortalError("Give the mute's end as a date and time.", fields={"until": ["Required."]})
            alert = services.alert_mute(actor=request.user, alert_id=alert.pk, until=until)
    except PortalError as error:
        if error.status_code == 403 and not wants_json(request):
            raise PermissionDenied from error
        return action_refused(request, error=error, redirect_to=back)
    message = f"“{alert.title}” {_DONE[verb]}."
    if not wants_json(request):
        messages.success(request, message)
        return redirect(back)
    alert = selectors.alerts_visible_to(user=request.user).get(pk=alert.pk)
    return JsonResponse({"message": message, "status": alert.status, "rows": _alert_rows(request, [alert])})


@login_required
@permission_required("monitoring.change_alert", raise_exception=True)
@require_POST
def alert_bulk(request: HttpRequest) -> HttpResponse:
    """One action on the alerts ticked on a page (the monitor's alerts view, /alerts/): all of them
    or, if any is refused, none (services.alert_bulk_change)."""
    back = _back_to(request, reverse("monitoring:alert_list"))
    action = request.POST.get("action", "")
    raw_ids = request.POST.getlist("ids")
    try:
        if not all(i.isascii() and i.isdigit() and len(i) <= 18 for i in raw_ids):
            raise PortalError("ids: alert ids, numbers.", fields={"ids": ["Alert ids, numbers."]})
        changed = services.alert_bulk_change(
            actor=request.user,
            alert_ids=[int(i) for i in raw_ids],
            action=action,
            until=_mute_until(request) if action == "mute" else None,
        )
    except PortalError as error:
        return action_refused(request, error=error, redirect_to=back)
    count = len(changed)
    message = f"{count} alert{'s' if count != 1 else ''} {_DONE[action]}."
    if not wants_json(request):
        messages.success(request, message)
        return redirect(back)
    fresh = list(selectors.alerts_visible_to(user=request.user).filter(pk__in=[a.pk for a in changed]))
    return JsonResponse({"message": message, "rows": _alert_rows(request, fresh)})
