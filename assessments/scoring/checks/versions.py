"""Checks over the registered model versions: the registry in use, signatures, lineage, serving and
rollback."""

from collections.abc import Callable

from assessments.evidence import SOURCE_MIRROR, ProjectEvidence, VersionFact
from assessments.scoring.checks.base import check, no_source, version_links
from assessments.scoring.results import CheckResult, Outcome


@check("registry_in_use")
def registry_in_use(evidence: ProjectEvidence) -> CheckResult:
    missing = no_source(evidence, SOURCE_MIRROR, "the MLflow mirror")
    if missing:
        return missing
    if not evidence.versions:
        return CheckResult(Outcome.NOT_MET, f"{evidence.registered_model_count} registered model(s), no live version.")
    models = {v.model for v in evidence.versions}
    return CheckResult(
        Outcome.MET,
        f"{len(models)} registered model(s) with {len(evidence.versions)} live version(s).",
        version_links(evidence.versions),
    )


def _every_live_version(
    evidence: ProjectEvidence, *, holds: Callable[[VersionFact], bool], failing: str, passing: str
) -> CheckResult:
    """Met when every live version passes `holds`; otherwise names the versions that do not."""
    missing = no_source(evidence, SOURCE_MIRROR, "the MLflow mirror")
    if missing:
        return missing
    if not evidence.versions:
        return CheckResult(Outcome.NOT_MET, "No registered model version to check.")
    offenders = [v for v in evidence.versions if not holds(v)]
    if offenders:
        return CheckResult(
            Outcome.NOT_MET,
            f"{len(offenders)} of {len(evidence.versions)} live versions {failing}.",
            version_links(offenders),
        )
    return CheckResult(
        Outcome.MET, f"All {len(evidence.versions)} live versions {passing}.", version_links(evidence.versions)
    )


@check("versions_signature")
def versions_signature(evidence: ProjectEvidence) -> CheckResult:
    return _every_live_version(
        evidence,
        holds=lambda version: version.has_input_signature,
        failing="have no input signature",
        passing="declare inputs",
    )


@check("versions_linked_to_runs")
def versions_linked_to_runs(evidence: ProjectEvidence) -> CheckResult:
    return _every_live_version(
        evidence,
        holds=lambda version: version.has_run,
        failing="do not point to a known run",
        passing="link to their run",
    )


@check("serving_alias")
def serving_alias(evidence: ProjectEvidence) -> CheckResult:
    missing = no_source(evidence, SOURCE_MIRROR, "the MLflow mirror")
    if missing:
        return missing
    serving = evidence.serving_versions()
    names = "/".join(evidence.serving_aliases)
    if not serving:
        return CheckResult(Outcome.NOT_MET, f"No live version carries a serving alias ({names}).")
    return CheckResult(
        Outcome.MET,
        "Serving: " + ", ".join(f"{v.model}@{'/'.join(v.aliases)} → v{v.version}" for v in serving) + ".",
        version_links(serving),
    )


@check("rollback_ready")
def rollback_ready(evidence: ProjectEvidence) -> CheckResult:
    missing = no_source(evidence, SOURCE_MIRROR, "the MLflow mirror")
    if missing:
        return missing
    serving = evidence.serving_versions()
    if not serving:
        return CheckResult(Outcome.NOT_MET, "No serving version, so nothing to roll back from.")
    ready = [
        (s, v)
        for s in serving
        for v in evidence.versions
        if v.model == s.model and v.version < s.version and v.has_input_signature
    ]
    if not {s.model for s, _ in ready} >= {s.model for s in serving}:
        return CheckResult(
            Outcome.NOT_MET, "No earlier live version with a signature to roll back to.", version_links(serving)
        )
    previous: dict[str, VersionFact] = {}
    for s, v in ready:
        if s.model not in previous or v.version > previous[s.model].version:
            previous[s.model] = v
    return CheckResult(
        Outcome.MET,
        "Rollback target(s): " + ", ".join(f"{v.model} v{v.version}" for v in previous.values()) + ".",
        version_links(previous.values()),
    )
