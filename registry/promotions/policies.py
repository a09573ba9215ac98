"""Which promotion policy applies to a registered model: its own, else the default one, else the
built-in defaults (an unsaved PromotionPolicy). The database holds at most one default policy
(the `one_default_policy` constraint), so "the default one" is never a choice among several."""

from collections.abc import Iterable

from django.db.models import Q

from registry.models import RegisteredModel
from registry.promotions.models import PromotionPolicy


def policy_for(*, registered_model: RegisteredModel) -> PromotionPolicy:
    """The model's own policy, else the default one, else the built-in defaults (unsaved)."""
    policy = PromotionPolicy.objects.filter(registered_model=registered_model).first()
    if policy is None:
        policy = PromotionPolicy.objects.filter(registered_model__isnull=True).first()
    return policy or PromotionPolicy()


def policies_for(*, registered_models: Iterable[RegisteredModel]) -> dict[int, PromotionPolicy]:
    """policy_for for many models in one query: model pk -> the policy that applies to it. Models
    without a policy of their own share one default object (saved or built-in); do not change it."""
    pks = {model.pk for model in registered_models}
    if not pks:
        return {}
    own: dict[int, PromotionPolicy] = {}
    default: PromotionPolicy | None = None
    for policy in PromotionPolicy.objects.filter(Q(registered_model__in=pks) | Q(registered_model__isnull=True)):
        if policy.registered_model_id is None:
            default = policy
        else:
            own[policy.registered_model_id] = policy
    default = default or PromotionPolicy()
    return {pk: own.get(pk, default) for pk in pks}
