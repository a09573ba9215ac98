"""Aliases that moved outside the gate: pending requests for a moved alias or a changed version are
superseded; a governed alias moved directly in MLflow raises a bypass alert, an audit event and a
mail to the admins."""

import logging
from typing import Any

from django.db import transaction

from registry.access import (
    users_overseeing_all_projects,
)
from registry.audit import audit_record
from registry.promotions.auditing import audit_transition, promotion_label
from registry.promotions.models import (
    GateAlert,
    PromotionRequest,
    PromotionState,
    RegisteredModel,
)
from registry.promotions.notifications import mail_send
from registry.promotions.policies import policy_for

logger = logging.getLogger(__name__)


def _supersede(promotion: PromotionRequest, reason: str) -> None:
    promotion.state, promotion.reason = PromotionState.SUPERSEDED, reason
    promotion.save(update_fields=["state", "reason"])
    audit_transition(
        promotion,
        action="promotion.superseded",
        summary=f"Request for {promotion_label(promotion)} superseded: {reason}",
        before_state=PromotionState.PENDING,
        data={"reason": reason},
    )


def pending_supersede(model: RegisteredModel, alias: str, *, reason: str) -> int:
    pending = PromotionRequest.objects.select_for_update().filter(
        registered_model=model, target_alias=alias, state=PromotionState.PENDING
    )
    count = 0
    for promotion in pending.select_related("registered_model"):
        _supersede(promotion, reason)
        count += 1
    return count


@transaction.atomic
def promotions_stale_supersede() -> int:
    """Pending requests whose version was deleted or changed in MLflow become superseded."""
    count = 0
    pending = (
        PromotionRequest.objects.select_for_update(of=("self",))
        .filter(state=PromotionState.PENDING)
        .select_related("model_version", "registered_model")
    )
    for promotion in pending:
        version = promotion.model_version
        if version.deleted_at is not None:
            _supersede(promotion, f"Version {promotion.version} was deleted in MLflow.")
            count += 1
        elif (version.run_id, version.source) != (promotion.run_id, promotion.source):
            _supersede(promotion, f"Version {promotion.version} changed in MLflow.")
            count += 1
    return count


@transaction.atomic
def aliases_changed_handle(*, registered_model: RegisteredModel, old: dict[str, int], new: dict[str, int]) -> None:
    """The sync saw the model's aliases differ from the mirror's. A governed alias that moved to a
    version no portal promotion put there is a bypass: alert + audit. Pending requests for a moved
    alias are superseded either way (they were checked against the old holder)."""
    policy = policy_for(registered_model=registered_model)
    for alias in sorted(set(old) | set(new)):
        before, after = old.get(alias), new.get(alias)
        if before == after:
            continue
        pending_supersede(registered_model, alias, reason=f"@{alias} moved from version {before} to {after} in MLflow.")
        if alias not in policy.governed_aliases:
            continue
        by_portal = (
            after is not None
            and PromotionRequest.objects.filter(
                registered_model=registered_model,
                target_alias=alias,
                version=int(after),
                state__in=[PromotionState.PROMOTING, PromotionState.PROMOTED],
            ).exists()
        )
        if by_portal:
            continue
        message = (
            f"@{alias} of {registered_model.name} moved from version {before} to {after} directly in MLflow, "
            "without a promotion through the portal."
            if after is not None
            else f"@{alias} of {registered_model.name} (version {before}) was removed directly in MLflow."
        )
        GateAlert.objects.create(
            kind=GateAlert.Kind.BYPASS,
            registered_model=registered_model,
            alias=alias,
            old_version=before,
            new_version=after,
            message=message,
        )
        audit_record(
            action="alias.bypassed",
            obj=registered_model,
            project=registered_model.project,
            summary=message,
            before={"alias": alias, "version": before},
            after={"alias": alias, "version": after},
            data={"model": registered_model.name, "alias": alias, "old_version": before, "new_version": after},
        )
        to = [user.email for user in users_overseeing_all_projects().exclude(email="")]
        transaction.on_commit(lambda message=message, to=to: mail_send(f"Gate bypassed: {message[:80]}", message, to))


def on_model_aliases_changed(
    sender: Any, *, registered_model: RegisteredModel, old: dict[str, int], new: dict[str, int], **kwargs: Any
) -> None:
    # The sync must finish even if the gate trips: log, and the next sync's signal tries again only
    # if the alias moves again, so the error is loud in the logs.
    try:
        aliases_changed_handle(registered_model=registered_model, old=old, new=new)
    except Exception:
        logger.exception("Gate: could not handle the alias change of %s (%s -> %s)", registered_model, old, new)
