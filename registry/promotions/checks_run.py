"""The gate's checks for a request: the built-in ones (metric, signature) and those other apps
register with `gate_check_register` from their AppConfig.ready() (monitoring: drift, shadow;
assessments: maturity). The gate never imports them; until one registers, its check reports
"not configured"."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from registry.models import ModelVersion, Run
from registry.promotions.checks import (
    CheckOutcome,
    CheckStatus,
    MetricDirection,
    metric_check,
    signature_check,
    status_blocks,
)
from registry.promotions.models import (
    PromotionPolicy,
    PromotionRequest,
    RegisteredModel,
)
from registry.promotions.policies import policy_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateCheckContext:
    registered_model: RegisteredModel
    candidate: ModelVersion
    holder: ModelVersion | None
    alias: str
    policy: PromotionPolicy


GateCheck = Callable[[GateCheckContext], CheckOutcome]

GATE_CHECKS: dict[str, GateCheck] = {}
# Checks the policy can ask for that other apps answer; until one registers, they report "not configured".
OPTIONAL_CHECKS = {
    "drift": "No monitoring app has registered a drift check yet.",
    "maturity": "No assessments app has registered a maturity check yet.",
    "shadow": "No monitoring app has registered a shadow evaluation yet.",
}


def gate_check_register(*, name: str, check: GateCheck) -> None:
    """Called by another app when it loads, e.g. monitoring registers "drift"."""
    GATE_CHECKS[name] = check


def _wanted(name: str, policy: PromotionPolicy) -> bool:
    if name == "drift":
        return policy.drift_check
    if name == "maturity":
        return policy.maturity_min_level is not None
    if name == "shadow":
        return policy.shadow_check
    return True


def _run_metrics(version: ModelVersion | None) -> dict[str, float] | None:
    if version is None:
        return None
    run = version.run or (Run.objects.filter(run_id=version.run_id).first() if version.run_id else None)
    return dict(run.metrics) if run is not None else {}


def checks_run(*, context: GateCheckContext) -> list[CheckOutcome]:
    policy, candidate, holder = context.policy, context.candidate, context.holder
    outcomes: list[CheckOutcome] = []
    if policy.metric_name:
        outcomes.append(
            metric_check(
                metric=policy.metric_name,
                direction=MetricDirection(policy.metric_direction),
                tolerance=policy.metric_tolerance,
                candidate_metrics=_run_metrics(candidate) or {},
                holder_metrics=_run_metrics(holder),
            )
        )
    if policy.signature_check:
        outcomes.append(
            signature_check(
                candidate_inputs=candidate.signature_inputs,
                holder_inputs=holder.signature_inputs if holder is not None else None,
            )
        )
    names = [name for name in OPTIONAL_CHECKS if _wanted(name, policy)]
    names += [name for name in GATE_CHECKS if name not in OPTIONAL_CHECKS]
    for name in names:
        check = GATE_CHECKS.get(name)
        if check is None:
            outcomes.append(CheckOutcome(name, CheckStatus.NOT_CONFIGURED, OPTIONAL_CHECKS[name]))
            continue
        try:
            outcomes.append(check(context))
        except Exception as exc:  # a broken check must block, not crash the request
            logger.exception("Gate check %s failed", name)
            outcomes.append(CheckOutcome(name, CheckStatus.FAILED, f"The check could not run: {exc}"))
    return outcomes


def checks_now(*, promotion: PromotionRequest, policy: PromotionPolicy | None = None) -> list[dict[str, Any]]:
    """The policy's checks on the facts of this moment (the version, the alias holder, the monitors'
    alerts, the project's level as they are now), as stored and shown: CheckOutcome.as_dict()."""
    registered_model = promotion.registered_model
    context = GateCheckContext(
        registered_model,
        promotion.model_version,
        alias_holder(registered_model, promotion.target_alias),
        promotion.target_alias,
        policy or policy_for(registered_model=registered_model),
    )
    return [outcome.as_dict() for outcome in checks_run(context=context)]


def checks_failing(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [check for check in checks if status_blocks(check["status"])]


def alias_holder(registered_model: RegisteredModel, alias: str) -> ModelVersion | None:
    number = (registered_model.aliases or {}).get(alias)
    if number is None:
        return None
    return registered_model.versions.filter(version=int(number)).select_related("run").first()
