"""The promotion gate's panel for other pages (the model page): open requests, request and roll back."""

from typing import Any

from django import template
from django.contrib.auth.models import AbstractBaseUser

from registry.models import RegisteredModel
from registry.promotions.models import OPEN_STATES, PromotionRequest
from registry.promotions.policies import policy_for
from registry.promotions.requests import rollback_target
from registry.promotions.rules import promotions_requestable_by

register = template.Library()


@register.inclusion_tag("registry/promotions/_model_gate.html", takes_context=True)
def gate_panel(context: template.Context, model: RegisteredModel, user: AbstractBaseUser) -> dict[str, Any]:
    policy = policy_for(registered_model=model)
    aliases = model.aliases or {}
    can_request = promotions_requestable_by(user=user)
    return {
        "csrf_token": context.get("csrf_token"),  # the rollback forms post
        "model": model,
        "can_request": can_request and model.deleted_at is None,
        "can_view": user.has_perm("registry.view_promotionrequest"),
        "governed": [
            {
                "alias": alias,
                "version": aliases.get(alias),
                "rollback_to": rollback_target(registered_model=model, alias=alias) if can_request else None,
            }
            for alias in policy.governed_aliases
        ],
        "open_requests": PromotionRequest.objects.filter(registered_model=model, state__in=OPEN_STATES).order_by(
            "created_at"
        ),
    }
