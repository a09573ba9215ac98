"""Requesting a promotion (or a rollback) and withdrawing a request."""

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from registry.access import (
    member_may,
    model_named,
)
from registry.audit import audit_record
from registry.errors import Conflict, PermissionDenied, PortalError
from registry.promotions.auditing import audit_data, audit_transition, promotion_label
from registry.promotions.checks_run import GateCheckContext, alias_holder, checks_run
from registry.promotions.models import (
    PromotionRequest,
    PromotionState,
    RegisteredModel,
)
from registry.promotions.notifications import reviewers_notify
from registry.promotions.policies import policy_for
from registry.promotions.rules import REQUEST_PERMISSION, cancel_refusal, promotions_requestable_by
from registry.signals import promotion_requested

logger = logging.getLogger(__name__)


@transaction.atomic
def promotion_request_create(
    *,
    requester: AbstractBaseUser,
    model_name: str,
    version: int,
    target_alias: str,
    justification: str,
    is_rollback: bool = False,
    request: HttpRequest | None = None,
) -> PromotionRequest:
    if not promotions_requestable_by(user=requester):
        raise PermissionDenied("Your role cannot request promotions.")
    registered_model = model_named(user=requester, name=model_name)
    if registered_model is None:
        raise PortalError(f"No registered model named {model_name!r}.", fields={"model": ["Unknown model."]})
    if not member_may(user=requester, project=registered_model.project, permission=REQUEST_PERMISSION):
        raise PermissionDenied(f"Only members of {registered_model.project} may request promotions of its models.")
    candidate = registered_model.versions.filter(version=version, deleted_at__isnull=True).select_related("run").first()
    if candidate is None:
        raise PortalError(f"{model_name} has no version {version}.", fields={"version": ["Unknown version."]})
    policy = policy_for(registered_model=registered_model)
    target_alias = target_alias.strip()
    if target_alias not in policy.governed_aliases:
        raise PortalError(
            f"@{target_alias} is not governed by the gate for {model_name} "
            f"(governed: {', '.join(policy.governed_aliases)}).",
            fields={"target_alias": ["Not a governed alias."]},
        )
    if not justification.strip():
        raise PortalError("Say why this version should be promoted.", fields={"justification": ["Required."]})
    holder = alias_holder(registered_model, target_alias)
    if holder is not None and holder.version == candidate.version:
        raise Conflict(f"Version {version} already holds @{target_alias}.")
    outcomes = checks_run(
        context=GateCheckContext(registered_model, candidate, holder, target_alias, policy),
    )
    approvals = 1 if is_rollback and policy.rollback_single_approval else policy.approvals_required
    try:
        with transaction.atomic():
            promotion = PromotionRequest.objects.create(
                registered_model=registered_model,
                model_version=candidate,
                target_alias=target_alias,
                version=candidate.version,
                run_id=candidate.run_id,
                source=candidate.source,
                signature_inputs=candidate.signature_inputs,
                holder_version=holder.version if holder else None,
                is_rollback=is_rollback,
                requested_by=requester,
                justification=justification.strip(),
                checks=[outcome.as_dict() for outcome in outcomes],
                checks_passed=not any(outcome.blocks for outcome in outcomes),
                approvals_required=approvals,
            )
    except IntegrityError as exc:
        raise Conflict(f"Version {version} of {model_name} already has an open request for @{target_alias}.") from exc
    audit_record(
        action="promotion.requested",
        actor=requester,
        obj=promotion,
        project=registered_model.project,
        summary=f"{requester} requested {registered_model.name} v{version} → @{target_alias}"
        + (" (rollback)" if is_rollback else ""),
        after={"state": promotion.state, "checks_passed": promotion.checks_passed, "holder": promotion.holder_version},
        data={**audit_data(promotion), "checks": promotion.checks},
        request=request,
    )
    transaction.on_commit(lambda: reviewers_notify(promotion.pk))
    transaction.on_commit(lambda: _announce_request(promotion))
    return promotion


def _announce_request(promotion: PromotionRequest) -> None:
    # A listener's failure (the broker away) must not turn a committed request into an error page.
    for receiver, outcome in promotion_requested.send_robust(sender=PromotionRequest, promotion=promotion):
        if isinstance(outcome, Exception):
            logger.error("promotion_requested receiver %s failed: %s", receiver, outcome, exc_info=outcome)


def rollback_target(*, registered_model: RegisteredModel, alias: str) -> int | None:
    """The version that held the alias before the current holder, from the gate's own history."""
    current = (registered_model.aliases or {}).get(alias)
    last = (
        PromotionRequest.objects.filter(
            registered_model=registered_model, target_alias=alias, state=PromotionState.PROMOTED
        )
        .exclude(holder_version__isnull=True)
        .exclude(holder_version=current)
        .order_by("-promoted_at")
        .first()
    )
    return last.holder_version if last else None


def promotion_rollback_request(
    *, requester: AbstractBaseUser, model_name: str, alias: str, justification: str, request: HttpRequest | None = None
) -> PromotionRequest:
    registered_model = model_named(user=requester, name=model_name)
    target = rollback_target(registered_model=registered_model, alias=alias) if registered_model else None
    if target is None:
        raise PortalError(f"No earlier holder of @{alias} to roll back to.")
    return promotion_request_create(
        requester=requester,
        model_name=model_name,
        version=target,
        target_alias=alias,
        justification=justification,
        is_rollback=True,
        request=request,
    )


def promotion_locked(request_id: int) -> PromotionRequest:
    return (
        PromotionRequest.objects.select_for_update(of=("self",))
        .select_related("registered_model", "model_version", "requested_by")
        .get(pk=request_id)
    )


@transaction.atomic
def promotion_cancel(
    *, request_id: int, user: AbstractBaseUser, request: HttpRequest | None = None
) -> PromotionRequest:
    promotion = promotion_locked(request_id)
    refusal = cancel_refusal(promotion=promotion, user=user)
    if refusal is not None:
        raise refusal
    promotion.state, promotion.decided_at = PromotionState.CANCELLED, timezone.now()
    promotion.save(update_fields=["state", "decided_at"])
    audit_transition(
        promotion,
        action="promotion.cancelled",
        actor=user,
        summary=f"{user} cancelled the request for {promotion_label(promotion)}",
        before_state=PromotionState.PENDING,
        request=request,
    )
    return promotion
