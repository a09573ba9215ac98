"""Reviewers' work: approve or reject a request (on the checks as they are at that moment), retry a
failed promotion, resolve a gate alert."""

import logging
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from registry.access import (
    model_visible,
)
from registry.audit import audit_record
from registry.errors import Conflict, PermissionDenied, PortalError
from registry.promotions import outbox
from registry.promotions.auditing import audit_data, audit_transition, promotion_label
from registry.promotions.checks import (
    checks_compare,
)
from registry.promotions.checks_run import checks_failing, checks_now
from registry.promotions.models import (
    GateAlert,
    PromotionDecision,
    PromotionOutbox,
    PromotionRequest,
    PromotionState,
)
from registry.promotions.notifications import requester_notify
from registry.promotions.policies import policy_for
from registry.promotions.requests import promotion_locked
from registry.promotions.rules import (
    ChecksFailed,
    decision_refusal,
    gate_alerts_resolvable_by,
    retry_refusal,
)

logger = logging.getLogger(__name__)


def _ensure_decidable(promotion: PromotionRequest, reviewer: AbstractBaseUser, expected_version: int | None) -> None:
    refusal = decision_refusal(promotion=promotion, user=reviewer, expected_version=expected_version)
    if refusal is not None:
        raise refusal


def _checks_audit(promotion: PromotionRequest, checks: list[dict[str, Any]]) -> dict[str, Any]:
    """The checks as they were at a decision, and what changed since the request, for the audit."""
    changes = checks_compare(before=promotion.checks, after=checks)
    return {"checks_at_decision": checks, "checks_changed_since_request": [change.__dict__ for change in changes]}


def _decision_create(promotion: PromotionRequest, **fields: Any) -> PromotionDecision:
    try:
        with transaction.atomic():
            return PromotionDecision.objects.create(request=promotion, requester_id=promotion.requested_by_id, **fields)
    except IntegrityError as exc:
        raise Conflict("You already decided this request.") from exc


@transaction.atomic
def promotion_approve(
    *,
    request_id: int,
    reviewer: AbstractBaseUser,
    comment: str = "",
    override_reason: str = "",
    expected_version: int | None = None,
    request: HttpRequest | None = None,
) -> PromotionRequest:
    promotion = promotion_locked(request_id)
    _ensure_decidable(promotion, reviewer, expected_version)
    override_reason = override_reason.strip()
    # The request's checks are a snapshot of when it was made; the reviewer decides on these.
    policy = policy_for(registered_model=promotion.registered_model)
    checks = checks_now(promotion=promotion, policy=policy)
    failing = checks_failing(checks)
    if failing:
        listed = "; ".join(f"{check['check']}: {check['summary']}" for check in failing)
        if not policy.allow_override:
            raise ChecksFailed(
                f"Automatic checks fail now ({listed}) and this model's policy does not allow an override."
            )
        if not override_reason:
            raise ChecksFailed(
                f"Automatic checks fail now ({listed}): approving needs a written override reason.",
                fields={"override_reason": ["Required when checks fail."]},
            )
    elif override_reason:
        override_reason = ""  # nothing to override
    _decision_create(
        promotion,
        reviewer=reviewer,
        verdict=PromotionDecision.Verdict.APPROVE,
        comment=comment,
        override_reason=override_reason,
        checks=checks,
        checks_passed=not failing,
    )
    before = {"state": promotion.state}
    approvals = promotion.decisions.filter(verdict=PromotionDecision.Verdict.APPROVE).count()
    if override_reason:
        promotion.override_reason = override_reason
    if approvals >= promotion.approvals_required:
        promotion.state = PromotionState.APPROVED
        promotion.decided_at = timezone.now()
        PromotionOutbox.objects.create(request=promotion)
    promotion.save(update_fields=["state", "decided_at", "override_reason"])
    audit_record(
        action="promotion.approved" if promotion.state == PromotionState.APPROVED else "promotion.approval_added",
        actor=reviewer,
        obj=promotion,
        project=promotion.registered_model.project,
        summary=f"{reviewer} approved {promotion.registered_model.name} v{promotion.version} → "
        f"@{promotion.target_alias} ({approvals}/{promotion.approvals_required})"
        + (" OVERRIDING failed checks" if override_reason else ""),
        before=before,
        after={"state": promotion.state, "approvals": approvals},
        data={
            **audit_data(promotion),
            "comment": comment,
            "override_reason": override_reason,
            **_checks_audit(promotion, checks),
        },
        request=request,
    )
    if promotion.state == PromotionState.APPROVED:
        transaction.on_commit(lambda: outbox.promotion_dispatch(promotion.pk))
        transaction.on_commit(lambda: requester_notify(promotion.pk))
    return promotion


@transaction.atomic
def promotion_reject(
    *,
    request_id: int,
    reviewer: AbstractBaseUser,
    comment: str,
    expected_version: int | None = None,
    request: HttpRequest | None = None,
) -> PromotionRequest:
    promotion = promotion_locked(request_id)
    if not comment.strip():
        raise PortalError("Say why you reject it.", fields={"comment": ["Required when rejecting."]})
    _ensure_decidable(promotion, reviewer, expected_version)
    checks = checks_now(promotion=promotion)
    _decision_create(
        promotion,
        reviewer=reviewer,
        verdict=PromotionDecision.Verdict.REJECT,
        comment=comment,
        checks=checks,
        checks_passed=not checks_failing(checks),
    )
    promotion.state, promotion.decided_at, promotion.reason = PromotionState.REJECTED, timezone.now(), comment
    promotion.save(update_fields=["state", "decided_at", "reason"])
    audit_transition(
        promotion,
        action="promotion.rejected",
        actor=reviewer,
        summary=f"{reviewer} rejected {promotion_label(promotion)}",
        before_state=PromotionState.PENDING,
        data={"comment": comment, **_checks_audit(promotion, checks)},
        request=request,
    )
    transaction.on_commit(lambda: requester_notify(promotion.pk))
    return promotion


@transaction.atomic
def promotion_retry(*, request_id: int, user: AbstractBaseUser, request: HttpRequest | None = None) -> PromotionRequest:
    """A failed promotion goes back to approved and is dispatched again (reviewers or admins)."""
    promotion = promotion_locked(request_id)
    refusal = retry_refusal(promotion=promotion, user=user)
    if refusal is not None:
        raise refusal
    promotion.state, promotion.reason, promotion.attempts = PromotionState.APPROVED, "", 0
    try:
        with transaction.atomic():
            promotion.save(update_fields=["state", "reason", "attempts"])
    except IntegrityError as exc:
        raise Conflict("Another open request for this version and alias exists.") from exc
    PromotionOutbox.objects.update_or_create(request=promotion, defaults={"processed_at": None})
    GateAlert.objects.filter(request=promotion, resolved_at__isnull=True).update(resolved_at=timezone.now())
    audit_transition(
        promotion,
        action="promotion.retried",
        actor=user,
        summary=f"{user} retried the promotion of {promotion_label(promotion)}",
        before_state=PromotionState.FAILED,
        request=request,
    )
    transaction.on_commit(lambda: outbox.promotion_dispatch(promotion.pk))
    return promotion


@transaction.atomic
def gate_alert_resolve(
    *, alert_id: int, user: AbstractBaseUser, note: str = "", request: HttpRequest | None = None
) -> GateAlert:
    """A reviewer or admin looked at the alert (e.g. confirmed a bypass was an emergency fix)."""
    if not gate_alerts_resolvable_by(user=user):
        raise PermissionDenied("Only reviewers or admins resolve gate alerts.")
    alert = GateAlert.objects.select_for_update().select_related("registered_model").get(pk=alert_id)
    if not model_visible(registered_model=alert.registered_model, user=user):
        raise PermissionDenied("You cannot see this model's project.")
    if alert.resolved_at is not None:
        raise Conflict("This alert is already resolved.")
    alert.resolved_at = timezone.now()
    alert.save(update_fields=["resolved_at"])
    audit_record(
        action="gate_alert.resolved",
        actor=user,
        obj=alert,
        project=alert.registered_model.project,
        summary=f"{user} resolved “{alert.message[:120]}”" + (f": {note}" if note else ""),
        before={"resolved": False},
        after={"resolved": True},
        data={"model": alert.registered_model.name, "alias": alert.alias, "kind": alert.kind, "note": note},
        request=request,
    )
    return alert
