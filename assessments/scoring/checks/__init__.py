"""The automatic checks, each registered under the key a criterion names (Criterion.check_key), one
module per source of evidence: runs.py and versions.py (the MLflow mirror), monitoring.py (the
monitors), gate.py (the promotion gate). A new check goes in the module of its source, decorated
with `@check("key")`; shared thresholds and helpers are in base.py."""

from assessments.evidence import ProjectEvidence
from assessments.scoring.checks import gate, monitoring, runs, versions  # noqa: F401 - their @check registrations
from assessments.scoring.checks.base import CHECKS
from assessments.scoring.results import CheckResult, Outcome

__all__ = ["CHECKS", "run_check"]


def run_check(check_key: str, evidence: ProjectEvidence) -> CheckResult:
    fn = CHECKS.get(check_key)
    if fn is None:
        return CheckResult(Outcome.NO_EVIDENCE, f"No evidence yet: the portal has no check named “{check_key}”.")
    return fn(evidence)
