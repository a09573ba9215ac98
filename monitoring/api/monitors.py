"""Monitors over the API: list and read them and their drift runs; create them, upload references,
mint ingest tokens, set channels and the retrain trigger, run drift now, trigger retraining."""

from __future__ import annotations

import re
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from monitoring import selectors
from monitoring.api.ingest import LargeBodySlots, RawBodyParser
from monitoring.ingest import BadBatch, format_for
from monitoring.models import (
    DriftRun,
    FeatureDriftResult,
    Monitor,
    NotificationChannel,
    RetrainEvent,
    RetrainTrigger,
)
from monitoring.services import drift_runs, ingest_tokens, monitors, notifications, references, retrain
from registry import access
from registry.parsers import DATABASE_INT_MAX, StrictJSONParser, storable_as_json
from registry.permissions import HasActionPermission


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
        monitor = monitors.monitor_create(actor=request.user, project=project, **fields)
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
            reference = references.reference_upload(actor=request.user, monitor_id=monitor.pk, body=body, fmt=fmt)
        return Response({"id": reference.pk, "rows": reference.rows, "features": sorted(reference.profile)}, status=201)

    @extend_schema(request=ReferenceFromMlflowIn, responses={201: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"], url_path="reference-from-mlflow")
    def reference_from_mlflow(self, request: Request, pk: str) -> Response:
        """Profile a CSV/Parquet artifact of a run in MLflow (`artifact_path`, optional `run_id`;
        without it, the run that trained the watched version)."""
        monitor = self.get_object()
        data = ReferenceFromMlflowIn(data=request.data)
        data.is_valid(raise_exception=True)
        reference = references.reference_from_mlflow(actor=request.user, monitor_id=monitor.pk, **data.validated_data)
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
        new = ingest_tokens.ingest_token_create(actor=request.user, monitor=monitor, name=data.validated_data["name"])
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
        token = ingest_tokens.ingest_token_revoke(actor=request.user, token_id=token.pk)
        return Response({"id": token.pk, "prefix": token.prefix, "revoked_at": token.revoked_at})

    @extend_schema(request=ChannelIn, responses=ChannelOut(many=True))
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def channels(self, request: Request, pk: str) -> Response:
        """List the monitor's notification channels, or add one (e-mail addresses or a webhook URL)."""
        monitor = self.get_object()
        # The addresses are the team's own: listing them takes the same rights as changing them.
        monitors.ensure_editable(monitor.project, request.user)
        if request.method == "POST":
            data = ChannelIn(data=request.data)
            data.is_valid(raise_exception=True)
            notifications.channel_add(actor=request.user, monitor=monitor, **data.validated_data)
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
        trigger = retrain.retrain_trigger_set(actor=request.user, monitor=monitor, **fields)
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
        monitors.ensure_editable(monitor.project, request.user)
        data = RunDriftIn(data=request.data)
        data.is_valid(raise_exception=True)
        start = data.validated_data.get("window_start") or timezone.now()
        run = drift_runs.drift_run_enqueue(monitor_id=monitor.pk, window_start=start, trigger=DriftRun.Trigger.MANUAL)
        return Response({"id": run.pk, "window_start": run.window_start, "status": run.status}, status=202)

    @extend_schema(responses={202: RetrainEventOut})
    @action(detail=True, methods=["post"])
    def retrain(self, request: Request, pk: str) -> Response:
        monitor = self.get_object()
        monitors.ensure_editable(monitor.project, request.user)
        run = DriftRun.objects.filter(monitor=monitor, status=DriftRun.Status.DONE).order_by("-window_start").first()
        event = retrain.retrain_request(monitor=monitor, run=run, reason=RetrainEvent.Reason.MANUAL, actor=request.user)
        if event is None:
            raise BadBatch("This monitor has no active retrain trigger.", code="no_trigger", status=409)
        return Response(RetrainEventOut(event).data, status=202)
