"""The promotion gate's checks that monitoring answers, registered with the gate when monitoring loads
(monitoring/apps.py).

drift: passes when no monitor of the model has an open critical drift alert: promoting while the
data the model sees has moved away from its training data is exactly what the gate should stop.
shadow: the candidate and the current holder replayed on the rows production sent (shadow/evaluations.py): the
candidate must accept production's inputs and agree with the holder within the policy's limits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from monitoring.models import Alert, Monitor, ShadowEvaluation
from registry.promotions.checks import CheckOutcome, CheckStatus
from registry.promotions.checks_run import GateCheckContext, gate_check_register


def drift_gate_check(context: GateCheckContext) -> CheckOutcome:
    """The details name every active monitor of the model and link its open critical drift alerts."""
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


def _percent(share: float) -> str:
    return f"{share * 100:.1f} %"


def _sample_words(sample: dict[str, Any]) -> str:
    return (
        f"{sample.get('rows', 0):,} rows from {sample.get('batches', 0)} batches over {sample.get('days', 0)} "
        f"day(s) ({sample.get('from')} to {sample.get('to')}) of “{sample.get('monitor_name', '')}”"
    )


def shadow_outcome(
    *,
    results: dict[str, Any],
    sample: dict[str, Any],
    holder_version: int | None,
    alias: str,
    max_rejected_share: float,
    max_disagreement: float,
    metric_tolerance: float,
    details: dict[str, Any],
) -> CheckOutcome:
    """Pure: the verdict of a finished replay under the policy's limits."""
    candidate, holder = results["candidate"], results.get("holder")
    on = _sample_words(sample)
    if candidate["error"] and candidate.get("environment_failed"):  # the portal's side may be at fault
        return CheckOutcome(
            "shadow",
            CheckStatus.CANNOT_TELL,
            f"Cannot tell: the candidate's environment could not be built: {candidate['error']}",
            details,
        )
    if candidate["error"]:
        return CheckOutcome("shadow", CheckStatus.FAILED, f"The candidate could not run: {candidate['error']}", details)
    rows = candidate["accepted_rows"] + candidate["rejected_rows"]
    rejected_share = candidate["rejected_rows"] / rows if rows else 0.0
    if candidate["rejected_rows"] and rejected_share > max_rejected_share:
        first = candidate["rejections"][0] if candidate["rejections"] else {}
        first = first.get("reason") or first.get("error", "")
        return CheckOutcome(
            "shadow",
            CheckStatus.FAILED,
            f"The candidate rejects {candidate['rejected_batches']} of {sample.get('batches', 0)} production "
            f"batches ({_percent(rejected_share)} of {rows:,} rows; the policy allows "
            f"{_percent(max_rejected_share)}): {first}",
            details,
        )
    accepted = "rejects none" if not candidate["rejected_rows"] else f"rejects {_percent(rejected_share)}"
    if holder_version is None:
        return CheckOutcome(
            "shadow",
            CheckStatus.PASSED,
            f"No version holds @{alias} to compare with; the candidate {accepted} of {on}.",
            details,
        )
    if holder and holder["error"]:
        return CheckOutcome(
            "shadow",
            CheckStatus.CANNOT_TELL,
            f"Cannot tell how the candidate compares: the current version v{holder_version} could not run "
            f"here: {holder['error']}",
            details,
        )
    if not results.get("rows_compared"):
        return CheckOutcome(
            "shadow", CheckStatus.CANNOT_TELL, "Cannot tell: no row was predicted by both versions.", details
        )
    metric = results.get("metric")
    if results["kind"] == "classes":
        share = results["agreement"]["share"]
        compared = f"agrees with v{holder_version} on {_percent(1 - share)} of {on}"
        if share > max_disagreement:
            return CheckOutcome(
                "shadow",
                CheckStatus.FAILED,
                f"The candidate predicts another class than v{holder_version} on {_percent(share)} of {on} "
                f"(the policy allows {_percent(max_disagreement)}).",
                details,
            )
    else:
        drift = results.get("prediction_drift") or {}
        diffs = results["differences"]
        compared = (
            f"differs from v{holder_version} by {diffs['median_abs']:.4g} (median) / {diffs['p95_abs']:.4g} (p95) "
            f"on {on}"
        )
        if drift.get("drifted"):
            return CheckOutcome(
                "shadow",
                CheckStatus.FAILED,
                f"The candidate's predictions drift from v{holder_version}'s on {on}: {drift.get('why', '')}",
                details,
            )
    gating = metric and metric.get("from_policy")
    if gating and metric["difference"] * (1 if metric["direction"] == "higher" else -1) < -metric_tolerance:
        return CheckOutcome(
            "shadow",
            CheckStatus.FAILED,
            f"On production rows the candidate's {metric['metric']} is {metric['candidate']:.4g} against "
            f"{metric['holder']:.4g} for v{holder_version}: worse by more than the tolerance {metric_tolerance:.4g}.",
            details,
        )
    return CheckOutcome("shadow", CheckStatus.PASSED, f"The candidate {compared}; it {accepted}.", details)


def shadow_gate_check(context: GateCheckContext) -> CheckOutcome:
    """GateCheck: reads the latest replay of this candidate against the alias's holder now."""
    from monitoring.shadow.evaluations import shadow_evaluation_latest, shadow_is_fresh, shadow_monitor

    model_name = context.registered_model.name
    holder_version = context.holder.version if context.holder is not None else None
    monitor = shadow_monitor(model_name=model_name, alias=context.alias)
    if monitor is None:
        return CheckOutcome(
            "shadow",
            CheckStatus.NOT_APPLICABLE,
            f"Not applicable: no production traffic recorded for {model_name} in the last {settings.SHADOW_DAYS} "
            "days (no active monitor of it received batches).",
        )
    evaluation = shadow_evaluation_latest(
        model_name=model_name, candidate_version=context.candidate.version, holder_version=holder_version
    )
    # What the review page's "Run again" posts: the comparison, named as the request names it.
    run_again = {
        "run_url": reverse("monitoring:shadow_run"),
        "run_fields": {"model": model_name, "version": context.candidate.version, "alias": context.alias},
    }
    if evaluation is None:
        return CheckOutcome(
            "shadow",
            CheckStatus.CANNOT_TELL,
            f"Cannot tell yet: v{context.candidate.version} has not been replayed against "
            + (f"v{holder_version}" if holder_version else "production traffic")
            + f" on “{monitor.name}”'s traffic; it is queued when a request is made, or run it now.",
            {"monitor": monitor.name, **run_again},
        )
    results = evaluation.results or {}
    details = {
        **run_again,
        "evaluation": evaluation.pk,
        "url": evaluation.get_absolute_url(),
        "status": evaluation.status,
        "sample": evaluation.sample,
        "finished_at": evaluation.finished_at.isoformat() if evaluation.finished_at else None,
        "ms_per_1000_rows": {
            role: (results.get(role) or {}).get("ms_per_1000_rows") for role in ("candidate", "holder")
        },
    }
    if evaluation.is_open:
        return CheckOutcome(
            "shadow",
            CheckStatus.CANNOT_TELL,
            f"Cannot tell yet: the replay on “{evaluation.monitor.name}”'s traffic is "
            f"{evaluation.get_status_display().lower()} "
            f"(since {_ago(evaluation.started_at or evaluation.created_at)}).",
            details,
        )
    if evaluation.status == ShadowEvaluation.Status.FAILED:
        return CheckOutcome(
            "shadow", CheckStatus.CANNOT_TELL, f"Cannot tell: the replay could not run: {evaluation.error}", details
        )
    if not shadow_is_fresh(evaluation):
        return CheckOutcome(
            "shadow",
            CheckStatus.CANNOT_TELL,
            f"Cannot tell: the last replay finished {_ago(evaluation.finished_at)}, more than "
            f"{settings.SHADOW_MAX_AGE_HOURS:g} h ago; run it again on today's traffic.",
            details,
        )
    policy = context.policy
    return shadow_outcome(
        results=evaluation.results,
        sample=evaluation.sample,
        holder_version=holder_version,
        alias=context.alias,
        max_rejected_share=policy.shadow_max_rejected_share,
        max_disagreement=policy.shadow_max_disagreement,
        metric_tolerance=policy.metric_tolerance,
        details=details,
    )


def _ago(moment: datetime | None) -> str:
    seconds = int((timezone.now() - moment).total_seconds()) if moment else 0
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def gate_register() -> None:
    gate_check_register(name="drift", check=drift_gate_check)
    gate_check_register(name="shadow", check=shadow_gate_check)
