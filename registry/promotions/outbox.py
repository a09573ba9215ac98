"""The promotion itself, which Celery runs: dispatch an approved request, claim it, point the alias in
MLflow once, record a failed attempt or the final failure; the sweeper re-dispatches what a crash
left in the outbox."""

import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from mlopsportal.dispatch import send_now
from registry.audit import audit_record
from registry.mlflow_client import MlflowRestClient
from registry.models import ModelVersion
from registry.promotions.auditing import audit_data, audit_transition, promotion_label
from registry.promotions.bypass import pending_supersede, promotions_stale_supersede
from registry.promotions.checks import (
    checks_newly_failing,
)
from registry.promotions.checks_run import checks_now
from registry.promotions.models import (
    GateAlert,
    PromotionDecision,
    PromotionOutbox,
    PromotionRequest,
    PromotionState,
    RegisteredModel,
)
from registry.promotions.requests import promotion_locked

logger = logging.getLogger(__name__)


def promotion_dispatch(request_id: int) -> None:
    try:
        send_now("registry.promotion_tasks.promotion_execute", request_id)
    except Exception:  # the broker is down: the outbox row stays undispatched and the sweeper sends it
        logger.exception("Could not queue the promotion of request %s; the outbox sweeper will", request_id)
        return
    PromotionOutbox.objects.filter(request_id=request_id).update(dispatched_at=timezone.now())


def _claim(request_id: int) -> PromotionRequest | None:
    """approved -> promoting, or an earlier delivery's promoting; anything else is done already."""
    with transaction.atomic():
        promotion = promotion_locked(request_id)
        if promotion.state not in (PromotionState.APPROVED, PromotionState.PROMOTING):
            return None
        promotion.state = PromotionState.PROMOTING
        promotion.attempts += 1
        promotion.save(update_fields=["state", "attempts"])
    return promotion


def checks_failing_since_approval(promotion: PromotionRequest) -> str:
    """The checks that fail now and did not when the request was approved (a failure the approval
    overrode stays overridden), as "name: summary" text; "" when there are none."""
    approval = (
        promotion.decisions.filter(verdict=PromotionDecision.Verdict.APPROVE, checks_passed__isnull=False)
        .order_by("-at", "-pk")
        .first()
    )
    baseline = approval.checks if approval is not None else promotion.checks
    checks = checks_now(promotion=promotion)
    names = set(checks_newly_failing(before=baseline, after=checks))
    return "; ".join(f"{check['check']}: {check['summary']}" for check in checks if check["check"] in names)


def promotion_execute(*, request_id: int, client: MlflowRestClient | None = None) -> PromotionRequest | None:
    """Point the alias at the version in MLflow, once. Reads the alias first, so a retry after a
    crash between the call and the bookkeeping never sets it a second time. Raises MlflowUnavailable
    for the task to retry; the request stays `promoting` meanwhile."""
    promotion = _claim(request_id)
    if promotion is None:
        return None
    newly_failing = checks_failing_since_approval(promotion)
    if newly_failing:
        promotion_fail(
            request_id=request_id,
            error=f"The checks changed since the approval, nothing was set in MLflow: {newly_failing}. "
            "Request the promotion again once they pass, or have it approved with an override.",
        )
        return PromotionRequest.objects.get(pk=request_id)
    client = client or MlflowRestClient()
    name, alias = promotion.registered_model.name, promotion.target_alias
    current = client.alias_version(name=name, alias=alias)
    already = current == promotion.version
    if not already:
        client.alias_set(name=name, alias=alias, version=promotion.version)
    with transaction.atomic():
        promotion = promotion_locked(request_id)
        if promotion.state != PromotionState.PROMOTING:
            return promotion
        now = timezone.now()
        # `reason` held the last failed attempt's error while the task retried; it is made good now.
        promotion.state, promotion.promoted_at, promotion.reason = PromotionState.PROMOTED, now, ""
        promotion.save(update_fields=["state", "promoted_at", "reason"])
        PromotionOutbox.objects.filter(request=promotion).update(processed_at=now)
        model = RegisteredModel.objects.select_for_update().get(pk=promotion.registered_model_id)
        model.aliases = {**(model.aliases or {}), alias: promotion.version}
        model.save(update_fields=["aliases"])
        for version in model.versions.all():
            wanted = sorted(a for a, v in model.aliases.items() if int(v) == version.version)
            if version.aliases != wanted:
                ModelVersion.objects.filter(pk=version.pk).update(aliases=wanted)
        audit_record(
            action="promotion.promoted",
            obj=promotion,
            project=model.project,
            summary=f"@{alias} of {name} now points at version {promotion.version}"
            + (" (it already did: nothing to set)" if already else ""),
            before={"alias": alias, "version": current},
            after={"alias": alias, "version": promotion.version},
            data={**audit_data(promotion), "alias_set": not already, "attempts": promotion.attempts},
        )
        pending_supersede(model, alias, reason=f"Version {promotion.version} took @{alias} (request {promotion.pk}).")
    return promotion


def promotion_attempt_failed(*, request_id: int, error: str, retry_in: float) -> None:
    """One call to MLflow failed in a way worth retrying (5xx, refused, timed out). The request stays
    `promoting` and shows the error as its last attempt's; the audit records the failure, so the log
    tells the whole story (each failure, then the success or the final failure); and the outbox row
    counts as dispatched when the queued retry is due: the sweeper, which re-dispatches rows not
    dispatched for PORTAL_PROMOTION_SWEEP_AFTER_SECONDS, must not start a second chain of retries
    beside this one during a long outage, however long the backoff has grown."""
    with transaction.atomic():
        promotion = promotion_locked(request_id)
        if promotion.state != PromotionState.PROMOTING:
            return
        promotion.reason = f"Attempt {promotion.attempts} failed, next in {retry_in:g} s: {error}"[:2000]
        promotion.save(update_fields=["reason"])
        due = timezone.now() + timezone.timedelta(seconds=retry_in)
        PromotionOutbox.objects.filter(request=promotion).update(dispatched_at=due)
        audit_record(
            action="promotion.attempt_failed",
            obj=promotion,
            project=promotion.registered_model.project,
            summary=f"Attempt {promotion.attempts} to point @{promotion.target_alias} of "
            f"{promotion.registered_model.name} at version {promotion.version} failed; "
            f"next in {retry_in:g} s: {error[:200]}",
            data={
                **audit_data(promotion),
                "attempt": promotion.attempts,
                "error": error[:2000],
                "retry_in_seconds": retry_in,
            },
        )


def promotion_fail(*, request_id: int, error: str) -> None:
    """The task gave up: the request fails with the error, an alert is raised, a retry is possible."""
    with transaction.atomic():
        promotion = promotion_locked(request_id)
        if promotion.state not in (PromotionState.APPROVED, PromotionState.PROMOTING):
            return
        before_state = promotion.state
        promotion.state, promotion.reason = PromotionState.FAILED, error[:2000]
        promotion.save(update_fields=["state", "reason"])
        PromotionOutbox.objects.filter(request=promotion).update(processed_at=timezone.now())
        GateAlert.objects.create(
            kind=GateAlert.Kind.PROMOTION_FAILED,
            registered_model=promotion.registered_model,
            alias=promotion.target_alias,
            new_version=promotion.version,
            request=promotion,
            message=f"Could not point @{promotion.target_alias} at version {promotion.version}: {error}",
        )
        audit_transition(
            promotion,
            action="promotion.failed",
            summary=f"Promotion of {promotion_label(promotion)} failed: {error[:200]}",
            before_state=before_state,
            data={"error": error[:2000]},
        )


def outbox_sweep(*, older_than_seconds: float) -> int:
    """Re-dispatch outbox rows a crash left behind; supersede pending requests gone stale. Returns
    how many rows were re-dispatched."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    left = list(
        PromotionOutbox.objects.filter(processed_at__isnull=True)
        .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=cutoff))
        .values_list("request_id", flat=True)[:500]
    )
    for request_id in left:
        promotion_dispatch(request_id)
    promotions_stale_supersede()
    return len(left)
