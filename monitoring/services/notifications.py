"""Notification channels and the notifications an alert sends through them."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db.models import F
from django.utils import timezone

from mlopsportal.dispatch import send_now
from monitoring.models import (
    Alert,
    Monitor,
    Notification,
    NotificationChannel,
)
from monitoring.services import delivery, monitors


def channel_remove(*, actor: AbstractBaseUser, channel_id: int) -> None:
    channel = NotificationChannel.objects.select_related("monitor__project").get(pk=channel_id)
    monitors.ensure_editable(channel.monitor.project, actor)
    channel.delete()


def channel_add(
    *, actor: AbstractBaseUser | None, monitor: Monitor, kind: str, target: str, secret: str = ""
) -> NotificationChannel:
    if actor is not None:
        monitors.ensure_editable(monitor.project, actor)
    return NotificationChannel.objects.create(monitor=monitor, kind=kind, target=target.strip(), secret=secret)


NOTIFICATION_SEND = "monitoring.tasks.notification_send"  # queued by name: services never import tasks


def alert_notify(*, alert_id: int) -> list[int]:
    """The alert's notifications, one per active channel of its monitor, each sent by a worker."""
    ids = notifications_create(alert_id=alert_id)
    for notification_id in ids:
        send_now(NOTIFICATION_SEND, notification_id)
    return ids


def notifications_create(*, alert_id: int) -> list[int]:
    alert = Alert.objects.get(pk=alert_id)
    if alert.status == Alert.Status.MUTED:
        return []
    ids = []
    for channel in NotificationChannel.objects.filter(monitor_id=alert.monitor_id, is_active=True):
        notification, _ = Notification.objects.get_or_create(alert=alert, channel=channel)
        if notification.status != Notification.Status.SENT:
            ids.append(notification.pk)
    return ids


def alert_payload(alert: Alert) -> dict[str, Any]:
    return {
        "event": "monitoring.alert",
        "alert": {
            "id": alert.pk,
            "kind": alert.kind,
            "severity": alert.severity,
            "status": alert.status,
            "title": alert.title,
            "detail": alert.detail,
            "feature": alert.feature,
            "drifted_features": alert.drifted_features,
            "window_start": alert.window_start.isoformat() if alert.window_start else None,
            "url": alert.get_absolute_url(),
        },
        "monitor": {"id": alert.monitor_id, "name": alert.monitor.name, "model": alert.monitor.model_ref},
    }


def signature_header(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", hex: the receiver recomputes it with the shared secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def notification_send(*, notification_id: int) -> Notification:
    notification = Notification.objects.select_related("alert__monitor", "channel").get(pk=notification_id)
    if notification.status == Notification.Status.SENT:
        return notification
    alert, channel = notification.alert, notification.channel
    Notification.objects.filter(pk=notification.pk).update(attempts=F("attempts") + 1)
    attempt = notification.attempts + 1
    try:
        if channel.kind == NotificationChannel.Kind.EMAIL:
            recipients = [a.strip() for a in channel.target.split(",") if a.strip()]
            send_mail(
                subject=f"[{alert.get_severity_display()}] {alert.title}"[:200],
                message=f"{alert.detail}\n\nEvidence: {alert.get_absolute_url()}",
                from_email=None,
                recipient_list=recipients,
            )
        else:
            body = json.dumps(alert_payload(alert), sort_keys=True).encode()
            timestamp = str(int(timezone.now().timestamp()))
            headers = {
                "Content-Type": "application/json",
                "X-Portal-Timestamp": timestamp,
                "X-Portal-Delivery": f"notification-{notification.pk}",
            }
            if channel.secret:
                headers["X-Portal-Signature"] = signature_header(channel.secret, timestamp, body)
            status, _ = delivery.post_within(channel.target, body=body, headers=headers, keep_answer=False)
            if status >= 300:
                raise delivery.DeliveryFailed(f"the webhook answered HTTP {status}")
    except (delivery.DeliveryFailed, OSError) as exc:  # SMTP failures are OSErrors
        Notification.objects.filter(pk=notification.pk).update(
            status=Notification.Status.FAILED, last_error=f"Attempt {attempt}: {exc}"[:2000]
        )
        raise delivery.DeliveryFailed(str(exc)) from exc
    Notification.objects.filter(pk=notification.pk).update(
        status=Notification.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    notification.refresh_from_db()
    return notification
