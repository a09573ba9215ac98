"""Checks over the promotion gate: serving aliases moved through it, policies that compare metrics."""

from assessments.evidence import SOURCE_GATE, Link, ProjectEvidence
from assessments.scoring.checks.base import MAX_LINKS, check, no_source
from assessments.scoring.results import CheckResult, Outcome


@check("alias_via_gate")
def alias_via_gate(evidence: ProjectEvidence) -> CheckResult:
    missing = no_source(evidence, SOURCE_GATE, "the promotion gate")
    if missing:
        return missing
    serving_models = {v.model for v in evidence.serving_versions()}
    moves = sorted(
        (m for m in evidence.alias_moves if m.alias in evidence.serving_aliases and m.model in serving_models),
        key=lambda m: m.at,
    )
    if not serving_models:
        return CheckResult(Outcome.NOT_MET, "No serving alias to check.")
    if not moves:
        return CheckResult(Outcome.NOT_MET, "The serving alias was never moved through the portal's gate.")
    bypasses = [m for m in moves if not m.via_gate and m.at >= evidence.since]
    links = tuple(Link(f"{m.model}@{m.alias} {m.at:%Y-%m-%d}", m.url) for m in moves[-MAX_LINKS:] if m.url)
    last_by_model = {m.model: m for m in moves}
    if bypasses or not all(m.via_gate for m in last_by_model.values()):
        return CheckResult(
            Outcome.NOT_MET, f"The serving alias was set outside the gate ({len(bypasses)} bypass(es)).", links
        )
    return CheckResult(Outcome.MET, "The serving alias was last moved by an approved promotion.", links)


@check("promotion_metric_check")
def promotion_metric_check(evidence: ProjectEvidence) -> CheckResult:
    missing = no_source(evidence, SOURCE_GATE, "the promotion gate")
    if missing:
        return missing
    serving_models = {v.model for v in evidence.serving_versions()} or {v.model for v in evidence.versions}
    policies = {p.model: p for p in evidence.gate_policies if p.model in serving_models}
    if not serving_models:
        return CheckResult(Outcome.NOT_MET, "No registered model to hold a gate policy.")
    lacking = sorted(m for m in serving_models if m not in policies or not policies[m].requires_metric_check)
    links = tuple(Link(f"gate policy of {p.model}", p.url) for p in policies.values() if p.url)
    if lacking:
        return CheckResult(Outcome.NOT_MET, f"No metric check in the gate policy of {', '.join(lacking)}.", links)
    return CheckResult(Outcome.MET, "Every serving model's gate policy requires a metric check.", links)
