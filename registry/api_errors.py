"""One JSON shape for every API error: {"error": {"status", "code", "message", "fields"}}."""

import logging
import sys
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from registry.errors import DatabaseUnavailable, PortalError, database_outage

logger = logging.getLogger(__name__)


def error_body(status: int, code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"status": status, "code": code, "message": message, "fields": fields or {}}}


def _message_of(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _message_of(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        inner = _message_of(value)
        return inner if key in ("non_field_errors", "detail") else f"{key}: {inner}"
    return str(detail)


def json_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif database_outage(exc):
        logger.warning("Database unavailable in %s: %s", context.get("view").__class__.__name__, exc)
        exc = DatabaseUnavailable()

    if isinstance(exc, PortalError):
        set_rollback()
        retry_after = getattr(exc, "retry_after", None)  # 503s the client should simply repeat
        return Response(
            error_body(exc.status_code, exc.code, exc.message, exc.fields),
            status=exc.status_code,
            headers={"Retry-After": str(retry_after)} if retry_after else None,
        )
    if isinstance(exc, exceptions.APIException):
        set_rollback()
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        fields = exc.detail if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict) else {}
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        return Response(
            error_body(exc.status_code, code, _message_of(exc.detail), fields), status=exc.status_code, headers=headers
        )

    # Anything else is our bug: log it with the traceback and still answer in JSON.
    set_rollback()
    logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
    return Response(
        error_body(500, "server_error", "The server hit an unexpected error; it has been logged."), status=500
    )


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def json_or_html_404(request: HttpRequest, exception: Exception | None = None) -> Any:
    if _wants_json(request):
        return JsonResponse(error_body(404, "not_found", f"No API endpoint at {request.path}."), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def json_or_html_500(request: HttpRequest) -> Any:
    # Django calls this while handling the exception, so it is still the current one. A database that
    # went away (a restart under traffic) is no bug of ours: 503 with Retry-After, for pages too.
    if database_outage(sys.exc_info()[1]):
        outage = DatabaseUnavailable()
        if _wants_json(request):
            response = JsonResponse(error_body(503, outage.code, outage.message), status=503)
        else:
            response = HttpResponse(render_to_string("503.html", {"message": outage.message}), status=503)
        response["Retry-After"] = str(outage.retry_after)
        return response
    if _wants_json(request):
        return JsonResponse(
            error_body(500, "server_error", "The server hit an unexpected error; it has been logged."), status=500
        )
    from django.views.defaults import server_error

    return server_error(request)


def json_or_html_403(request: HttpRequest, exception: Exception | None = None) -> Any:
    if _wants_json(request):
        return JsonResponse(error_body(403, "permission_denied", "You do not have permission to do this."), status=403)
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


def json_or_html_400(request: HttpRequest, exception: Exception | None = None) -> Any:
    if _wants_json(request):
        return JsonResponse(error_body(400, "bad_request", "The request could not be read."), status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)
