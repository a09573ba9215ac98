"""Actions that a page posts without reloading (static/js/live-action.js: sync now, run drift now,
trigger retraining; the review page's decisions). The page then follows the work's status itself,
so the post only has to say whether the work was queued."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

from registry.api_errors import error_body
from registry.errors import PortalError


def wants_json(request: HttpRequest) -> bool:
    """A page's script posting an action asks for JSON; a plain form post gets a page."""
    return "application/json" in request.headers.get("Accept", "")


def action_queued(request: HttpRequest, *, message: str, redirect_to: object) -> HttpResponse:
    """202 with the message for the page's script (a flash message would surface on some later
    page); the usual flash message and redirect for a plain form post."""
    if wants_json(request):
        return JsonResponse({"message": message}, status=202)
    messages.success(request, message)
    return redirect(redirect_to)


def action_refused(request: HttpRequest, *, error: PortalError, redirect_to: object) -> HttpResponse:
    """The API's error shape and status for the page's script; a flash message otherwise."""
    if wants_json(request):
        return JsonResponse(
            error_body(error.status_code, error.code, error.message, error.fields), status=error.status_code
        )
    messages.error(request, error.message)
    return redirect(redirect_to)
