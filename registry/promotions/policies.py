"""Which promotion policy applies to a registered model: its own, else the default one, else the
built-in defaults (an unsaved PromotionPolicy). The database holds at most one default policy
(the `one_default_policy` constraint), so "the default one" is never a choice among several."""

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest

from registry.audit import audit_record
from registry.errors import PermissionDenied, PortalError
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


POLICY_FIELDS = (
    "governed_aliases",
    "approvals_required",
    "metric_name",
    "metric_direction",
    "metric_tolerance",
    "signature_check",
    "drift_check",
    "shadow_check",
    "shadow_max_rejected_share",
    "shadow_max_disagreement",
    "maturity_min_level",
    "allow_override",
    "rollback_single_approval",
)


def _policy_state(policy: PromotionPolicy) -> dict[str, Any]:
    state = {name: getattr(policy, name) for name in POLICY_FIELDS}
    if policy.pk:
        state["approver_users"] = sorted(policy.approver_users.values_list("username", flat=True))
        state["approver_group"] = policy.approver_group.name if policy.approver_group else None
    return state


@transaction.atomic
def policy_save(
    *,
    editor: AbstractBaseUser,
    registered_model: RegisteredModel | None,
    approver_users: Iterable[AbstractBaseUser] = (),
    approver_group: Group | None = None,
    request: HttpRequest | None = None,
    **fields: Any,
) -> PromotionPolicy:
    """Create or change a policy (admins only); the change is audited with before and after."""
    if not editor.has_perm("registry.change_promotionpolicy"):
        raise PermissionDenied("Only admins edit promotion policies.")
    unknown = set(fields) - set(POLICY_FIELDS)
    if unknown:
        raise PortalError(f"Unknown policy fields: {', '.join(sorted(unknown))}.")
    aliases = [a.strip() for a in fields.get("governed_aliases", ["champion"]) if a and a.strip()]
    if not aliases:
        raise PortalError("A policy governs at least one alias.", fields={"governed_aliases": ["Name an alias."]})
    fields["governed_aliases"] = aliases
    policy, created = PromotionPolicy.objects.select_for_update().get_or_create(registered_model=registered_model)
    before = None if created else _policy_state(policy)
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.approver_group = approver_group
    policy.updated_by = editor
    policy.save()
    policy.approver_users.set(list(approver_users))
    audit_record(
        action="policy.created" if created else "policy.changed",
        actor=editor,
        obj=policy,
        project=registered_model.project if registered_model else None,
        summary=f"{policy} {'created' if created else 'changed'}",
        before=before,
        after=_policy_state(policy),
        request=request,
    )
    return policy
