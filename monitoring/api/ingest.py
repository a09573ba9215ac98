"""Batch ingest: a serving system posts a batch with the monitor's ingest token; bodies read within
their limits, large ones a few at a time."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http.multipartparser import MultiPartParserError
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlopsportal.memory import freed_memory_released
from monitoring.ingest import BadBatch, format_for
from monitoring.models import (
    InferenceBatch,
)
from monitoring.schema import declared_types_parse
from monitoring.services import batches, ingest_tokens
from registry.errors import PortalError
from registry.throttling import IngestThrottle, credential_checked


class SchemaMismatchOut(serializers.Serializer):
    diffs = serializers.ListField(child=serializers.DictField())


class BatchOut(serializers.ModelSerializer):
    schema_mismatch = serializers.SerializerMethodField()

    class Meta:
        model = InferenceBatch
        fields = [
            "id",
            "monitor",
            "received_at",
            "event_time",
            "rows",
            "format",
            "size_bytes",
            "status",
            "columns",
            "schema_mismatch",
        ]

    def get_schema_mismatch(self, batch: InferenceBatch) -> dict[str, Any] | None:
        mismatch = getattr(batch, "schema_mismatch", None)
        return {"diffs": mismatch.diffs} if mismatch else None


class RawBodyParser(BaseParser):
    """The body as bytes, read within the batch size limit, for actions that take a file as their
    body. DRF then has a parser for the request: a session's CSRF check reads request.POST, which
    without one answered every browser upload with 415. The action checks the content type itself."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> bytes:
        body = stream.read(settings.MONITORING_MAX_BATCH_BYTES + 1) if stream is not None else b""
        request = (parser_context or {}).get("request")
        _check_complete(body, request.META if request is not None else {})
        return body


def _check_complete(body: bytes, meta: Any) -> None:
    """A client that dies mid-upload leaves a body shorter than its Content-Length; stored, it would
    be a batch cut at a random row."""
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    read_whole = len(body) <= settings.MONITORING_MAX_BATCH_BYTES  # else the size check answers 413
    if read_whole and 0 < len(body) < declared:
        raise BadBatch(
            f"The body ended after {len(body)} of the {declared} bytes its Content-Length announced; "
            "nothing was stored.",
            code="truncated",
        )


class Busy(PortalError):
    status_code = 503
    code = "busy"
    retry_after = 5


class LargeBodySlots:
    """At most MONITORING_LARGE_BODIES_AT_ONCE large bodies are read and parsed at a time in this
    process; the others wait up to WAIT_SECONDS for a turn, then get 503 with Retry-After (pipelines
    retry). Memory, not CPU, is the reason: see the setting."""

    WAIT_SECONDS = 20.0
    _semaphore: threading.BoundedSemaphore | None = None
    _lock = threading.Lock()

    @classmethod
    def semaphore(cls) -> threading.BoundedSemaphore:
        with cls._lock:
            if cls._semaphore is None:
                cls._semaphore = threading.BoundedSemaphore(settings.MONITORING_LARGE_BODIES_AT_ONCE)
            return cls._semaphore

    @classmethod
    @contextlib.contextmanager
    def held_for(cls, size: int) -> Iterator[None]:
        """Around reading and parsing a body of `size` bytes. Afterwards the memory the parse freed
        is given back to the system whatever the size: a small Parquet body may decompress to the
        cap (128 MiB), and glibc would keep those pages in the process."""
        large = size >= settings.MONITORING_LARGE_BODY_BYTES
        if large and not cls.semaphore().acquire(timeout=cls.WAIT_SECONDS):
            raise Busy("This server is reading other large batches; send this one again in a few seconds.")
        try:
            yield
        finally:
            if large:
                cls.semaphore().release()
            freed_memory_released()


def _declared_length(request: Request) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def _bearer(request: Request) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.META.get("HTTP_X_INGEST_TOKEN", "").strip()


class BatchIngestView(APIView):
    """POST an inference batch: JSON records, CSV or Parquet, as the body (Content-Type) or as a
    multipart file field "file". Authenticated by the monitor's ingest token
    (`Authorization: Bearer <token>`), which is this endpoint's permission. An `Idempotency-Key`
    header makes a retried post a no-op that returns the first batch."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]  # the ingest token, checked below, is the permission
    parser_classes: list[type] = []  # the body is read raw, within the size limit
    throttle_classes = [IngestThrottle]

    @extend_schema(
        request={"application/json": dict, "text/csv": str, "application/vnd.apache.parquet": bytes},
        responses={201: BatchOut, 200: BatchOut},
        parameters=[
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False),
            OpenApiParameter(
                "X-Column-Types",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="For JSON and CSV: the exact type of each column, e.g. a=float32,b=float64 "
                "(MLflow or NumPy names), compared type for type with the model's signature.",
            ),
        ],
    )
    def post(self, request: Request, monitor_id: int) -> Response:
        monitor = credential_checked(
            request, lambda: ingest_tokens.ingest_token_check(monitor_id=monitor_id, key=_bearer(request))
        )
        key = request.META.get("HTTP_IDEMPOTENCY_KEY", "").strip()
        if len(key) > 200:
            raise BadBatch("The Idempotency-Key is longer than 200 characters.", code="invalid")
        try:
            column_types = declared_types_parse(request.META.get("HTTP_X_COLUMN_TYPES", ""))
        except ValueError as exc:
            raise BadBatch(f"X-Column-Types: {exc}", code="invalid") from exc
        with LargeBodySlots.held_for(_declared_length(request)):
            body, fmt = _batch_body(request)
            result = batches.batch_ingest(
                monitor=monitor, body=body, fmt=fmt, idempotency_key=key, declared_types=column_types
            )
        headers = {} if result.created else {"Idempotent-Replayed": "true"}
        return Response(
            BatchOut(result.batch).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
            headers=headers,
        )


def _batch_body(request: Request) -> tuple[bytes, str]:
    """The batch's bytes and format, from the body or a multipart file field "file", within the limit."""
    limit = settings.MONITORING_MAX_BATCH_BYTES
    declared = _declared_length(request)
    if declared > limit + 64 * 1024:  # room for multipart framing
        raise BadBatch(f"The request is {declared} bytes; the limit is {limit}.", code="too_large", status=413)
    content_type = request.META.get("CONTENT_TYPE", "")
    django_request = request._request
    if content_type.startswith("multipart/form-data"):
        try:
            upload = django_request.FILES.get("file")
        except (MultiPartParserError, SuspiciousOperation) as exc:  # no boundary, too many fields or files
            raise BadBatch(f"The multipart body cannot be read: {exc}", code="parse_error") from exc
        if upload is None:
            raise BadBatch('Send the batch as the multipart file field "file".', code="parse_error")
        if upload.size > limit:
            raise BadBatch(f"The file is {upload.size} bytes; the limit is {limit}.", code="too_large", status=413)
        body = upload.read()
        fmt = format_for(upload.content_type or "", upload.name or "")
    else:
        body = django_request.read(limit + 1)
        _check_complete(body, request.META)
        fmt = format_for(content_type)
    if not body:
        raise BadBatch("The batch is empty.", code="empty")
    if fmt is None:
        raise BadBatch(
            "Unsupported content type: send application/json, text/csv or application/vnd.apache.parquet.",
            code="unsupported_media_type",
            status=415,
        )
    return body, fmt
