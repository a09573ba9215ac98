"""Monitoring API: ingest (ingest token), monitors, drift runs and alerts (session or user token)."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlopsportal.memory import freed_memory_released
from monitoring import jobs, selectors, services
from monitoring.ingest import BadBatch, format_for
from monitoring.models import (
    Alert,
    DriftRun,
    FeatureDriftResult,
    InferenceBatch,
    Monitor,
    NotificationChannel,
    RetrainEvent,
    RetrainTrigger,
)
from monitoring.schema import declared_types_parse
from monitoring.tasks import drift_run_enqueue
from registry import access
from registry.api_schema import ERROR_COMPONENT
from registry.errors import PortalError
from registry.parsers import DATABASE_INT_MAX, StrictJSONParser, storable_as_json
from registry.permissions import HasActionPermission
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
            request, lambda: services.ingest_token_check(monitor_id=monitor_id, key=_bearer(request))
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
            result = services.batch_ingest(
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


class FeatureResultOut(serializers.ModelSerializer):
    class Meta:
        model = FeatureDriftResult
        fields = [
            "feature",
            "kind",
            "role",
            "method",
            "statistic",
            "p_value",
            "threshold",
            "drifted",
            "reference_n",
            "current_n",
            "why",
            "scores",
        ]


class DriftRunOut(serializers.ModelSerializer):
    results = FeatureResultOut(many=True, read_only=True)

    class Meta:
        model = DriftRun
        fields = [
            "id",
            "window_start",
            "window_end",
            "status",
            "trigger",
            "rows",
            "batches",
            "drifted",
            "drifted_share",
            "why",
            "volume",
            "error",
            "results",
        ]


class MonitorOut(serializers.ModelSerializer):
    project = serializers.CharField(source="project.slug")
    url = serializers.CharField(source="get_absolute_url")
    status = serializers.SerializerMethodField()
    open_alerts = serializers.IntegerField(read_only=True)
    last_batch_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = Monitor
        fields = [
            "id", "project", "name", "model_name", "alias", "version", "expected_schema", "prediction_column",
            "label_column", "event_time_column", "numeric_method", "numeric_threshold", "categorical_method",
            "categorical_threshold", "drift_share", "window_seconds", "window_rows", "require_declared_types",
            "is_active", "status",
            "open_alerts", "last_batch_at", "url",
        ]  # fmt: skip

    def get_status(self, monitor: Monitor) -> str:
        return selectors.monitor_status(monitor)


class MonitorIn(serializers.Serializer):
    project = serializers.SlugField()
    name = serializers.CharField(max_length=120)
    model_name = serializers.CharField(max_length=255)
    alias = serializers.CharField(max_length=120, required=False, allow_blank=True, default="champion")
    version = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=DATABASE_INT_MAX, default=None
    )
    expected_schema = serializers.ListField(
        child=serializers.DictField(), required=False, allow_null=True, default=None, validators=[storable_as_json]
    )
    prediction_column = serializers.CharField(required=False, allow_blank=True, default="")
    label_column = serializers.CharField(required=False, allow_blank=True, default="")
    event_time_column = serializers.CharField(required=False, allow_blank=True, default="")
    drift_share = serializers.FloatField(required=False, min_value=0.01, max_value=1, default=0.5)
    window_seconds = serializers.IntegerField(required=False, min_value=60, max_value=366 * 86_400, default=86_400)
    window_rows = serializers.IntegerField(
        required=False, min_value=1, max_value=DATABASE_INT_MAX, allow_null=True, default=None
    )
    require_declared_types = serializers.BooleanField(required=False, default=False)


class ReferenceFromMlflowIn(serializers.Serializer):
    artifact_path = serializers.CharField(max_length=500)
    run_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class ChannelIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=NotificationChannel.Kind.choices)
    target = serializers.CharField(max_length=1000)
    secret = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data["kind"] == NotificationChannel.Kind.EMAIL:
            for address in [a.strip() for a in data["target"].split(",") if a.strip()]:
                serializers.EmailField().run_validation(address)
        else:
            serializers.URLField().run_validation(data["target"])
        return data


class ChannelOut(serializers.ModelSerializer):
    signed = serializers.SerializerMethodField(
        help_text="Webhook deliveries carry an HMAC signature (the secret is write-only)."
    )

    class Meta:
        model = NotificationChannel
        fields = ["id", "kind", "target", "is_active", "signed"]

    def get_signed(self, channel: NotificationChannel) -> bool:
        return bool(channel.secret)


OPTION_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"


@extend_schema_field(
    {
        "type": "object",
        "propertyNames": {"pattern": OPTION_NAME},
        "additionalProperties": {"type": "string", "maxLength": 500},
        "description": "Preset options, e.g. Kubeflow's pipeline_id, pipeline_version_id, experiment_id.",
    }
)
class TriggerOptionsField(serializers.DictField):
    """A preset's options: names like pipeline_id, text values (DRF refuses NUL and lone surrogates
    in text, which PostgreSQL's jsonb could not store)."""

    child = serializers.CharField(max_length=500, allow_blank=True)

    def to_internal_value(self, data: Any) -> dict[str, str]:
        options = super().to_internal_value(data)
        for name in options:
            if not re.fullmatch(OPTION_NAME, str(name)):
                raise serializers.ValidationError(f"Option names are a letter, then letters, digits or _: {name!r}.")
        return options


class TriggerIn(serializers.Serializer):
    url = serializers.URLField(max_length=500)
    preset = serializers.ChoiceField(choices=RetrainTrigger.Preset.choices, default=RetrainTrigger.Preset.GENERIC)
    options = TriggerOptionsField(required=False, default=dict)
    # Write-only: left out, the saved header is kept; "" removes it. Never returned.
    auth_header = serializers.CharField(max_length=500, required=False, allow_blank=True)
    on_drift = serializers.BooleanField(required=False, default=True)
    cooldown_hours = serializers.IntegerField(min_value=0, max_value=366 * 24, required=False, default=24)
    is_active = serializers.BooleanField(required=False, default=True)


class TriggerOut(serializers.ModelSerializer):
    has_auth_header = serializers.SerializerMethodField()

    class Meta:
        model = RetrainTrigger
        fields = ["url", "preset", "options", "on_drift", "cooldown_hours", "is_active", "has_auth_header"]

    def get_has_auth_header(self, trigger: RetrainTrigger) -> bool:
        return bool(trigger.auth_header)


class MuteIn(serializers.Serializer):
    until = serializers.DateTimeField()


class AlertOut(serializers.ModelSerializer):
    monitor_name = serializers.CharField(source="monitor.name")
    url = serializers.CharField(source="get_absolute_url")
    drifted_features = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="A window alert's drifted columns, inputs first."
    )

    class Meta:
        model = Alert
        fields = [
            "id",
            "monitor",
            "monitor_name",
            "kind",
            "feature",
            "drifted_features",
            "window_start",
            "severity",
            "status",
            "title",
            "detail",
            "occurrences",
            "muted_until",
            "created_at",
            "last_seen_at",
            "url",
        ]


class AlertBulkIn(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=DATABASE_INT_MAX),
        min_length=1,
        max_length=services.ALERT_BULK_MAX,
        help_text="The alerts to change; every one must be visible to the caller.",
    )
    action = serializers.ChoiceField(choices=services.ALERT_ACTIONS)
    until = serializers.DateTimeField(required=False, help_text="The mute's end; required with action=mute.")


class AlertBulkOut(serializers.Serializer):
    message = serializers.CharField()
    alerts = AlertOut(many=True)


def _error_answer(description: str) -> OpenApiResponse:
    return OpenApiResponse(response={"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}, description=description)


class RetrainEventOut(serializers.ModelSerializer):
    class Meta:
        model = RetrainEvent
        fields = ["id", "reason", "status", "attempts", "response_status", "created_at", "sent_at", "payload"]


class IngestTokenIn(serializers.Serializer):
    name = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")


class RunDriftIn(serializers.Serializer):
    window_start = serializers.DateTimeField(required=False, allow_null=True, help_text="Default: now.")


class MonitorViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Monitors the caller may see, their drift runs; engineers create monitors, upload references,
    mint ingest tokens, run drift now and trigger retraining."""

    serializer_class = MonitorOut
    permission_classes = [HasActionPermission]
    required_permissions = {
        "list": "monitoring.view_monitor",
        "retrieve": "monitoring.view_monitor",
        "runs": "monitoring.view_monitor",
        "create": "monitoring.add_monitor",
        "reference": "monitoring.change_monitor",
        "reference_from_mlflow": "monitoring.change_monitor",
        "tokens": "monitoring.change_monitor",
        "revoke_token": "monitoring.change_monitor",
        "channels": "monitoring.change_monitor",
        "retrain_trigger": "monitoring.change_monitor",
        "run_drift": "monitoring.run_drift",
        "retrain": "monitoring.trigger_retrain",
    }

    def get_queryset(self):  # noqa: ANN201 - DRF's signature
        return selectors.monitor_list_for(user=self.request.user)

    @extend_schema(request=MonitorIn, responses={201: MonitorOut})
    def create(self, request: Request) -> Response:
        data = MonitorIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        project = get_object_or_404(access.projects_visible_to(user=request.user), slug=fields.pop("project"))
        monitor = services.monitor_create(actor=request.user, project=project, **fields)
        return Response(MonitorOut(self.get_queryset().get(pk=monitor.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=DriftRunOut(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)  # the whole list, unpaginated
    def runs(self, request: Request, pk: str) -> Response:
        monitor = self.get_object()
        return Response(DriftRunOut(selectors.runs_for(monitor=monitor), many=True).data)

    @extend_schema(request={"text/csv": str, "application/vnd.apache.parquet": bytes}, responses={201: dict})
    @action(detail=True, methods=["post"], parser_classes=[RawBodyParser])
    def reference(self, request: Request, pk: str) -> Response:
        """Upload a reference dataset (CSV or Parquet body); it is profiled once and becomes current."""
        monitor = self.get_object()
        fmt = format_for(request.META.get("CONTENT_TYPE", ""))
        if fmt is None:
            raise BadBatch(
                "Send the reference as text/csv or application/vnd.apache.parquet.",
                code="unsupported_media_type",
                status=415,
            )
        # Parsed by RawBodyParser (so a browser session's CSRF check, which reads request.POST, parses too).
        body = request.data if isinstance(request.data, bytes) else b""
        with LargeBodySlots.held_for(len(body)):
            reference = services.reference_upload(actor=request.user, monitor_id=monitor.pk, body=body, fmt=fmt)
        return Response({"id": reference.pk, "rows": reference.rows, "features": sorted(reference.profile)}, status=201)

    @extend_schema(request=ReferenceFromMlflowIn, responses={201: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"], url_path="reference-from-mlflow")
    def reference_from_mlflow(self, request: Request, pk: str) -> Response:
        """Profile a CSV/Parquet artifact of a run in MLflow (`artifact_path`, optional `run_id`;
        without it, the run that trained the watched version)."""
        monitor = self.get_object()
        data = ReferenceFromMlflowIn(data=request.data)
        data.is_valid(raise_exception=True)
        reference = services.reference_from_mlflow(actor=request.user, monitor_id=monitor.pk, **data.validated_data)
        return Response({"id": reference.pk, "rows": reference.rows, "features": sorted(reference.profile)}, status=201)

    @extend_schema(
        request=IngestTokenIn,
        responses={
            201: inline_serializer(
                "IngestTokenNewOut",
                {"id": serializers.IntegerField(), "prefix": serializers.CharField(), "key": serializers.CharField()},
            )
        },
    )
    @action(detail=True, methods=["post"])
    def tokens(self, request: Request, pk: str) -> Response:
        """Mint an ingest token; its key is in this response only."""
        monitor = self.get_object()
        data = IngestTokenIn(data=request.data)
        data.is_valid(raise_exception=True)
        new = services.ingest_token_create(actor=request.user, monitor=monitor, name=data.validated_data["name"])
        return Response({"id": new.token.pk, "prefix": new.token.prefix, "key": new.key}, status=201)

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "IngestTokenRevokedOut",
            {
                "id": serializers.IntegerField(),
                "prefix": serializers.CharField(),
                "revoked_at": serializers.DateTimeField(),
            },
        ),
    )
    @action(detail=True, methods=["post"], url_path=r"tokens/(?P<token_id>\d+)/revoke")
    def revoke_token(self, request: Request, pk: str, token_id: str) -> Response:
        """Revoke an ingest token: batches sent with it get 401 from now on."""
        monitor = self.get_object()
        token = get_object_or_404(monitor.ingest_tokens, pk=int(token_id))
        token = services.ingest_token_revoke(actor=request.user, token_id=token.pk)
        return Response({"id": token.pk, "prefix": token.prefix, "revoked_at": token.revoked_at})

    @extend_schema(request=ChannelIn, responses=ChannelOut(many=True))
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def channels(self, request: Request, pk: str) -> Response:
        """List the monitor's notification channels, or add one (e-mail addresses or a webhook URL)."""
        monitor = self.get_object()
        # The addresses are the team's own: listing them takes the same rights as changing them.
        services.ensure_editable(monitor.project, request.user)
        if request.method == "POST":
            data = ChannelIn(data=request.data)
            data.is_valid(raise_exception=True)
            services.channel_add(actor=request.user, monitor=monitor, **data.validated_data)
        return Response(
            ChannelOut(monitor.channels.all(), many=True).data, status=201 if request.method == "POST" else 200
        )

    @extend_schema(request=TriggerIn, responses=TriggerOut)
    # JSON only: the options are an object, which a form or multipart body cannot carry faithfully.
    @action(detail=True, methods=["put"], url_path="retrain-trigger", parser_classes=[StrictJSONParser])
    def retrain_trigger(self, request: Request, pk: str) -> Response:
        """Set the retrain trigger: generic JSON or the Kubeflow preset, cooldown, on drift."""
        monitor = self.get_object()
        data = TriggerIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        trigger = services.retrain_trigger_set(actor=request.user, monitor=monitor, **fields)
        return Response(TriggerOut(trigger).data)

    @extend_schema(
        request=RunDriftIn,
        responses={
            202: inline_serializer(
                "DriftRunQueuedOut",
                {
                    "id": serializers.IntegerField(),
                    "window_start": serializers.DateTimeField(),
                    "status": serializers.CharField(),
                },
            )
        },
    )
    @action(detail=True, methods=["post"], url_path="run-drift")
    def run_drift(self, request: Request, pk: str) -> Response:
        """Queue a drift job for the current window (or `window_start`, ISO time)."""
        monitor = self.get_object()
        services.ensure_editable(monitor.project, request.user)
        data = RunDriftIn(data=request.data)
        data.is_valid(raise_exception=True)
        start = data.validated_data.get("window_start") or timezone.now()
        run = drift_run_enqueue(monitor_id=monitor.pk, window_start=start, trigger=DriftRun.Trigger.MANUAL)
        return Response({"id": run.pk, "window_start": run.window_start, "status": run.status}, status=202)

    @extend_schema(responses={202: RetrainEventOut})
    @action(detail=True, methods=["post"])
    def retrain(self, request: Request, pk: str) -> Response:
        monitor = self.get_object()
        services.ensure_editable(monitor.project, request.user)
        run = DriftRun.objects.filter(monitor=monitor, status=DriftRun.Status.DONE).order_by("-window_start").first()
        event = jobs.retrain_request(monitor=monitor, run=run, reason=RetrainEvent.Reason.MANUAL, actor=request.user)
        if event is None:
            raise BadBatch("This monitor has no active retrain trigger.", code="no_trigger", status=409)
        return Response(RetrainEventOut(event).data, status=202)


@extend_schema_view(  # the filters are the list's, not every action's
    list=extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=Alert.Status.values),
            OpenApiParameter("kind", str, enum=Alert.Kind.values),
            OpenApiParameter("severity", str, enum=Alert.Severity.values),
            OpenApiParameter(
                "monitor", {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}, description="A monitor's id"
            ),
        ]
    )
)
class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alerts across the monitors the caller may see; filter by status, kind, severity, monitor."""

    serializer_class = AlertOut
    permission_classes = [HasActionPermission]
    required_permissions = {
        "list": "monitoring.view_alert",
        "retrieve": "monitoring.view_alert",
        "acknowledge": "monitoring.change_alert",
        "resolve": "monitoring.change_alert",
        "mute": "monitoring.change_alert",
        "bulk": "monitoring.change_alert",
    }

    def get_queryset(self):  # noqa: ANN201
        if self.action != "list":
            return selectors.alerts_visible_to(user=self.request.user)
        return selectors.alerts_filtered(user=self.request.user, filters=self.request.query_params)

    @extend_schema(request=None, responses=AlertOut)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str) -> Response:
        alert = services.alert_acknowledge(actor=request.user, alert_id=self.get_object().pk)
        return Response(AlertOut(alert).data)

    @extend_schema(request=None, responses=AlertOut)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        alert = services.alert_resolve(actor=request.user, alert_id=self.get_object().pk)
        return Response(AlertOut(alert).data)

    @extend_schema(request=MuteIn, responses=AlertOut)
    @action(detail=True, methods=["post"])
    def mute(self, request: Request, pk: str) -> Response:
        alert = self.get_object()  # first: an alert the user may not see is missing, whatever the body
        data = MuteIn(data=request.data)
        data.is_valid(raise_exception=True)
        alert = services.alert_mute(actor=request.user, alert_id=alert.pk, until=data.validated_data["until"])
        return Response(AlertOut(alert).data)

    @extend_schema(
        request=AlertBulkIn,
        responses={
            200: AlertBulkOut,
            404: _error_answer("An id names no alert the caller may see; `fields.ids` lists them. Nothing changed."),
            409: _error_answer("An alert does not allow the action now (acknowledge: not open). Nothing changed."),
        },
    )
    # JSON only: a form or multipart body cannot carry the list of ids faithfully.
    @action(detail=False, methods=["post"], parser_classes=[StrictJSONParser])
    def bulk(self, request: Request) -> Response:
        """Acknowledge, resolve or mute many alerts at once: all of them, or, when any is refused, none."""
        data = AlertBulkIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        if fields["action"] == "mute" and "until" not in fields:
            raise PortalError("until: required to mute.", fields={"until": ["Required with action=mute."]})
        changed = services.alert_bulk_change(
            actor=request.user, alert_ids=fields["ids"], action=fields["action"], until=fields.get("until")
        )
        alerts = selectors.alerts_visible_to(user=request.user).filter(pk__in=[a.pk for a in changed]).order_by("pk")
        done = {"acknowledge": "acknowledged", "resolve": "resolved", "mute": "muted"}[fields["action"]]
        message = f"{len(changed)} alert{'s' if len(changed) != 1 else ''} {done}."
        return Response(AlertBulkOut({"message": message, "alerts": alerts}).data)
