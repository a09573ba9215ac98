"""The promotion gate's services: request, approve, reject, cancel, promote, supersede, bypass.

Every rule is enforced here (and, where it can be, by a database constraint), never only by a
hidden button. Every step writes an audit event. Checks other apps provide (drift, maturity) are
registered with `gate_check_register` from their AppConfig.ready(); the gate never imports them.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from registry.access import (
    member_may,
    model_named,
    model_visible,
    promotion_cancellable_by,
    users_overseeing_all_projects,
)
from registry.audit import audit_record
from registry.errors import Conflict, PermissionDenied, PortalError
from registry.mlflow_client import MlflowRestClient
from registry.models import ModelVersion, Run
from registry.promotions.checks import (
    CheckOutcome,
    CheckStatus,
    MetricDirection,
    checks_compare,
    checks_newly_failing,
    metric_check,
    signature_check,
    status_blocks,
)
from registry.promotions.models import (
    GateAlert,
    PromotionDecision,
    PromotionOutbox,
    PromotionPolicy,
    PromotionRequest,
    PromotionState,
    RegisteredModel,
)
from registry.promotions.policies import policy_for
from registry.signals import promotion_requested

logger = logging.getLogger(__name__)

DECIDE_PERMISSION = "registry.decide_promotionrequest"
REQUEST_PERMISSION = "registry.add_promotionrequest"


class StaleRequest(Conflict):
    code = "stale"


class ChecksFailed(Conflict):
    code = "checks_failed"


# --- checks other apps register -------------------------------------------------------------


@dataclass(frozen=True)
class GateCheckContext:
    registered_model: RegisteredModel
    candidate: ModelVersion
    holder: ModelVersion | None
    alias: str
    policy: PromotionPolicy


GateCheck = Callable[[GateCheckContext], CheckOutcome]

GATE_CHECKS: dict[str, GateCheck] = {}
# Checks the policy can ask for that other apps answer; until one registers, they report "not configured".
OPTIONAL_CHECKS = {
    "drift": "No monitoring app has registered a drift check yet.",
    "maturity": "No assessments app has registered a maturity check yet.",
    "shadow": "No monitoring app has registered a shadow evaluation yet.",
}


def gate_check_register(*, name: str, check: GateCheck) -> None:
    """Called by another app when it loads, e.g. monitoring registers "drift"."""
    GATE_CHECKS[name] = check


def _wanted(name: str, policy: PromotionPolicy) -> bool:
    if name == "drift":
        return policy.drift_check
    if name == "maturity":
        return policy.maturity_min_level is not None
    if name == "shadow":
        return policy.shadow_check
    return True


def _run_metrics(version: ModelVersion | None) -> dict[str, float] | None:
    if version is None:
        return None
    run = version.run or (Run.objects.filter(run_id=version.run_id).first() if version.run_id else None)
    return dict(run.metrics) if run is not None else {}


def checks_run(*, context: GateCheckContext) -> list[CheckOutcome]:
    policy, candidate, holder = context.policy, context.candidate, context.holder
    outcomes: list[CheckOutcome] = []
    if policy.metric_name:
        outcomes.append(
            metric_check(
                metric=policy.metric_name,
                direction=MetricDirection(policy.metric_direction),
                tolerance=policy.metric_tolerance,
                candidate_metrics=_run_metrics(candidate) or {},
                holder_metrics=_run_metrics(holder),
            )
        )
    if policy.signature_check:
        outcomes.append(
            signature_check(
                candidate_inputs=candidate.signature_inputs,
                holder_inputs=holder.signature_inputs if holder is not None else None,
            )
        )
    names = [name for name in OPTIONAL_CHECKS if _wanted(name, policy)]
    names += [name for name in GATE_CHECKS if name not in OPTIONAL_CHECKS]
    for name in names:
        check = GATE_CHECKS.get(name)
        if check is None:
            outcomes.append(CheckOutcome(name, CheckStatus.NOT_CONFIGURED, OPTIONAL_CHECKS[name]))
            continue
        try:
            outcomes.append(check(context))
        except Exception as exc:  # a broken check must block, not crash the request
            logger.exception("Gate check %s failed", name)
            outcomes.append(CheckOutcome(name, CheckStatus.FAILED, f"The check could not run: {exc}"))
    return outcomes


def checks_now(*, promotion: PromotionRequest, policy: PromotionPolicy | None = None) -> list[dict[str, Any]]:
    """The policy's checks on the facts of this moment (the version, the alias holder, the monitors'
    alerts, the project's level as they are now), as stored and shown: CheckOutcome.as_dict()."""
    registered_model = promotion.registered_model
    context = GateCheckContext(
        registered_model,
        promotion.model_version,
        _holder(registered_model, promotion.target_alias),
        promotion.target_alias,
        policy or policy_for(registered_model=registered_model),
    )
    return [outcome.as_dict() for outcome in checks_run(context=context)]


def _failing(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [check for check in checks if status_blocks(check["status"])]


# --- policies -------------------------------------------------------------------------------


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
    approver_group: Any = None,
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


# --- who may do what --------------------------------------------------------------------------


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


# --- mail -----------------------------------------------------------------------------------


def _mail(subject: str, body: str, to: list[str]) -> None:
    if not to:
        return
    try:
        send_mail(subject, body, None, to, fail_silently=False)
    except Exception:  # mail is a courtesy: an SMTP outage must not undo a decision
        logger.exception("Could not send %r", subject)


def _url(promotion: PromotionRequest) -> str:
    return f"{settings.PORTAL_BASE_URL}{reverse('registry:promotion_detail', kwargs={'pk': promotion.pk})}"


def _what(promotion: PromotionRequest) -> str:
    return f"{promotion.registered_model.name} v{promotion.version} → @{promotion.target_alias}"


def _mail_reviewers(promotion_id: int) -> None:
    promotion = PromotionRequest.objects.select_related("registered_model", "requested_by").get(pk=promotion_id)
    to = [user.email for user in approvers_for(promotion=promotion)]
    _mail(
        f"Promotion awaits your review: {_what(promotion)}",
        f"{promotion.requested_by} asks to point @{promotion.target_alias} of {promotion.registered_model.name} at "
        f"version {promotion.version}.\n\nJustification: {promotion.justification}\n\n"
        f"Checks: {'all passed' if promotion.checks_passed else 'some FAILED'}\n\nReview: {_url(promotion)}\n",
        to,
    )


def _mail_requester(promotion_id: int) -> None:
    promotion = PromotionRequest.objects.select_related("registered_model", "requested_by").get(pk=promotion_id)
    if not promotion.requested_by.email:
        return
    _mail(
        f"Promotion {promotion.get_state_display().lower()}: {promotion.registered_model.name} v{promotion.version} "
        f"→ @{promotion.target_alias}",
        f"Your request is {promotion.get_state_display().lower()}.\n\n"
        + "".join(f"{d.reviewer}: {d.verdict} {d.comment}\n" for d in promotion.decisions.all())
        + f"\n{_url(promotion)}\n",
        [promotion.requested_by.email],
    )


# --- requests -------------------------------------------------------------------------------


def _holder(registered_model: RegisteredModel, alias: str) -> ModelVersion | None:
    number = (registered_model.aliases or {}).get(alias)
    if number is None:
        return None
    return registered_model.versions.filter(version=int(number)).select_related("run").first()


def _audit_data(promotion: PromotionRequest) -> dict[str, Any]:
    return {
        "model": promotion.registered_model.name,
        "version": promotion.version,
        "alias": promotion.target_alias,
        "request": promotion.pk,
    }


def _audit_transition(
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
        data={**_audit_data(promotion), **(data or {})},
        request=request,
    )


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
    if not requester.has_perm(REQUEST_PERMISSION):
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
    holder = _holder(registered_model, target_alias)
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
        data={**_audit_data(promotion), "checks": promotion.checks},
        request=request,
    )
    transaction.on_commit(lambda: _mail_reviewers(promotion.pk))
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


def _locked(request_id: int) -> PromotionRequest:
    return (
        PromotionRequest.objects.select_for_update(of=("self",))
        .select_related("registered_model", "model_version", "requested_by")
        .get(pk=request_id)
    )


def _stale_reason(promotion: PromotionRequest) -> str | None:
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


def _ensure_decidable(promotion: PromotionRequest, reviewer: AbstractBaseUser, expected_version: int | None) -> None:
    if not model_visible(registered_model=promotion.registered_model, user=reviewer):
        raise PermissionDenied("You cannot see this model's project.")
    refusal = approver_refusal(promotion=promotion, user=reviewer)
    if refusal:
        raise PermissionDenied(refusal)
    if promotion.state != PromotionState.PENDING:
        raise StaleRequest(f"This request is {promotion.get_state_display().lower()}; it can no longer be decided.")
    if expected_version is not None and expected_version != promotion.version:
        raise StaleRequest(f"This request is about version {promotion.version}, not {expected_version}.")
    stale = _stale_reason(promotion)
    if stale:
        raise StaleRequest(f"{stale} Ask for a new request.")
    if promotion.decisions.filter(reviewer=reviewer).exists():
        raise Conflict("You already decided this request.")


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
    promotion = _locked(request_id)
    _ensure_decidable(promotion, reviewer, expected_version)
    override_reason = override_reason.strip()
    # The request's checks are a snapshot of when it was made; the reviewer decides on these.
    policy = policy_for(registered_model=promotion.registered_model)
    checks = checks_now(promotion=promotion, policy=policy)
    failing = _failing(checks)
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
            **_audit_data(promotion),
            "comment": comment,
            "override_reason": override_reason,
            **_checks_audit(promotion, checks),
        },
        request=request,
    )
    if promotion.state == PromotionState.APPROVED:
        transaction.on_commit(lambda: _dispatch(promotion.pk))
        transaction.on_commit(lambda: _mail_requester(promotion.pk))
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
    promotion = _locked(request_id)
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
        checks_passed=not _failing(checks),
    )
    promotion.state, promotion.decided_at, promotion.reason = PromotionState.REJECTED, timezone.now(), comment
    promotion.save(update_fields=["state", "decided_at", "reason"])
    _audit_transition(
        promotion,
        action="promotion.rejected",
        actor=reviewer,
        summary=f"{reviewer} rejected {_what(promotion)}",
        before_state=PromotionState.PENDING,
        data={"comment": comment, **_checks_audit(promotion, checks)},
        request=request,
    )
    transaction.on_commit(lambda: _mail_requester(promotion.pk))
    return promotion


@transaction.atomic
def promotion_cancel(
    *, request_id: int, user: AbstractBaseUser, request: HttpRequest | None = None
) -> PromotionRequest:
    promotion = _locked(request_id)
    if not model_visible(registered_model=promotion.registered_model, user=user):
        raise PermissionDenied("You cannot see this model's project.")
    if not promotion_cancellable_by(user=user, requested_by_id=promotion.requested_by_id):
        raise PermissionDenied("Only the requester (or an admin) can cancel a request.")
    if promotion.state != PromotionState.PENDING:
        raise StaleRequest(
            f"This request is {promotion.get_state_display().lower()}; only pending ones can be cancelled."
        )
    promotion.state, promotion.decided_at = PromotionState.CANCELLED, timezone.now()
    promotion.save(update_fields=["state", "decided_at"])
    _audit_transition(
        promotion,
        action="promotion.cancelled",
        actor=user,
        summary=f"{user} cancelled the request for {_what(promotion)}",
        before_state=PromotionState.PENDING,
        request=request,
    )
    return promotion


# --- the promotion itself (Celery calls these) ---------------------------------------------------


def _dispatch(request_id: int) -> None:
    from registry.promotions.tasks import promotion_execute

    try:
        promotion_execute.delay(request_id)
    except Exception:  # the broker is down: the outbox row stays undispatched and the sweeper sends it
        logger.exception("Could not queue the promotion of request %s; the outbox sweeper will", request_id)
        return
    PromotionOutbox.objects.filter(request_id=request_id).update(dispatched_at=timezone.now())


def _claim(request_id: int) -> PromotionRequest | None:
    """approved -> promoting, or an earlier delivery's promoting; anything else is done already."""
    with transaction.atomic():
        promotion = _locked(request_id)
        if promotion.state not in (PromotionState.APPROVED, PromotionState.PROMOTING):
            return None
        promotion.state = PromotionState.PROMOTING
        promotion.attempts += 1
        promotion.save(update_fields=["state", "attempts"])
    return promotion


def _checks_failing_since_approval(promotion: PromotionRequest) -> str:
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
    newly_failing = _checks_failing_since_approval(promotion)
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
        promotion = _locked(request_id)
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
            data={**_audit_data(promotion), "alias_set": not already, "attempts": promotion.attempts},
        )
        _supersede_pending(model, alias, reason=f"Version {promotion.version} took @{alias} (request {promotion.pk}).")
    return promotion


def promotion_attempt_failed(*, request_id: int, error: str, retry_in: float) -> None:
    """One call to MLflow failed in a way worth retrying (5xx, refused, timed out). The request stays
    `promoting` and shows the error as its last attempt's; the audit records the failure, so the log
    tells the whole story (each failure, then the success or the final failure); and the outbox row
    counts as dispatched when the queued retry is due: the sweeper, which re-dispatches rows not
    dispatched for PORTAL_PROMOTION_SWEEP_AFTER_SECONDS, must not start a second chain of retries
    beside this one during a long outage, however long the backoff has grown."""
    with transaction.atomic():
        promotion = _locked(request_id)
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
                **_audit_data(promotion),
                "attempt": promotion.attempts,
                "error": error[:2000],
                "retry_in_seconds": retry_in,
            },
        )


def promotion_fail(*, request_id: int, error: str) -> None:
    """The task gave up: the request fails with the error, an alert is raised, a retry is possible."""
    with transaction.atomic():
        promotion = _locked(request_id)
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
        _audit_transition(
            promotion,
            action="promotion.failed",
            summary=f"Promotion of {_what(promotion)} failed: {error[:200]}",
            before_state=before_state,
            data={"error": error[:2000]},
        )


@transaction.atomic
def promotion_retry(*, request_id: int, user: AbstractBaseUser, request: HttpRequest | None = None) -> PromotionRequest:
    """A failed promotion goes back to approved and is dispatched again (reviewers or admins)."""
    promotion = _locked(request_id)
    if not user.has_perm(DECIDE_PERMISSION):
        raise PermissionDenied("Only reviewers or admins can retry a promotion.")
    if promotion.state != PromotionState.FAILED:
        raise StaleRequest("Only failed promotions can be retried.")
    promotion.state, promotion.reason, promotion.attempts = PromotionState.APPROVED, "", 0
    try:
        with transaction.atomic():
            promotion.save(update_fields=["state", "reason", "attempts"])
    except IntegrityError as exc:
        raise Conflict("Another open request for this version and alias exists.") from exc
    PromotionOutbox.objects.update_or_create(request=promotion, defaults={"processed_at": None})
    GateAlert.objects.filter(request=promotion, resolved_at__isnull=True).update(resolved_at=timezone.now())
    _audit_transition(
        promotion,
        action="promotion.retried",
        actor=user,
        summary=f"{user} retried the promotion of {_what(promotion)}",
        before_state=PromotionState.FAILED,
        request=request,
    )
    transaction.on_commit(lambda: _dispatch(promotion.pk))
    return promotion


@transaction.atomic
def gate_alert_resolve(
    *, alert_id: int, user: AbstractBaseUser, note: str = "", request: HttpRequest | None = None
) -> GateAlert:
    """A reviewer or admin looked at the alert (e.g. confirmed a bypass was an emergency fix)."""
    if not user.has_perm(DECIDE_PERMISSION):
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
        _dispatch(request_id)
    promotions_stale_supersede()
    return len(left)


# --- superseding and bypass -------------------------------------------------------------------


def _supersede(promotion: PromotionRequest, reason: str) -> None:
    promotion.state, promotion.reason = PromotionState.SUPERSEDED, reason
    promotion.save(update_fields=["state", "reason"])
    _audit_transition(
        promotion,
        action="promotion.superseded",
        summary=f"Request for {_what(promotion)} superseded: {reason}",
        before_state=PromotionState.PENDING,
        data={"reason": reason},
    )


def _supersede_pending(model: RegisteredModel, alias: str, *, reason: str) -> int:
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
        _supersede_pending(
            registered_model, alias, reason=f"@{alias} moved from version {before} to {after} in MLflow."
        )
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
        transaction.on_commit(lambda message=message, to=to: _mail(f"Gate bypassed: {message[:80]}", message, to))


def on_model_aliases_changed(
    sender: Any, *, registered_model: RegisteredModel, old: dict[str, int], new: dict[str, int], **kwargs: Any
) -> None:
    # The sync must finish even if the gate trips: log, and the next sync's signal tries again only
    # if the alias moves again, so the error is loud in the logs.
    try:
        aliases_changed_handle(registered_model=registered_model, old=old, new=new)
    except Exception:
        logger.exception("Gate: could not handle the alias change of %s (%s -> %s)", registered_model, old, new)
