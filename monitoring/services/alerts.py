"""Alerts: raised once per dedupe key, cleared by a re-run, acknowledged, resolved and muted."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from mlopsportal.dispatch import queue_after_commit
from monitoring.models import (
    Alert,
    InferenceBatch,
    Monitor,
    Notification,
)
from monitoring.services import ingest_tokens, monitors
from registry import access
from registry.errors import Conflict, PermissionDenied, PortalError

ALERT_NOTIFY = "monitoring.tasks.alert_notify"  # queued by name: services never import tasks


_SEVERITY_RANK = {Alert.Severity.INFO: 0, Alert.Severity.WARNING: 1, Alert.Severity.CRITICAL: 2}


def alert_raise(
    *,
    monitor: Monitor,
    kind: str,
    key_suffix: str,
    severity: str,
    title: str,
    detail: str = "",
    feature: str = "",
    window_start: datetime | None = None,
    run: Any = None,
    batch: InferenceBatch | None = None,
    drifted_features: list[str] | None = None,
) -> tuple[Alert, bool]:
    """One alert per dedupe key (monitor, kind, feature, window): a repeat updates it, never doubles it.
    A resolved alert that fires again reopens; a muted one stays muted until its date. An alert whose
    severity rises (a window alert that becomes critical when a re-run sees more drifted features) is
    sent again, with its new severity."""
    key = f"{monitor.pk}:{kind}:{feature}:{window_start.isoformat() if window_start else ''}:{key_suffix}"
    with transaction.atomic():
        alert, created = Alert.objects.select_for_update().get_or_create(
            dedupe_key=key,
            defaults={
                "monitor": monitor,
                "kind": kind,
                "feature": feature,
                "window_start": window_start,
                "severity": severity,
                "title": title[:300],
                "detail": detail,
                "run": run,
                "batch": batch,
                "drifted_features": drifted_features or [],
            },
        )
        reopened = escalated = False
        if not created:
            escalated = _SEVERITY_RANK.get(severity, 0) > _SEVERITY_RANK.get(alert.severity, 0)
            alert.occurrences = F("occurrences") + 1
            alert.last_seen_at = timezone.now()
            alert.title, alert.detail, alert.severity = title[:300], detail, severity
            alert.run = run or alert.run
            if drifted_features is not None:
                alert.drifted_features = drifted_features
            mute_over = alert.status == Alert.Status.MUTED and alert.muted_until and alert.muted_until <= timezone.now()
            if alert.status == Alert.Status.RESOLVED or mute_over:
                alert.status, alert.muted_until, reopened = Alert.Status.OPEN, None, True
            alert.save()
            alert.refresh_from_db()
            if escalated:
                alert.notifications.filter(status=Notification.Status.SENT).update(status=Notification.Status.PENDING)
        if created or reopened or escalated:
            queue_after_commit(ALERT_NOTIFY, alert.pk)
    return alert, created


def alert_clear(*, monitor: Monitor, kind: str, feature: str | None, window_start: datetime | None) -> int:
    """A re-run of a window that no longer drifts resolves the alerts it had raised; `feature=None`
    resolves those of every feature of that kind and window."""
    if feature is None:
        return Alert.objects.filter(
            monitor=monitor, kind=kind, window_start=window_start, status=Alert.Status.OPEN
        ).update(status=Alert.Status.RESOLVED, updated_at=timezone.now())
    prefix = f"{monitor.pk}:{kind}:{feature}:{window_start.isoformat() if window_start else ''}:"
    return Alert.objects.filter(dedupe_key__startswith=prefix, status=Alert.Status.OPEN).update(
        status=Alert.Status.RESOLVED, updated_at=timezone.now()
    )


def _alert_for_change(actor: AbstractBaseUser, alert_id: int) -> Alert:
    alert = Alert.objects.select_for_update().select_related("monitor__project").get(pk=alert_id)
    if not actor.has_perm("monitoring.change_alert"):
        raise PermissionDenied("Your role cannot change alerts.")
    monitors.ensure_editable(alert.monitor.project, actor)
    return alert


@transaction.atomic
def alert_acknowledge(*, actor: AbstractBaseUser, alert_id: int) -> Alert:
    alert = _alert_for_change(actor, alert_id)
    if alert.status != Alert.Status.OPEN:
        raise Conflict(f"Only an open alert can be acknowledged; this one is {alert.get_status_display().lower()}.")
    alert.status, alert.status_changed_by = Alert.Status.ACKNOWLEDGED, actor
    alert.save()
    return alert


@transaction.atomic
def alert_resolve(*, actor: AbstractBaseUser, alert_id: int) -> Alert:
    alert = _alert_for_change(actor, alert_id)
    alert.status, alert.status_changed_by, alert.muted_until = Alert.Status.RESOLVED, actor, None
    alert.save()
    return alert


@transaction.atomic
def alert_mute(*, actor: AbstractBaseUser, alert_id: int, until: datetime) -> Alert:
    alert = _alert_for_change(actor, alert_id)
    if until <= timezone.now():
        raise PortalError("Mute until a time in the future.", fields={"until": ["Must be in the future."]})
    if until > timezone.now() + timedelta(days=365):
        raise PortalError("Mute for a year at most.", fields={"until": ["At most a year ahead."]})
    alert.status, alert.muted_until, alert.status_changed_by = Alert.Status.MUTED, until, actor
    alert.save()
    return alert


ALERT_ACTIONS = ("acknowledge", "resolve", "mute")
ALERT_BULK_MAX = 500  # a page shows 50; a pipeline may send more, but not without limit


@transaction.atomic
def alert_bulk_change(
    *, actor: AbstractBaseUser, alert_ids: list[int], action: str, until: datetime | None = None
) -> list[Alert]:
    """Applies one action to many alerts, all or nothing: each id is resolved through the access
    rules first (an alert the actor may not see is answered as missing, 404, naming the ids), then
    each goes through the single action's own service in this one transaction, so the first refusal
    (an alert not open to acknowledge, a project the actor may not change) rolls back the others."""
    if action not in ALERT_ACTIONS:
        raise PortalError(f"action: one of {', '.join(ALERT_ACTIONS)}.", fields={"action": ["Unknown action."]})
    ids = list(dict.fromkeys(alert_ids))  # in the order given, each once
    if not ids:
        raise PortalError("Choose at least one alert.", fields={"ids": ["At least one alert id."]})
    if len(ids) > ALERT_BULK_MAX:
        raise PortalError(
            f"At most {ALERT_BULK_MAX} alerts at once.", fields={"ids": [f"At most {ALERT_BULK_MAX} ids."]}
        )
    if action == "mute" and until is None:
        raise PortalError("Mute until when?", fields={"until": ["Required to mute."]})
    visible = set(
        Alert.objects.filter(pk__in=ids, monitor__project__in=access.projects_visible_to(user=actor)).values_list(
            "pk", flat=True
        )
    )
    missing = [i for i in ids if i not in visible]
    if missing:
        names = ", ".join(str(i) for i in missing[:10])
        raise ingest_tokens.NotFound(f"No alert {names}.", fields={"ids": [f"No alert {names}."]})
    changed = []
    for alert_id in sorted(ids):  # a fixed order of row locks: two bulk changes never deadlock
        try:
            if action == "acknowledge":
                changed.append(alert_acknowledge(actor=actor, alert_id=alert_id))
            elif action == "resolve":
                changed.append(alert_resolve(actor=actor, alert_id=alert_id))
            else:
                changed.append(alert_mute(actor=actor, alert_id=alert_id, until=until))
        except PortalError as error:  # the same refusal, saying which alert and that none changed
            raise type(error)(f"Alert {alert_id}: {error.message} Nothing was changed.", fields=error.fields) from error
    return changed
