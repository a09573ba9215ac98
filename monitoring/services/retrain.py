"""Retrain triggers and the retrain requests sent to a pipeline."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from mlopsportal.dispatch import queue_after_commit
from monitoring.models import (
    DriftRun,
    Monitor,
    RetrainEvent,
    RetrainTrigger,
)
from monitoring.services import delivery, monitors
from registry.audit import audit_record

RETRAIN_SEND = "monitoring.tasks.retrain_send"  # queued by name: services never import tasks


def retrain_trigger_set(
    *,
    actor: AbstractBaseUser | None,
    monitor: Monitor,
    url: str,
    preset: str = RetrainTrigger.Preset.GENERIC,
    auth_header: str | None = None,
    **fields: Any,
) -> RetrainTrigger:
    """Create or replace the monitor's trigger. The auth header is write-only: None keeps the saved
    one (forms never show it back), "" removes it."""
    if actor is not None:
        monitors.ensure_editable(monitor.project, actor)
    if auth_header is not None:
        fields["auth_header"] = auth_header
    trigger, _ = RetrainTrigger.objects.update_or_create(
        monitor=monitor, defaults={"url": url, "preset": preset, **fields}
    )
    return trigger


def retrain_payload(
    trigger: RetrainTrigger, monitor: Monitor, run: DriftRun | None, reason: str, actor: Any
) -> dict[str, Any]:
    drifted = []
    scores: dict[str, Any] = {}
    if run is not None:
        for result in run.results.all():
            scores[result.feature] = {
                "method": result.method,
                "statistic": result.statistic,
                "threshold": result.threshold,
                "drifted": result.drifted,
            }
            if result.drifted:
                drifted.append(result.feature)
    generic = {
        "event": "monitoring.retrain_requested",
        "reason": reason,
        "requested_by": getattr(actor, "username", None),
        "monitor": {"id": monitor.pk, "name": monitor.name, "project": monitor.project.slug},
        "model": {"name": monitor.model_name, "alias": monitor.alias or None, "version": monitor.version},
        "window": {
            "start": run.window_start.isoformat() if run else None,
            "end": run.window_end.isoformat() if run else None,
        },
        "drifted_features": drifted,
        "scores": scores,
    }
    if trigger.preset != RetrainTrigger.Preset.KUBEFLOW:
        return generic
    options = trigger.options or {}
    # Kubeflow Pipelines v2 REST API, POST /apis/v2beta1/runs: parameters must be scalars.
    body: dict[str, Any] = {
        "display_name": f"retrain {monitor.model_name} ({reason}) {timezone.now():%Y-%m-%d %H:%M}",
        "description": f"Requested by the MLOps portal monitor {monitor.name}",
        "pipeline_version_reference": {
            "pipeline_id": options.get("pipeline_id", ""),
            "pipeline_version_id": options.get("pipeline_version_id", ""),
        },
        "runtime_config": {
            "parameters": {
                "model_name": monitor.model_name,
                "model_alias": monitor.alias,
                "monitor_id": monitor.pk,
                "reason": reason,
                "window_start": generic["window"]["start"] or "",
                "drifted_features": ",".join(drifted),
            }
        },
    }
    if options.get("experiment_id"):
        body["experiment_id"] = options["experiment_id"]
    return body


def retrain_request(
    *, monitor: Monitor, run: DriftRun | None, reason: str, actor: AbstractBaseUser | None = None
) -> RetrainEvent | None:
    """Records a retrain request and sends it after commit. A drift-triggered request inside the
    cooldown of an earlier one is dropped: one drift episode, one retraining. The button ignores it."""
    with transaction.atomic():
        trigger = RetrainTrigger.objects.select_for_update().filter(monitor=monitor, is_active=True).first()
        if trigger is None or (reason == RetrainEvent.Reason.DRIFT and not trigger.on_drift):
            return None
        if reason == RetrainEvent.Reason.DRIFT:
            since = timezone.now() - timedelta(hours=trigger.cooldown_hours)
            if trigger.events.filter(created_at__gte=since).exclude(status=RetrainEvent.Status.FAILED).exists():
                return None
        event = RetrainEvent.objects.create(
            trigger=trigger,
            monitor=monitor,
            run=run,
            reason=reason,
            requested_by=actor,
            payload=retrain_payload(trigger, monitor, run, reason, actor),
        )
        _audit(monitor, actor, event)
        queue_after_commit(RETRAIN_SEND, event.pk)
    return event


def _audit(monitor: Monitor, actor: Any, event: RetrainEvent) -> None:
    audit_record(
        action="monitor.retrain_triggered",
        actor=actor,
        obj=monitor,
        project=monitor.project,
        summary=f"Retraining of {monitor.model_ref} requested ({event.get_reason_display().lower()})",
        data={"retrain_event": event.pk, "run": event.run_id, "url": event.trigger.url, "reason": event.reason},
    )


def retrain_send(*, event_id: int) -> RetrainEvent:
    event = RetrainEvent.objects.select_related("trigger").get(pk=event_id)
    if event.status == RetrainEvent.Status.SENT:
        return event
    RetrainEvent.objects.filter(pk=event.pk).update(attempts=F("attempts") + 1)
    attempt = event.attempts + 1
    headers = {"Content-Type": "application/json", "X-Portal-Delivery": f"retrain-{event.pk}"}
    if event.trigger.auth_header:
        headers["Authorization"] = event.trigger.auth_header
    try:
        status, answer = delivery.post_within(
            event.trigger.url, body=json.dumps(event.payload).encode(), headers=headers, keep_answer=True
        )
    except delivery.DeliveryFailed as exc:
        RetrainEvent.objects.filter(pk=event.pk).update(
            status=RetrainEvent.Status.FAILED, response_status=None, response_body=f"Attempt {attempt}: {exc}"[:4000]
        )
        raise
    ok = status < 300
    RetrainEvent.objects.filter(pk=event.pk).update(
        status=RetrainEvent.Status.SENT if ok else RetrainEvent.Status.FAILED,
        response_status=status,
        response_body=answer[: delivery.ANSWER_KEPT_BYTES],
        sent_at=timezone.now() if ok else None,
    )
    if not ok and (status >= 500 or status == 429):
        raise delivery.DeliveryFailed(f"the pipeline endpoint answered HTTP {status}")
    event.refresh_from_db()
    return event
