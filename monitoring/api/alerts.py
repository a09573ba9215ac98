"""Alerts over the API: the filtered list, and acknowledging, resolving and muting, one or many."""

from __future__ import annotations

from collections.abc import Mapping

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from monitoring import selectors
from monitoring.models import (
    Alert,
)
from monitoring.services import alerts
from registry.api_schema import ERROR_COMPONENT
from registry.errors import PortalError
from registry.parsers import DATABASE_INT_MAX, StrictJSONParser
from registry.permissions import HasActionPermission

MONITOR_ID_ERROR = "give a monitor's id, a number."


class AlertFiltersIn(serializers.Serializer):
    """The list's query parameters: a value no alert can have is a 400 naming the parameter, never
    passed to the database (a NUL or a non-number there is a server error). Empty ones are ignored."""

    status = serializers.ChoiceField(choices=Alert.Status.choices, required=False)
    kind = serializers.ChoiceField(choices=Alert.Kind.choices, required=False)
    severity = serializers.ChoiceField(choices=Alert.Severity.choices, required=False)
    monitor = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=10**18 - 1,
        error_messages={"invalid": MONITOR_ID_ERROR, "min_value": MONITOR_ID_ERROR, "max_value": MONITOR_ID_ERROR},
    )

    @classmethod
    def checked(cls, params: Mapping[str, str]) -> dict[str, object]:
        """The given filters, checked (ValidationError: 400 with `fields`)."""
        given = {name: params.get(name, "").strip() for name in cls().fields}  # "open " is "open", as it always was
        filters = cls(data={name: value for name, value in given.items() if value})
        filters.is_valid(raise_exception=True)
        return dict(filters.validated_data)


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
        max_length=alerts.ALERT_BULK_MAX,
        help_text="The alerts to change; every one must be visible to the caller.",
    )
    action = serializers.ChoiceField(choices=alerts.ALERT_ACTIONS)
    until = serializers.DateTimeField(required=False, help_text="The mute's end; required with action=mute.")


class AlertBulkOut(serializers.Serializer):
    message = serializers.CharField()
    alerts = AlertOut(many=True)


def _error_answer(description: str) -> OpenApiResponse:
    return OpenApiResponse(response={"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}, description=description)


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
        filters = AlertFiltersIn.checked(self.request.query_params)
        return selectors.alerts_filtered(user=self.request.user, filters=filters)

    @extend_schema(request=None, responses=AlertOut)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str) -> Response:
        alert = alerts.alert_acknowledge(actor=request.user, alert_id=self.get_object().pk)
        return Response(AlertOut(alert).data)

    @extend_schema(request=None, responses=AlertOut)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        alert = alerts.alert_resolve(actor=request.user, alert_id=self.get_object().pk)
        return Response(AlertOut(alert).data)

    @extend_schema(request=MuteIn, responses=AlertOut)
    @action(detail=True, methods=["post"])
    def mute(self, request: Request, pk: str) -> Response:
        alert = self.get_object()  # first: an alert the user may not see is missing, whatever the body
        data = MuteIn(data=request.data)
        data.is_valid(raise_exception=True)
        alert = alerts.alert_mute(actor=request.user, alert_id=alert.pk, until=data.validated_data["until"])
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
        changed = alerts.alert_bulk_change(
            actor=request.user, alert_ids=fields["ids"], action=fields["action"], until=fields.get("until")
        )
        fresh = selectors.alerts_visible_to(user=request.user).filter(pk__in=[a.pk for a in changed]).order_by("pk")
        done = {"acknowledge": "acknowledged", "resolve": "resolved", "mute": "muted"}[fields["action"]]
        message = f"{len(changed)} alert{'s' if len(changed) != 1 else ''} {done}."
        return Response(AlertBulkOut({"message": message, "alerts": fresh}).data)
