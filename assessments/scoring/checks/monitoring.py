"""Checks over the monitors: data arriving, alerts routed, schema mismatches handled, retraining."""

from assessments.evidence import SOURCE_MONITORING, Link, ProjectEvidence
from assessments.scoring.checks.base import MAX_LINKS, MISMATCH_MAX_OPEN, MONITOR_DATA_MAX_AGE, check, no_source
from assessments.scoring.results import CheckResult, Outcome


@check("monitor_receiving_data")
def monitor_receiving_data(evidence: ProjectEvidence) -> CheckResult:
    missing = no_source(evidence, SOURCE_MONITORING, "monitoring")
    if missing:
        return missing
    fresh_after = evidence.until - MONITOR_DATA_MAX_AGE
    good = [
        m
        for m in evidence.monitors
        if m.active and m.watches_serving_version and m.last_data_at and m.last_data_at >= fresh_after
    ]
    if good:
        return CheckResult(
            Outcome.MET,
            f"{len(good)} active monitor(s) on the serving version received data in the last 7 days.",
            tuple(Link(m.name, m.url) for m in good[:MAX_LINKS]),
        )
    if not evidence.monitors:
        return CheckResult(Outcome.NOT_MET, "The project has no monitor.")
    return CheckResult(
        Outcome.NOT_MET,
        "No active monitor on the serving version received data in the last 7 days.",
        tuple(Link(m.name, m.url) for m in evidence.monitors[:MAX_LINKS]),
    )


@check("alerts_routed")
def alerts_routed(evidence: ProjectEvidence) -> CheckResult:
    """Judged on the monitors that watch what serves: a colleague's test monitor on another version
    says nothing about whether production's alerts reach anyone."""
    missing = no_source(evidence, SOURCE_MONITORING, "monitoring")
    if missing:
        return missing
    active = [m for m in evidence.monitors if m.active]
    serving = [m for m in active if m.watches_serving_version]
    others = len(active) - len(serving)
    not_judged = f" {others} other active monitor(s), not on the serving version, not judged." if others else ""
    if not serving:
        return CheckResult(
            Outcome.NOT_MET, "No active monitor watches the serving version, so no alert can reach anyone." + not_judged
        )
    silent = [m for m in serving if m.channel_count == 0]
    if silent:
        return CheckResult(
            Outcome.NOT_MET,
            f"{len(silent)} of {len(serving)} active monitors on the serving version send their alerts nowhere."
            + not_judged,
            tuple(Link(m.name, m.url) for m in silent[:MAX_LINKS]),
        )
    return CheckResult(
        Outcome.MET,
        f"All {len(serving)} active monitors on the serving version have a notification channel." + not_judged,
        tuple(Link(m.name, m.url) for m in serving[:MAX_LINKS]),
    )


@check("schema_mismatches_handled")
def schema_mismatches_handled(evidence: ProjectEvidence) -> CheckResult:
    missing = no_source(evidence, SOURCE_MONITORING, "monitoring")
    if missing:
        return missing
    if not [m for m in evidence.monitors if m.active]:
        # Nothing watches production data, so "no mismatch" would be no evidence at all.
        return CheckResult(Outcome.NOT_MET, "No active monitor checks production data against the signature.")
    late = [
        m
        for m in evidence.schema_mismatches
        if (m.resolved_at or evidence.until) - m.opened_at > MISMATCH_MAX_OPEN
        and (m.resolved_at is None or m.resolved_at >= evidence.since)
    ]
    if late:
        return CheckResult(
            Outcome.NOT_MET,
            f"{len(late)} schema mismatch(es) stayed open more than 7 days in the window.",
            tuple(Link(f"mismatch opened {m.opened_at:%Y-%m-%d}", m.url) for m in late[:MAX_LINKS]),
        )
    return CheckResult(
        Outcome.MET,
        f"{len(evidence.schema_mismatches)} schema mismatch(es) seen, none open more than 7 days.",
        tuple(Link(f"mismatch opened {m.opened_at:%Y-%m-%d}", m.url) for m in evidence.schema_mismatches[:MAX_LINKS]),
    )


@check("retrain_from_drift")
def retrain_from_drift(evidence: ProjectEvidence) -> CheckResult:
    missing = no_source(evidence, SOURCE_MONITORING, "monitoring")
    if missing:
        return missing
    from_drift = [r for r in evidence.retrains if r.reason == "drift" and r.at >= evidence.since]
    if from_drift:
        return CheckResult(
            Outcome.MET,
            f"{len(from_drift)} retraining(s) triggered by drift in the window.",
            tuple(Link(f"retrain {r.at:%Y-%m-%d}", r.url) for r in from_drift[:MAX_LINKS]),
        )
    return CheckResult(
        Outcome.NOT_MET,
        f"No retraining triggered by drift in the window ({len(evidence.retrains)} trigger(s) of other kinds).",
    )
