"""How a page answers an action: the work queued, or the service's refusal (a `PortalError`). Actions
that a page posts without reloading (static/js/live-action.js: sync now, run drift now, trigger
retraining; the review page's decisions) follow the work's status themselves, so the post only has
to say whether the work was queued.

This is the one way a page turns a refusal into a response (the API has its own, in
registry/api_errors.py):
- a script posting an action gets the API's JSON error shape and status;
- "not allowed" (403) gets the Not allowed page with the service's reason;
- otherwise the message is flashed on the page the form came from, when the view says which
  (`redirect_to`), or shown on a page with the status.
A refusal a view does not handle reaches `PortalErrorPageMiddleware`, which answers the same way
instead of a 500.
"""

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

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


def action_refused(request: HttpRequest, *, error: PortalError, redirect_to: object = None) -> HttpResponse:
    if wants_json(request):
        return JsonResponse(
            error_body(error.status_code, error.code, error.message, error.fields), status=error.status_code
        )
    if error.status_code == 403:
        return render(request, "403.html", {"reason": error.message}, status=403)
    if redirect_to is not None:
        messages.error(request, error.message)
        return redirect(redirect_to)
    return render(request, "refused.html", {"error": error}, status=error.status_code)


class PortalErrorPageMiddleware:
    """A `PortalError` no page view handled becomes its 4xx page, never a 500. (API views answer
    through DRF's exception handler before an exception could reach here.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, PortalError):
            return action_refused(request, error=exception)
        return None
