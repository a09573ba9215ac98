"""The alerts page, and acknowledging, resolving and muting alerts one at a time or in bulk."""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from monitoring import forms, selectors
from monitoring.models import Alert
from monitoring.services import alerts
from registry.errors import PortalError
from registry.live import action_refused, wants_json


@login_required
@permission_required("monitoring.view_alert", raise_exception=True)
@require_GET
def alert_list(request: HttpRequest) -> HttpResponse:
    filters = {name: request.GET.get(name, "") for name in selectors.ALERT_FILTERS}
    form = forms.AlertFilterForm(request.GET)
    if form.is_valid():
        listed = selectors.alerts_filtered(user=request.user, filters=form.cleaned_data)
    else:
        listed = selectors.alerts_visible_to(user=request.user).none()
    page = Paginator(listed.order_by("-created_at"), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "monitoring/alert_list.html",
        {
            "page": page,
            "filters": filters,
            "filter_errors": form.error_lines(),
            "statuses": Alert.Status.choices,
            "kinds": Alert.Kind.choices,
            "severities": Alert.Severity.choices,
            "monitors": selectors.monitors_visible_to(user=request.user),
            "can_change": request.user.has_perm("monitoring.change_alert"),
        },
    )


def _mute_until(request: HttpRequest) -> datetime | None:
    """The mute's end from a form's datetime-local field, in the portal's time zone; None if empty."""
    text = request.POST.get("until", "").strip()
    if not text:
        return None
    try:
        until = datetime.fromisoformat(text)
    except ValueError as exc:
        raise PortalError("Give the mute's end as a date and time.", fields={"until": ["A date and time."]}) from exc
    return timezone.make_aware(until, timezone.get_current_timezone()) if timezone.is_naive(until) else until


def _back_to(request: HttpRequest, default: str) -> str:
    next_url = request.POST.get("next", "")
    if next_url and url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return next_url
    return default


def _alert_rows(request: HttpRequest, alerts: list[Alert]) -> dict[str, str]:
    """Each changed alert's table row as the page shows it, for the page's script to swap in."""
    context = {
        "show_monitor": request.POST.get("show_monitor") == "1",
        "can_change": True,
        "selectable": request.POST.get("selectable") == "1",
        "next_url": _back_to(request, ""),
    }
    return {
        str(alert.pk): render_to_string(
            "monitoring/_alert_rows.html", {**context, "alerts": [alert]}, request=request
        ).strip()
        for alert in alerts
    }


_DONE = {"acknowledge": "acknowledged", "resolve": "resolved", "mute": "muted"}


@login_required
@permission_required("monitoring.change_alert", raise_exception=True)
@require_POST
def alert_change(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    """Acknowledge, resolve or mute one alert. The page's script (static/js/alerts.js) asks for JSON
    and swaps the answer's row in place; a plain form post is redirected back."""
    alert = get_object_or_404(selectors.alerts_visible_to(user=request.user), pk=pk)
    if verb not in alerts.ALERT_ACTIONS:
        raise Http404
    back = _back_to(request, alert.monitor.get_absolute_url())
    try:
        if verb == "acknowledge":
            alert = alerts.alert_acknowledge(actor=request.user, alert_id=alert.pk)
        elif verb == "resolve":
            alert = alerts.alert_resolve(actor=request.user, alert_id=alert.pk)
        else:
            until = _mute_until(request)
            if until is None:
                raise PortalError("Give the mute's end as a date and time.", fields={"until": ["Required."]})
            alert = alerts.alert_mute(actor=request.user, alert_id=alert.pk, until=until)
    except PortalError as error:
        if error.status_code == 403 and not wants_json(request):
            raise PermissionDenied from error
        return action_refused(request, error=error, redirect_to=back)
    message = f"“{alert.title}” {_DONE[verb]}."
    if not wants_json(request):
        messages.success(request, message)
        return redirect(back)
    alert = selectors.alerts_visible_to(user=request.user).get(pk=alert.pk)
    return JsonResponse({"message": message, "status": alert.status, "rows": _alert_rows(request, [alert])})


@login_required
@permission_required("monitoring.change_alert", raise_exception=True)
@require_POST
def alert_bulk(request: HttpRequest) -> HttpResponse:
    """One action on the alerts ticked on a page (the monitor's alerts view, /alerts/): all of them
    or, if any is refused, none (alerts.alert_bulk_change)."""
    back = _back_to(request, reverse("monitoring:alert_list"))
    action = request.POST.get("action", "")
    raw_ids = request.POST.getlist("ids")
    try:
        if not all(i.isascii() and i.isdigit() and len(i) <= 18 for i in raw_ids):
            raise PortalError("ids: alert ids, numbers.", fields={"ids": ["Alert ids, numbers."]})
        changed = alerts.alert_bulk_change(
            actor=request.user,
            alert_ids=[int(i) for i in raw_ids],
            action=action,
            until=_mute_until(request) if action == "mute" else None,
        )
    except PortalError as error:
        return action_refused(request, error=error, redirect_to=back)
    count = len(changed)
    message = f"{count} alert{'s' if count != 1 else ''} {_DONE[action]}."
    if not wants_json(request):
        messages.success(request, message)
        return redirect(back)
    fresh = list(selectors.alerts_visible_to(user=request.user).filter(pk__in=[a.pk for a in changed]))
    return JsonResponse({"message": message, "rows": _alert_rows(request, fresh)})
