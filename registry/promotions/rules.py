"""Who may do what to a promotion request, and when a request has gone stale: the predicates the
services enforce and the pages ask, so a button shows exactly when the service would accept it."""

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q

from registry.access import (
    model_visible,
)
from registry.errors import Conflict
from registry.promotions.models import (
    PromotionPolicy,
    PromotionRequest,
)
from registry.promotions.policies import policy_for

logger = logging.getLogger(__name__)


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
