"""REST API of the MLflow mirror: sync status, experiments, runs, registered models and versions."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.api_errors import error_body
from registry.errors import MlflowUnavailable, PortalError
from registry.mirror import selectors as mirror_selectors
from registry.mirror import services as mirror_services
from registry.models import Experiment, ModelVersion, RegisteredModel, Run, SyncRun
from registry.permissions import HasActionPermission


class SyncRunOut(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.username", default=None, allow_null=True)

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "kind",
            "status",
            "target",
            "mlflow_uri",
            "started_at",
            "finished_at",
            "duration_ms",
            "counts",
            "error",
            "requested_by",
        ]


class SyncStatusOut(serializers.Serializer):
    mlflow_uri = serializers.CharField()
    running = SyncRunOut(allow_null=True)
    last_incremental = SyncRunOut(allow_null=True)
    last_full = SyncRunOut(allow_null=True)
    last_failure = SyncRunOut(allow_null=True)
    recent = SyncRunOut(many=True)


class SyncIn(serializers.Serializer):
    full = serializers.BooleanField(default=False, help_text="A full reconcile instead of an incremental pass.")


class SyncQueuedOut(serializers.Serializer):
    queued = serializers.BooleanField()
    kind = serializers.CharField()


class SyncStatusView(APIView):
    """The state of the MLflow sync (GET), or queue a sync pass now (POST, engineers)."""

    permission_classes = [HasActionPermission]
    required_permissions = {"GET": "registry.view_syncrun", "POST": "registry.sync_mlflow"}

    @extend_schema(responses=SyncStatusOut)
    def get(self, request: Request) -> Response:
        status_now = mirror_selectors.sync_status(mlflow_uri=settings.MLFLOW_TRACKING_URI, user=request.user)
        return Response(SyncStatusOut(status_now).data)

    @extend_schema(request=SyncIn, responses={202: SyncQueuedOut})
    def post(self, request: Request) -> Response:
        data = SyncIn(data=request.data)
        data.is_valid(raise_exception=True)
        full = data.validated_data["full"]
        mirror_services.sync_request(user=request.user, full=full)
        return Response(
            {"queued": True, "kind": SyncRun.Kind.FULL if full else SyncRun.Kind.INCREMENTAL},
            status=status.HTTP_202_ACCEPTED,
        )


class ExperimentOut(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    run_count = serializers.IntegerField(read_only=True, default=0, allow_null=True)
    last_run_activity = serializers.DateTimeField(read_only=True, allow_null=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = Experiment
        fields = [
            "mlflow_id",
            "name",
            "lifecycle_stage",
            "tags",
            "created_at",
            "updated_at",
            "deleted_at",
            "project",
            "run_count",
            "last_run_activity",
            "url",
        ]


class RunOut(serializers.ModelSerializer):
    experiment = serializers.CharField(source="experiment.mlflow_id", read_only=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = Run
        fields = [
            "run_id",
            "experiment",
            "name",
            "status",
            "start_time",
            "end_time",
            "user",
            "params",
            "metrics",
            "tags",
            "source_name",
            "source_type",
            "git_commit",
            "datasets",
            "logged_models",
            "deleted_at",
            "url",
        ]


class PointOut(serializers.Serializer):
    step = serializers.IntegerField()
    timestamp = serializers.IntegerField()
    value = serializers.FloatField(allow_null=True)


class MetricHistoryOut(serializers.Serializer):
    run_id = serializers.CharField()
    key = serializers.CharField()
    points = PointOut(many=True)


class ColumnOut(serializers.Serializer):
    name = serializers.CharField(allow_null=True)
    type = serializers.CharField()
    required = serializers.BooleanField()


@extend_schema_field(ColumnOut(many=True, allow_null=True))
class SignatureField(serializers.JSONField):
    """The stored columns as they are: a nested serializer per column costs more than the whole page."""


class ModelVersionOut(serializers.ModelSerializer):
    model = serializers.CharField(source="registered_model.name", read_only=True)
    signature_inputs = SignatureField(read_only=True, allow_null=True)
    signature_outputs = SignatureField(read_only=True, allow_null=True)

    class Meta:
        model = ModelVersion
        fields = [
            "model",
            "version",
            "run_id",
            "model_id",
            "status",
            "source",
            "description",
            "tags",
            "aliases",
            "signature_inputs",
            "signature_outputs",
            "created_at",
            "updated_at",
            "deleted_at",
        ]


class RegisteredModelOut(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    versions = ModelVersionOut(many=True, read_only=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = RegisteredModel
        fields = [
            "name",
            "description",
            "tags",
            "aliases",
            "created_at",
            "updated_at",
            "deleted_at",
            "project",
            "versions",
            "url",
        ]


class ExperimentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Experiments mirrored from MLflow (`?q=` searches names), with run counts and last activity."""

    serializer_class = ExperimentOut
    lookup_field = "mlflow_id"
    permission_classes = [HasActionPermission]
    required_permissions = {"list": "registry.view_experiment", "retrieve": "registry.view_experiment"}

    def get_queryset(self):  # noqa: ANN201 - DRF's signature
        return mirror_selectors.experiment_list_for(
            user=self.request.user, search=self.request.query_params.get("q", ""), include_deleted=True
        )


class RunFilterIn(serializers.Serializer):
    """The runs list's filters, checked: a status MLflow does not have is a 400 naming the field."""

    experiment = serializers.CharField(required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=Run.Status.choices, required=False, allow_blank=True)


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Runs mirrored from MLflow, newest first; `?experiment=<mlflow id>` and `?status=` filter."""

    serializer_class = RunOut
    lookup_field = "run_id"
    permission_classes = [HasActionPermission]
    required_permissions = {
        "list": "registry.view_run",
        "retrieve": "registry.view_run",
        "history": "registry.view_run",
    }

    def get_queryset(self):  # noqa: ANN201 - DRF's signature
        runs = mirror_selectors.runs_visible_to(user=self.request.user).order_by("-start_time", "-pk")
        filters = RunFilterIn(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        if experiment := filters.validated_data.get("experiment"):
            runs = runs.filter(experiment__mlflow_id=experiment)
        if run_status := filters.validated_data.get("status"):
            runs = runs.filter(status=run_status)
        return runs

    @extend_schema(
        parameters=[OpenApiParameter("key", str, required=True, description="The metric key")],
        responses=MetricHistoryOut,
    )
    @action(detail=True, methods=["get"])
    def history(self, request: Request, run_id: str) -> Response:
        """A metric's full history (fetched from MLflow once, then cached)."""
        run = self.get_object()
        key = request.query_params.get("key", "")
        if key not in run.metrics:
            raise PortalError(f"Run {run_id} has no metric “{key}”.", fields={"key": ["Unknown metric."]})
        try:
            points = mirror_services.metric_histories(run=run, keys=[key])[key]
        except MlflowUnavailable as exc:
            return Response(error_body(503, "mlflow_unavailable", str(exc)), status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(
            {
                "run_id": run.run_id,
                "key": key,
                "points": [{"step": p[0], "timestamp": p[1], "value": p[2]} for p in points],
            }
        )


class RegisteredModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Registered models with their aliases and versions (signatures included)."""

    serializer_class = RegisteredModelOut
    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    permission_classes = [HasActionPermission]
    required_permissions = {
        "list": "registry.view_registeredmodel",
        "retrieve": "registry.view_registeredmodel",
        "versions": "registry.view_modelversion",
    }

    def get_queryset(self):  # noqa: ANN201 - DRF's signature
        return (
            mirror_selectors.model_detail_for(user=self.request.user).filter(deleted_at__isnull=True).order_by("name")
        )

    @extend_schema(responses=ModelVersionOut(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)  # the whole list, unpaginated
    def versions(self, request: Request, name: str) -> Response:
        """The model's versions, newest first."""
        model = self.get_object()
        return Response(ModelVersionOut(model.versions.all(), many=True).data)
