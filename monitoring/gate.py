"""The promotion gate's drift check, registered with the gate when both apps are installed.

It passes when no monitor of the model has an open critical drift alert: promoting while the data
the model sees has moved away from its training data is exactly what the gate should stop."""

from __future__ import annotations

from typing import Any

from registry.gate_checks import CheckOutcome, CheckStatus

from .models import Alert, Monitor


def drift_gate_check(context: Any) -> CheckOutcome:
    """`context` is the gate's GateCheckContext (registered_model, candidate, holder, alias, policy)."""
    model_name = context.registered_model.name
    open_alerts = list(
        Alert.objects.filter(
            monitor__model_name=model_name,
            monitor__is_active=True,
            kind=Alert.Kind.WINDOW_DRIFT,
            severity=Alert.Severity.CRITICAL,
            status=Alert.Status.OPEN,
        )
        .select_related("monitor")
        .order_by("-created_at")[:5]
    )
    if not open_alerts:
        monitored = Monitor.objects.filter(model_name=model_name).exists()
        if not monitored:
            return CheckOutcome("drift", CheckStatus.NOT_APPLICABLE, f"No monitor watches {model_name}.")
        return CheckOutcome("drift", CheckStatus.PASSED, f"No open critical drift alert on {model_name}'s monitors.")
    return CheckOutcome(
        "drift",
        CheckStatus.FAILED,
        f"{len(open_alerts)} open critical drift alert(s) on {model_name}: {open_alerts[0].title}. "
        "Acknowledge or resolve them first.",
        {"alerts": [{"id": a.pk, "title": a.title, "url": a.get_absolute_url()} for a in open_alerts]},
    )


def gate_register() -> None:
    try:
        from registry.promotions import gate_check_register
    except ImportError:  # the promotion gate is not installed in this build
        return
    gate_check_register(name="drift", check=drift_gate_check)
