"""Who may do what to a promotion request, and when a request has gone stale: the predicates the
services enforce and the pages ask, so a button shows exactly when the service would accept it."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q

from registry.access import model_visible, promotion_cancellable_by
from registry.errors import Conflict, PermissionDenied, PortalError
from registry.promotions.models import PromotionPolicy, PromotionRequest, PromotionState
from registry.promotions.policies import policy_for

DECIDE_PERMISSION = "registry.decide_promotionrequest"
REQUEST_PERMISSION = "registry.add_promotionrequest"


class StaleRequest(Conflict):
    code = "stale"


class ChecksFailed(Conflict):
    code = "checks_failed"


def approver_refusal(
    *, promotion: PromotionRequest, user: AbstractBaseUser, policy: PromotionPolicy | None = None
) -> str | None:
    """Why this user may not decide this request, or None when they may."""
    if not user.has_perm(DECIDE_PERMISSION):
        return "Your role cannot decide promotions."
    if user.pk == promotion.requested_by_id:
        return "You requested this promotion; someone else must decide it."
    policy = policy or policy_for(registered_model=promotion.registered_model)
    if policy.pk and (policy.approver_group_id or policy.approver_users.exists()):
        named = policy.approver_users.filter(pk=user.pk).exists()
        in_group = policy.approver_group_id and user.groups.filter(pk=policy.approver_group_id).exists()
        if not (named or in_group):
            return "The policy of this model names who may decide its promotions, and you are not one of them."
    return None


def approvers_for(*, promotion: PromotionRequest) -> list[AbstractBaseUser]:
    User = get_user_model()
    candidates = (
        User.objects.filter(is_active=True)
        .filter(
            Q(groups__permissions__codename="decide_promotionrequest")
            | Q(user_permissions__codename="decide_promotionrequest")
            | Q(is_superuser=True)
        )
        .exclude(email="")
        .distinct()
    )
    return [
        user
        for user in candidates
        if approver_refusal(promotion=promotion, user=user) is None
        and model_visible(registered_model=promotion.registered_model, user=user)
    ]


def stale_reason(promotion: PromotionRequest) -> str | None:
    version = promotion.model_version
    if version.deleted_at is not None:
        return f"Version {promotion.version} was deleted in MLflow."
    if (version.run_id, version.source) != (promotion.run_id, promotion.source):
        return f"Version {promotion.version} changed in MLflow since the request was made."
    holder = (promotion.registered_model.aliases or {}).get(promotion.target_alias)
    if holder is not None and int(holder) == promotion.version:
        return f"Version {promotion.version} already holds @{promotion.target_alias}."
    if (int(holder) if holder is not None else None) != promotion.holder_version:
        return (
            f"@{promotion.target_alias} moved from version {promotion.holder_version} to {holder} since the "
            "request was made; the checks compared against the old holder."
        )
    return None


def decision_refusal(
    *,
    promotion: PromotionRequest,
    user: AbstractBaseUser | AnonymousUser,
    policy: PromotionPolicy | None = None,
    expected_version: int | None = None,
) -> PortalError | None:
    """Why this user may not approve or reject this request now, as the error the decision raises;
    None when they may. The review page offers the buttons exactly when this is None."""
    if not model_visible(registered_model=promotion.registered_model, user=user):
        return PermissionDenied("You cannot see this model's project.")
    refusal = approver_refusal(promotion=promotion, user=user, policy=policy)
    if refusal:
        return PermissionDenied(refusal)
    if promotion.state != PromotionState.PENDING:
        return StaleRequest(f"This request is {promotion.get_state_display().lower()}; it can no longer be decided.")
    if expected_version is not None and expected_version != promotion.version:
        return StaleRequest(f"This request is about version {promotion.version}, not {expected_version}.")
    stale = stale_reason(promotion)
    if stale:
        return StaleRequest(f"{stale} Ask for a new request.")
    if promotion.decisions.filter(reviewer=user).exists():
        return Conflict("You already decided this request.")
    return None


def cancel_refusal(*, promotion: PromotionRequest, user: AbstractBaseUser | AnonymousUser) -> PortalError | None:
    """Why this user may not withdraw this request, as the error the cancel raises; None when they may."""
    if not model_visible(registered_model=promotion.registered_model, user=user):
        return PermissionDenied("You cannot see this model's project.")
    if not promotion_cancellable_by(user=user, requested_by_id=promotion.requested_by_id):
        return PermissionDenied("Only the requester (or an admin) can cancel a request.")
    if promotion.state != PromotionState.PENDING:
        return StaleRequest(
            f"This request is {promotion.get_state_display().lower()}; only pending ones can be cancelled."
        )
    return None


def retry_refusal(*, promotion: PromotionRequest, user: AbstractBaseUser | AnonymousUser) -> PortalError | None:
    """Why this user may not dispatch this promotion again, as the error the retry raises; None when they may."""
    if not user.has_perm(DECIDE_PERMISSION):
        return PermissionDenied("Only reviewers or admins can retry a promotion.")
    if promotion.state != PromotionState.FAILED:
        return StaleRequest("Only failed promotions can be retried.")
    return None


def gate_alerts_resolvable_by(*, user: AbstractBaseUser | AnonymousUser) -> bool:
    """Reviewers and admins resolve gate alerts (of models they can see)."""
    return user.has_perm(DECIDE_PERMISSION)


def promotions_requestable_by(*, user: AbstractBaseUser | AnonymousUser) -> bool:
    """The role may request promotions (of models of the projects the user belongs to)."""
    return user.has_perm(REQUEST_PERMISSION)
