"""What the gate writes to the audit log about a request."""

import logging
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

from registry.audit import audit_record
from registry.promotions.models import (
    PromotionRequest,
)

logger = logging.getLogger(__name__)


def promotion_label(promotion: PromotionRequest) -> str:
    return f"{promotion.registered_model.name} v{promotion.version} → @{promotion.target_alias}"


def audit_data(promotion: PromotionRequest) -> dict[str, Any]:
    return {
        "model": promotion.registered_model.name,
        "version": promotion.version,
        "alias": promotion.target_alias,
        "request": promotion.pk,
    }


def audit_transition(
    promotion: PromotionRequest,
    *,
    action: str,
    summary: str,
    before_state: str,
    actor: AbstractBaseUser | None = None,
    data: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> None:
    """Audit a request moving from `before_state` to its current state."""
    audit_record(
        action=action,
        actor=actor,
        obj=promotion,
        project=promotion.registered_model.project,
        summary=summary,
        before={"state": before_state},
        after={"state": promotion.state},
        data={**audit_data(promotion), **(data or {})},
        request=request,
    )
