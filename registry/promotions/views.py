"""Pages of the promotion gate: queue, review, request form, policies, audit log. Thin: check
access, call one service or selector, render."""

import csv
import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from registry.errors import PermissionDenied, PortalError
from registry.live import action_refused, wants_json
from registry.mirror.selectors import registered_models_visible_to
from registry.models import ModelVersion, RegisteredModel
from registry.promotions import decisions
from registry.promotions import requests as promotion_requests
from registry.promotions import selectors as gate_selectors
from registry.promotions.checks import MetricDirection, status_blocks
from registry.promotions.checks import check_rows as gate_check_rows
from registry.promotions.checks_run import checks_now
from registry.promotions.forms import AuditFilterForm, PolicyForm
from registry.promotions.models import PromotionDecision, PromotionPolicy, PromotionRequest, PromotionState
from registry.promotions.policies import policies_for, policy_for, policy_save
from registry.promotions.requests import promotion_request_create, promotion_rollback_request
from registry.promotions.rules import (
    cancel_refusal,
    decision_refusal,
    gate_alerts_resolvable_by,
    promotions_requestable_by,
    retry_refusal,
)


def _visible_models(user: AbstractBaseUser) -> list[RegisteredModel]:
    return list(
        registered_models_visible_to(user=user)
        .filter(deleted_at__isnull=True)
        .prefetch_related("versions")
        .order_by("name")
    )


def _picker_models(user) -> list[RegisteredModel]:  # noqa: ANN001
    """The models the request form offers: live ones the user may see (access predicates), each with
    its live versions (newest first) and, as `governed`, the aliases its policy lets the gate move
    (policies_for). Three queries."""
    live_versions = ModelVersion.objects.filter(deleted_at__isnull=True).order_by("-version")
    models = list(
        registered_models_visible_to(user=user)
        .filter(deleted_at__isnull=True)
        .prefetch_related(Prefetch("versions", queryset=live_versions))
        .order_by("name")
    )
    policies = policies_for(registered_models=models)
    for model in models:
        model.governed = policies[model.pk].governed_aliases
    return models


@login_required
@permission_required("registry.view_promotionrequest", raise_exception=True)
@require_GET
def promotion_queue(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", PromotionState.PENDING)
    if state == PromotionState.PENDING:
        promotions_qs = gate_selectors.promotion_queue_for(user=request.user)
    else:
        promotions_qs = gate_selectors.promotions_visible_to(user=request.user).order_by("-created_at", "-pk")
        if state in PromotionState.values:
            promotions_qs = promotions_qs.filter(state=state)
    page = Paginator(promotions_qs, 25).get_page(request.GET.get("page"))
    now = timezone.now()
    for promotion in page.object_list:
        promotion.age = now - promotion.created_at
        promotion.failed_checks = [c for c in promotion.checks if status_blocks(c["status"])]
    return render(
        request,
        "registry/promotions/queue.html",
        {
            "page": page,
            "state": state,
            "states": PromotionState.choices,
            "alerts": gate_selectors.gate_alerts_open_for(user=request.user)[:20],
            "can_request": promotions_requestable_by(user=request.user),
            "can_resolve": gate_alerts_resolvable_by(user=request.user),
        },
    )


def _approve_confirmation(promotion: PromotionRequest, alias_now: int | str | None) -> str:
    """What the reviewer confirms before an approval that may move a serving alias in MLflow."""
    target = f"@{promotion.target_alias} of {promotion.registered_model.name}"
    if promotion.approvals + 1 < promotion.approvals_required:
        return (
            f"Approve version {promotion.version} for {target}? This is approval {promotion.approvals + 1} "
            f"of {promotion.approvals_required}; the alias moves when the last one is in."
        )
    holder = f"version {alias_now}" if alias_now else "no version"
    return (
        f"Approve and move {target} from {holder} to version {promotion.version} in MLflow? "
        f"Whatever serves {target} will load version {promotion.version}."
    )


def _review_context(request: HttpRequest, pk: int) -> dict[str, object]:
    promotion = get_object_or_404(gate_selectors.promotions_visible_to(user=request.user), pk=pk)
    decisions = promotion.decisions.select_related("reviewer")
    policy = policy_for(registered_model=promotion.registered_model)
    decide_refusal = decision_refusal(promotion=promotion, user=request.user, policy=policy)
    cancel_refused = cancel_refusal(promotion=promotion, user=request.user)
    retry_refused = retry_refusal(promotion=promotion, user=request.user)
    # A pending request's checks run again on every visit, as they will when someone decides;
    # a decided one shows what its last decision saw.
    if promotion.state == PromotionState.PENDING:
        current_checks, current_label = checks_now(promotion=promotion, policy=policy), "Now"
    else:
        decisive = next((d for d in reversed(list(decisions)) if d.checks_passed is not None), None)
        current_checks = decisive.checks if decisive else promotion.checks
        current_label = "At the decision" if decisive else "At request"
    check_rows = gate_check_rows(snapshot=promotion.checks, current=current_checks)
    alias_now = (promotion.registered_model.aliases or {}).get(promotion.target_alias)
    return {
        "promotion": promotion,
        "check_rows": check_rows,
        "checks_label": current_label,
        "checks_pass_now": not any(status_blocks(c["status"]) for c in current_checks),
        "checks_changed": sum(row.changed for row in check_rows),
        # A check whose facts are still being gathered (the shadow replay): the page follows it.
        "checks_working": promotion.state == PromotionState.PENDING
        and any((c.get("details") or {}).get("status") in ("queued", "running") for c in current_checks),
        "live_checks": current_label == "Now",
        "comparison": gate_selectors.promotion_comparison(
            promotion=promotion,
            metric=policy.metric_name,
            higher_is_better=policy.metric_direction == MetricDirection.HIGHER_IS_BETTER,
        ),
        "decisions": decisions,
        "can_decide": decide_refusal is None,
        "decide_refusal": decide_refusal.message if decide_refusal else None,
        "can_cancel": cancel_refused is None,
        "can_retry": retry_refused is None,
        "policy": policy,
        "mlflow_ui": settings.MLFLOW_UI_URL,
        "alias_now": alias_now,
        "approve_confirmation": _approve_confirmation(promotion, alias_now),
        "history": gate_selectors.audit_events_visible_to(user=request.user).filter(
            object_type="registry.promotionrequest", object_id=str(promotion.pk)
        ),
    }


@login_required
@permission_required("registry.view_promotionrequest", raise_exception=True)
@require_GET
def promotion_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "registry/promotions/detail.html", _review_context(request, pk))


@login_required
@permission_required("registry.view_promotionrequest", raise_exception=True)
@require_POST
def gate_alert_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(gate_selectors.gate_alerts_open_for(user=request.user), pk=pk)
    try:
        decisions.gate_alert_resolve(
            alert_id=alert.pk, user=request.user, note=request.POST.get("note", ""), request=request
        )
    except PortalError as error:
        return action_refused(request, error=error, redirect_to="registry:promotion_queue")
    messages.success(request, "Alert resolved.")
    return redirect("registry:promotion_queue")


def _expected_version(request: HttpRequest) -> int | None:
    """The holder version the reviewer saw; a decision on a page that went stale is refused (409)."""
    expected = request.POST.get("version", "")
    return int(expected) if expected.isdigit() else None


def _decision_response(request: HttpRequest, pk: int, action, success: str) -> HttpResponse:  # noqa: ANN001
    promotion = get_object_or_404(gate_selectors.promotions_visible_to(user=request.user), pk=pk)
    try:
        promotion = action(promotion)
    except PortalError as error:
        return action_refused(request, error=error, redirect_to=reverse("registry:promotion_detail", kwargs={"pk": pk}))
    if wants_json(request):
        promotion.refresh_from_db()
        return JsonResponse(
            {
                "state": promotion.state,
                "state_label": promotion.get_state_display(),
                "message": success,
                "approvals": promotion.decisions.filter(verdict=PromotionDecision.Verdict.APPROVE).count(),
                "approvals_required": promotion.approvals_required,
                "status_url": reverse("promotion-detail", kwargs={"pk": promotion.pk}),
            }
        )
    messages.success(request, success)
    return redirect(reverse("registry:promotion_detail", kwargs={"pk": pk}))


@login_required
@permission_required("registry.decide_promotionrequest", raise_exception=True)
@require_POST
def promotion_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _decision_response(
        request,
        pk,
        lambda promotion: decisions.promotion_approve(
            request_id=promotion.pk,
            reviewer=request.user,
            comment=request.POST.get("comment", ""),
            override_reason=request.POST.get("override_reason", ""),
            expected_version=_expected_version(request),
            request=request,
        ),
        "Approved.",
    )


@login_required
@permission_required("registry.decide_promotionrequest", raise_exception=True)
@require_POST
def promotion_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _decision_response(
        request,
        pk,
        lambda promotion: decisions.promotion_reject(
            request_id=promotion.pk,
            reviewer=request.user,
            comment=request.POST.get("comment", ""),
            expected_version=_expected_version(request),
            request=request,
        ),
        "Rejected.",
    )


@login_required
@permission_required("registry.view_promotionrequest", raise_exception=True)
@require_POST
def promotion_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _decision_response(
        request,
        pk,
        lambda promotion: promotion_requests.promotion_cancel(
            request_id=promotion.pk, user=request.user, request=request
        ),
        "Request cancelled.",
    )


@login_required
@permission_required("registry.view_promotionrequest", raise_exception=True)
@require_POST
def promotion_retry(request: HttpRequest, pk: int) -> HttpResponse:
    return _decision_response(
        request,
        pk,
        lambda promotion: decisions.promotion_retry(request_id=promotion.pk, user=request.user, request=request),
        "Promotion dispatched again.",
    )


@login_required
@permission_required("registry.add_promotionrequest", raise_exception=True)
@require_http_methods(["GET", "POST"])
def promotion_create(request: HttpRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else request.GET
    values = {
        "model": data.get("model", ""),
        "version": data.get("version", ""),
        "target_alias": data.get("target_alias", "champion"),
        "justification": data.get("justification", ""),
    }
    error: PortalError | None = None
    if request.method == "POST":
        try:
            if data.get("rollback"):
                promotion = promotion_rollback_request(
                    requester=request.user,
                    model_name=values["model"],
                    alias=values["target_alias"],
                    justification=values["justification"],
                    request=request,
                )
            else:
                promotion = promotion_request_create(
                    requester=request.user,
                    model_name=values["model"],
                    version=int(values["version"]) if values["version"].isdigit() else -1,
                    target_alias=values["target_alias"],
                    justification=values["justification"],
                    request=request,
                )
        except PermissionDenied as exc:
            return action_refused(request, error=exc)
        except PortalError as exc:  # shown on the form, with what was typed, to correct
            error = exc
        else:
            messages.success(request, "Promotion requested; reviewers have been notified.")
            return redirect(promotion)
    models = _picker_models(request.user)
    chosen = next((m for m in models if m.name == values["model"]), None)
    return render(
        request,
        "registry/promotions/form.html",
        {
            "values": values,
            "error": error,
            "models": models,
            "chosen": chosen,
            # Without a chosen model every model's versions are offered, grouped by model; with one,
            # its own (the picker script narrows the list the same way when the model changes).
            "version_groups": [chosen] if chosen else models,
            # Every governed alias is rendered, those the chosen model's policy does not govern hidden,
            # so the picker script can offer them again when another model is chosen.
            "aliases": [
                (alias, chosen is None or alias in chosen.governed)
                for alias in sorted({a for m in models for a in m.governed})
            ],
        },
        status=error.status_code if error else 200,
    )


@login_required
@permission_required("registry.change_promotionpolicy", raise_exception=True)
@require_GET
def policy_list(request: HttpRequest) -> HttpResponse:
    policies = PromotionPolicy.objects.select_related("registered_model", "approver_group", "updated_by").order_by(
        "registered_model__name"
    )
    return render(
        request,
        "registry/promotions/policy_list.html",
        {"policies": policies, "models": _visible_models(request.user)},
    )


@login_required
@permission_required("registry.change_promotionpolicy", raise_exception=True)
@require_http_methods(["GET", "POST"])
def policy_edit(request: HttpRequest, model: str) -> HttpResponse:
    registered_model = None if model == "default" else get_object_or_404(RegisteredModel, name=model)
    policy = PromotionPolicy.objects.filter(registered_model=registered_model).first() or PromotionPolicy()
    error: PortalError | None = None
    if request.method == "POST":
        form = PolicyForm(request.POST)
        if form.is_valid():
            try:
                policy = policy_save(
                    editor=request.user, registered_model=registered_model, request=request, **form.policy_fields()
                )
            except PermissionDenied as exc:
                return action_refused(request, error=exc)
            except PortalError as exc:  # shown on the form, with what was typed, to correct
                error = exc
                for field, problems in (exc.fields or {}).items():
                    for problem in problems:
                        form.add_error(field if field in form.fields else None, problem)
            else:
                messages.success(request, f"{policy} saved.")
                return redirect("registry:policy_list")
    else:
        form = PolicyForm(initial=PolicyForm.initial_for(policy))
    status = error.status_code if error else (400 if form.errors else 200)
    return render(
        request,
        "registry/promotions/policy_form.html",
        {"form": form, "policy": policy, "registered_model": registered_model, "error": error},
        status=status,
    )


def _audit_model_names(user: AbstractBaseUser) -> list[str]:
    """The model filter picks from the models the user may see (deleted ones too: their history stays)."""
    return list(registered_models_visible_to(user=user).order_by("name").values_list("name", flat=True))


AUDIT_CSV_COLUMNS = ["at", "actor", "action", "object_type", "object_id", "project", "summary", "before", "after"]
AUDIT_CSV_COLUMNS += ["request_id", "ip"]


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
@permission_required("registry.view_auditevent", raise_exception=True)
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    filters = {key: request.GET.get(key, "").strip() for key in ("model", "user", "action", "since", "until")}
    form = AuditFilterForm(filters)
    if not form.is_valid():  # nothing is listed on filters that do not parse; the page says why
        return render(
            request,
            "registry/promotions/audit_log.html",
            {"page": None, "filters": filters, "form": form, "model_names": _audit_model_names(request.user)},
            status=400,
        )
    events = gate_selectors.audit_events_filter(
        gate_selectors.audit_events_visible_to(user=request.user), **form.cleaned_data
    )
    if request.GET.get("format") == "csv":
        writer = csv.writer(_Echo())

        def rows():  # noqa: ANN202 - a generator of CSV lines
            yield writer.writerow(AUDIT_CSV_COLUMNS)
            for event in events.iterator(chunk_size=2000):
                yield writer.writerow(
                    [
                        event.at.isoformat(),
                        event.actor.username if event.actor else "system",
                        event.action,
                        event.object_type,
                        event.object_id,
                        event.project.name if event.project else "",
                        event.summary,
                        json.dumps(event.before) if event.before is not None else "",
                        json.dumps(event.after) if event.after is not None else "",
                        event.request_id,
                        event.ip or "",
                    ]
                )

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="audit-{timezone.now():%Y%m%d-%H%M%S}.csv"'
        return response
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    model_names = _audit_model_names(request.user)
    return render(
        request,
        "registry/promotions/audit_log.html",
        {"page": page, "filters": filters, "model_names": model_names},
    )
