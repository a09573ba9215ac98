"""The promotion gate's drift check, registered with the gate when both apps are installed.

It passes when no monitor of the model has an open critical drift alert: promoting while the data
the model sees has moved away from its training data is exactly what the gate should stop."""

from __future__ import annotations

from typing import Any

from registry.gate_checks import CheckOutcome, CheckStatus

from .models import Alert, Monitor


def drift_gate_check(context: Any) -> CheckOutcome:
    """`context` is the gate's GateCheckContext (registered_model, candidate, holder, alias, policy).
    The details name every active monitor of the model and link its open critical drift alerts."""
    model_name = context.registered_model.name
    monitors = list(Monitor.objects.filter(model_name=model_name, is_active=True).order_by("name"))
    if not monitors:
        return CheckOutcome("drift", CheckStatus.NOT_APPLICABLE, f"No active monitor watches {model_name}.")
    open_alerts = list(
        Alert.objects.filter(
            monitor__in=monitors,
            kind=Alert.Kind.WINDOW_DRIFT,
            severity=Alert.Severity.CRITICAL,
            status=Alert.Status.OPEN,
        ).order_by("-created_at")
    )
    by_monitor: dict[int, list[Alert]] = {}
    for alert in open_alerts:
        by_monitor.setdefault(alert.monitor_id, []).append(alert)
    details = {
        "monitors": [
            {
                "id": monitor.pk,
                "name": monitor.name,
                "model_ref": monitor.model_ref,
                "url": monitor.get_absolute_url(),
                "open_critical": len(alerts),
                "alerts": [{"id": a.pk, "title": a.title, "url": a.get_absolute_url()} for a in alerts[:5]],
            }
            for monitor in monitors
            for alerts in [by_monitor.get(monitor.pk, [])]
        ]
    }
    names = ", ".join(f"“{monitor.name}”" for monitor in monitors)
    if not open_alerts:
        return CheckOutcome(
            "drift", CheckStatus.PASSED, f"No open critical drift alert on {model_name}'s monitors ({names}).", details
        )
    drifting = ", ".join(f"“{m.name}” ({len(by_monitor[m.pk])})" for m in monitors if m.pk in by_monitor)
    return CheckOutcome(
        "drift",
        CheckStatus.FAILED,
        f"{len(open_alerts)} open critical drift alert(s) on {model_name}'s monitors: {drifting}; "
        f"latest: {open_alerts[0].title}. Acknowledge or resolve them first.",
        details,
    )


def gate_register() -> None:
    try:
        from registry.promotions import gate_check_register
    except ImportError:  # the promotion gate is not installed in this build
        return
    gate_check_register(name="drift", check=drift_gate_check)
