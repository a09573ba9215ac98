"""Request bodies as HTTP/1.1 clients send them, connections that stay usable after an early answer,
and query strings the database can compare.

Two gaps between Django and the WSGI server, closed here, outermost in the middleware:

- Django reads a body only as far as `Content-Length` says, so a `Transfer-Encoding: chunked` body
  (which has none) looked empty: a pipeline streaming its batch was told "The batch is empty". The
  server (gunicorn) decodes the chunks and marks the input as terminated; we read it, within the
  largest body the portal accepts, and hand Django a body with its length.
- When a view answers before reading the body (a wrong token, an unknown monitor, a wrong content
  type), the unread bytes stay in the socket. gunicorn drains at most 64 KB and otherwise closes a
  connection it has just called keep-alive, so a client that pools connections (every pipeline
  using `requests.Session`) got `RemoteDisconnected` on its next request. We drain what is left,
  up to the same limit; beyond it the body was never acceptable and gunicorn closes the connection.

And one guard: a NUL in a query string is refused before any view (NoNulInQueryMiddleware).
"""

import io
from collections.abc import Callable

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse

from registry.api_errors import error_body

READ_SIZE = 64 * 1024


def max_request_body_bytes() -> int:
    """The largest body any endpoint accepts: a batch at the limit plus multipart framing."""
    return settings.MONITORING_MAX_BATCH_BYTES + READ_SIZE


def _sent_chunked(request: HttpRequest) -> bool:
    return (
        "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        and not request.META.get("CONTENT_LENGTH")
        and bool(request.META.get("wsgi.input_terminated"))
    )


def _too_large(request: HttpRequest, limit: int) -> HttpResponse:
    message = f"The request body is larger than {limit} bytes."
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(413, "too_large", message), status=413)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


class NoNulInQueryMiddleware:
    """A query string with a NUL character gets 400 before any view runs: PostgreSQL can neither
    store nor compare text holding one, so a filter like `?target_alias=%00` was a 500 there."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()):
            message = "The query string holds a NUL character."
            if request.path.startswith("/api/"):
                return JsonResponse(error_body(400, "invalid", message), status=400)
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class RequestBodyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = max_request_body_bytes()
        if _sent_chunked(request):
            body = request.META["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return _too_large(request, limit)
            request.META["CONTENT_LENGTH"] = str(len(body))
            request._stream = LimitedStream(io.BytesIO(body), len(body))
        response = self.get_response(request)
        self._drain_unread(request, limit)
        return response

    @staticmethod
    def _drain_unread(request: HttpRequest, limit: int) -> None:
        stream = request.__dict__.get("_stream")
        if not isinstance(stream, LimitedStream):  # Django replaced it: the body was read whole
            return
        if stream.limit - stream._pos > limit:
            return  # never acceptable; gunicorn closes the connection rather than read it all
        while stream.read(READ_SIZE):
            pass
