"""Setting a monitor up and acting on it: create and edit, run drift now, retrain, ingest tokens,
notification channels and the retrain trigger."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from monitoring import forms
from monitoring.ingest import format_for
from monitoring.models import DriftRun, Monitor, RetrainEvent, RetrainTrigger
from monitoring.services import drift_runs, ingest_tokens, monitors, notifications, references, retrain
from monitoring.views.monitors import monitor_or_404
from registry import access
from registry.errors import Conflict, PortalError
from registry.live import action_queued, action_refused


def _jobs_url(monitor: Monitor, anchor: str = "") -> str:
    return reverse("monitoring:monitor_jobs", kwargs={"pk": monitor.pk}) + (f"#{anchor}" if anchor else "")


@transaction.atomic  # a reference that fails to load leaves no half-made monitor behind
def _save_monitor(request: HttpRequest, form: forms.MonitorForm, monitor: Monitor | None) -> Monitor:
    data = dict(form.cleaned_data)
    upload = data.pop("reference")
    artifact = data.pop("reference_artifact")
    project = data.pop("project")
    data["numeric_method"] = data["numeric_method"] or ""
    data["categorical_method"] = data["categorical_method"] or ""
    if monitor is None:
        monitor = monitors.monitor_create(actor=request.user, project=project, **data)
    else:
        if data["expected_schema"] is None:
            data.pop("expected_schema")
        monitor = monitors.monitor_update(actor=request.user, monitor_id=monitor.pk, **data)
    if upload is not None:
        fmt = format_for(upload.content_type or "", upload.name or "")
        if fmt not in ("csv", "parquet"):
            raise PortalError("The reference must be a CSV or Parquet file.", fields={"reference": ["CSV or Parquet."]})
        references.reference_upload(actor=request.user, monitor_id=monitor.pk, body=upload.read(), fmt=fmt)
    elif artifact:
        references.reference_from_mlflow(actor=request.user, monitor_id=monitor.pk, artifact_path=artifact)
    return monitor


def _form_page(request: HttpRequest, monitor: Monitor | None) -> HttpResponse:
    initial: dict[str, Any] = {}
    if monitor is not None:
        initial = {f: getattr(monitor, f) for f in ("name", "model_name", "alias", "version", *monitors.MONITOR_FIELDS)}
        initial["project"] = monitor.project.slug
        initial["expected_schema"] = json.dumps(monitor.expected_schema, indent=1)
    form = forms.MonitorForm(request.POST or None, request.FILES or None, user=request.user, initial=initial)
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
    monitor = monitor_or_404(request, pk)
    if not access.member_may(user=request.user, project=monitor.project, permission=monitors.CHANGE_MONITOR):
        raise PermissionDenied
    return _form_page(request, monitor)


@login_required
@permission_required("monitoring.run_drift", raise_exception=True)
@require_POST
def monitor_run_drift(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = monitor_or_404(request, pk)
    if not access.member_may(user=request.user, project=monitor.project, permission=monitors.CHANGE_MONITOR):
        raise PermissionDenied
    try:
        run = drift_runs.drift_run_enqueue(
            monitor_id=monitor.pk, window_start=timezone.now(), trigger=DriftRun.Trigger.MANUAL
        )
    except PortalError as error:
        return action_refused(request, error=error, redirect_to=monitor)
    message = f"Drift job queued for the window starting {run.window_start:%Y-%m-%d %H:%M} UTC."
    return action_queued(request, message=message, redirect_to=monitor)


@login_required
@permission_required("monitoring.trigger_retrain", raise_exception=True)
@require_POST
def monitor_retrain(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = monitor_or_404(request, pk)
    if not access.member_may(user=request.user, project=monitor.project, permission=monitors.CHANGE_MONITOR):
        raise PermissionDenied
    run = DriftRun.objects.filter(monitor=monitor, status=DriftRun.Status.DONE).order_by("-window_start").first()
    event = retrain.retrain_request(monitor=monitor, run=run, reason=RetrainEvent.Reason.MANUAL, actor=request.user)
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
    monitor = monitor_or_404(request, pk)
    try:
        new = ingest_tokens.ingest_token_create(actor=request.user, monitor=monitor, name=request.POST.get("name", ""))
    except PortalError as exc:
        raise PermissionDenied from exc
    # Shown once, on the next page view, then gone from the session.
    request.session[f"monitor-{monitor.pk}-new-key"] = new.key
    return redirect(_jobs_url(monitor, "tokens-title"))


def _editable_monitor(request: HttpRequest, pk: int) -> Monitor:
    monitor = monitor_or_404(request, pk)
    if not access.member_may(user=request.user, project=monitor.project, permission=monitors.CHANGE_MONITOR):
        raise PermissionDenied
    return monitor


@login_required
@permission_required("monitoring.change_monitor", raise_exception=True)
@require_POST
def monitor_channel_add(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = _editable_monitor(request, pk)
    form = forms.ChannelForm(request.POST)
    if form.is_valid():
        notifications.channel_add(actor=request.user, monitor=monitor, **form.cleaned_data)
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
    notifications.channel_remove(actor=request.user, channel_id=channel.pk)
    messages.success(request, "Notification channel removed.")
    return redirect(_jobs_url(monitor, "notifications-title"))


@login_required
@permission_required("monitoring.change_monitor", raise_exception=True)
@require_POST
def monitor_trigger_set(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = _editable_monitor(request, pk)
    saved = RetrainTrigger.objects.filter(monitor=monitor).exclude(auth_header="").exists()
    form = forms.TriggerForm(request.POST, saved_auth_header=saved)
    if form.is_valid():
        data = dict(form.cleaned_data)
        data.pop("remove_auth_header", None)
        data["auth_header"] = form.auth_header_change()
        options = {
            k: data.pop(k) for k in ("pipeline_id", "pipeline_version_id", "experiment_id") if data.get(k) is not None
        }
        retrain.retrain_trigger_set(
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
    monitor = monitor_or_404(request, pk)
    token = get_object_or_404(monitor.ingest_tokens, pk=token_id)
    try:
        ingest_tokens.ingest_token_revoke(actor=request.user, token_id=token.pk)
    except PortalError as exc:
        raise PermissionDenied from exc
    messages.success(request, f"Token {token.prefix}… revoked: batches sent with it now get 401.")
    return redirect(_jobs_url(monitor, "tokens-title"))
