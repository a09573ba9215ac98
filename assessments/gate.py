"""The promotion gate's maturity check: a policy may require the model's project to be at a
minimum maturity level before a version is promoted. AssessmentsConfig.ready() registers it with the gate."""

from assessments import selectors
from registry.promotions.checks import CheckOutcome, CheckStatus
from registry.promotions.checks_run import GateCheckContext

CHECK_NAME = "maturity"


def maturity_outcome(
    *, project_name: str | None, level: int | None, required: int | None, blocking: list[str]
) -> CheckOutcome:
    """Pure: the verdict from the project's level and the policy's minimum."""
    if required is None:
        return CheckOutcome(CHECK_NAME, CheckStatus.NOT_APPLICABLE, "The policy sets no minimum maturity level.")
    if project_name is None or level is None:
        return CheckOutcome(
            CHECK_NAME, CheckStatus.FAILED, "The model belongs to no project, so its maturity cannot be shown."
        )
    details = {"project": project_name, "level": level, "required": required, "blocking": blocking}
    if level >= required:
        return CheckOutcome(
            CHECK_NAME,
            CheckStatus.PASSED,
            f"{project_name} is at maturity level {level} (policy: {required}).",
            details,
        )
    return CheckOutcome(
        CHECK_NAME,
        CheckStatus.FAILED,
        f"{project_name} is at maturity level {level}; the policy needs {required}. "
        f"Next: {', '.join(blocking[:5]) or 'see the scorecard'}.",
        details,
    )


def maturity_gate_check(context: GateCheckContext) -> CheckOutcome:
    """The gate's GateCheck (registry/promotions/checks_run.py): reads the project's scorecard as it is now."""
    required = context.policy.maturity_min_level
    project = context.registered_model.project
    if required is None or project is None:
        return maturity_outcome(
            project_name=None if project is None else project.name, level=None, required=required, blocking=[]
        )
    card = selectors.scorecard_compute(project=project)
    return maturity_outcome(
        project_name=project.name, level=card.level, required=required, blocking=[g.spec.code for g in card.blocking]
    )
