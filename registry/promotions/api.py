"""The promotion gate's API: create, list/filter, read with checks, approve/reject, cancel, retry,
and the audit log. Thin: serializers in and out, one service call per command."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from registry.models import AuditEvent
from registry.parsers import DATABASE_INT_MAX
from registry.permissions import HasActionPermission
from registry.promotions import selectors as gate_selectors
from registry.promotions.checks import CheckStatus
from registry.promotions.decisions import promotion_approve, promotion_reject, promotion_retry
from registry.promotions.models import PromotionDecision, PromotionRequest, PromotionState
from registry.promotions.requests import promotion_cancel, promotion_request_create, promotion_rollback_request


class CheckOut(serializers.Serializer):
    check = serializers.CharField()
    status = serializers.ChoiceField(choices=[check_status.value for check_status in CheckStatus])
    summary = serializers.CharField()
    details = serializers.DictField()


class DecisionOut(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.username")
    # The checks as they were when this decision was made (re-run in its transaction); null
    # checks_passed: decided before the gate re-ran checks at decision time.
    checks = CheckOut(many=True, read_only=True)
    checks_passed = serializers.BooleanField(allow_null=True, read_only=True)

    class Meta:
        model = PromotionDecision
        fields = ["reviewer", "verdict", "comment", "override_reason", "checks", "checks_passed", "at"]


class PromotionOut(serializers.ModelSerializer):
    model = serializers.CharField(source="registered_model.name")
    requested_by = serializers.CharField(source="requested_by.username")
    checks = CheckOut(many=True)
    decisions = DecisionOut(many=True, read_only=True)
    approvals = serializers.SerializerMethodField()
    alias_now = serializers.SerializerMethodField(help_text="The version the target alias points at now (mirror).")
    overridden = serializers.BooleanField(read_only=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = PromotionRequest
        fields = [
            "id",
            "model",
            "version",
            "target_alias",
            "state",
            "is_rollback",
            "requested_by",
            "justification",
            "run_id",
            "source",
            "signature_inputs",
            "holder_version",
            "alias_now",
            "checks",
            "checks_passed",
            "approvals",
            "approvals_required",
            "overridden",
            "override_reason",
            "reason",
            "decisions",
            "created_at",
            "decided_at",
            "promoted_at",
            "url",
        ]

    def get_alias_now(self, obj: PromotionRequest) -> int | None:
        version = (obj.registered_model.aliases or {}).get(obj.target_alias)
        return int(version) if version is not None else None

    def get_approvals(self, obj: PromotionRequest) -> int:
        annotated = getattr(obj, "approvals", None)
        if annotated is not None:
            return annotated
        return sum(1 for d in obj.decisions.all() if d.verdict == PromotionDecision.Verdict.APPROVE)


class PromotionIn(serializers.Serializer):
    model = serializers.CharField(max_length=500)
    version = serializers.IntegerField(min_value=1, max_value=DATABASE_INT_MAX, required=False)
    target_alias = serializers.CharField(max_length=255)
    justification = serializers.CharField()
    rollback = serializers.BooleanField(
        default=False, help_text="Point the alias back at its previous holder (version is then ignored)."
    )

    def validate(self, data: dict) -> dict:
        if not data.get("rollback") and data.get("version") is None:
            raise serializers.ValidationError({"version": ["Required unless rollback is true."]})
        return data


class ApproveIn(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    override_reason = serializers.CharField(required=False, allow_blank=True, default="")
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=DATABASE_INT_MAX,
        help_text="The version you reviewed; a mismatch is refused with 409.",
    )


class RejectIn(serializers.Serializer):
    comment = serializers.CharField()
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=DATABASE_INT_MAX,
        help_text="The version you reviewed; a mismatch is refused with 409.",
    )


@extend_schema_view(  # the filters are the list's, not every action's
    list=extend_schema(
        parameters=[
            OpenApiParameter("state", str, enum=[*PromotionState.values]),
            OpenApiParameter("model", str, description="Registered model name"),
            OpenApiParameter("target_alias", str),
            OpenApiParameter("requested_by", str, description="User name"),
        ]
    )
)
class PromotionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Promotion requests of the models the caller can see, newest first. Engineers create them;
    reviewers approve or reject; the requester cancels; reviewers retry failed ones."""

    serializer_class = PromotionOut
    permission_classes = [HasActionPermission]
    required_permissions = {
        "list": "registry.view_promotionrequest",
        "retrieve": "registry.view_promotionrequest",
        "create": "registry.add_promotionrequest",
        "approve": "registry.decide_promotionrequest",
        "reject": "registry.decide_promotionrequest",
        "cancel": "registry.view_promotionrequest",
        "retry": "registry.decide_promotionrequest",
    }

    def get_queryset(self) -> QuerySet[PromotionRequest]:
        promotions_qs = (
            gate_selectors.promotions_visible_to(user=self.request.user)
            .prefetch_related("decisions__reviewer")
            .order_by("-created_at", "-pk")
        )
        params = PromotionFilterIn(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        lookups = {
            "state": "state",
            "model": "registered_model__name",
            "target_alias": "target_alias",
            "requested_by": "requested_by__username",
        }
        for name, value in params.validated_data.items():
            if value not in ("", None):
                promotions_qs = promotions_qs.filter(**{lookups[name]: value})
        return promotions_qs

    def _out(self, promotion: PromotionRequest, code: int = status.HTTP_200_OK) -> Response:
        return Response(PromotionOut(self.get_queryset().get(pk=promotion.pk)).data, status=code)

    @extend_schema(request=PromotionIn, responses={201: PromotionOut})
    def create(self, request: Request) -> Response:
        data = PromotionIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if values["rollback"]:
            promotion = promotion_rollback_request(
                requester=request.user,
                model_name=values["model"],
                alias=values["target_alias"],
                justification=values["justification"],
                request=request._request,
            )
        else:
            promotion = promotion_request_create(
                requester=request.user,
                model_name=values["model"],
                version=values["version"],
                target_alias=values["target_alias"],
                justification=values["justification"],
                request=request._request,
            )
        return self._out(promotion, status.HTTP_201_CREATED)

    @extend_schema(request=ApproveIn, responses={200: PromotionOut})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        promotion = self.get_object()
        data = ApproveIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        promotion_approve(
            request_id=promotion.pk,
            reviewer=request.user,
            comment=values["comment"],
            override_reason=values["override_reason"],
            expected_version=values.get("version"),
            request=request._request,
        )
        return self._out(promotion)

    @extend_schema(request=RejectIn, responses={200: PromotionOut})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        promotion = self.get_object()
        data = RejectIn(data=request.data)
        data.is_valid(raise_exception=True)
        promotion_reject(
            request_id=promotion.pk,
            reviewer=request.user,
            comment=data.validated_data["comment"],
            expected_version=data.validated_data.get("version"),
            request=request._request,
        )
        return self._out(promotion)

    @extend_schema(request=None, responses={200: PromotionOut})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        promotion = self.get_object()
        promotion_cancel(request_id=promotion.pk, user=request.user, request=request._request)
        return self._out(promotion)

    @extend_schema(request=None, responses={200: PromotionOut})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        promotion = self.get_object()
        promotion_retry(request_id=promotion.pk, user=request.user, request=request._request)
        return self._out(promotion)


class AuditEventOut(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None, allow_null=True)
    project = serializers.CharField(source="project.slug", default=None, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "project",
            "summary",
            "before",
            "after",
            "data",
            "request_id",
            "ip",
        ]


class PromotionFilterIn(serializers.Serializer):
    """The list's filters, checked: an unknown state is a 400 naming the field."""

    state = serializers.ChoiceField(choices=PromotionState.choices, required=False, allow_blank=True)
    model = serializers.CharField(required=False, allow_blank=True)
    target_alias = serializers.CharField(required=False, allow_blank=True)
    requested_by = serializers.CharField(required=False, allow_blank=True)


class AuditFilterIn(serializers.Serializer):
    """The audit log's filters, checked: a date that is not YYYY-MM-DD is a 400 naming the field."""

    model = serializers.CharField(required=False, allow_blank=True, default="")
    user = serializers.CharField(required=False, allow_blank=True, default="")
    action = serializers.CharField(required=False, allow_blank=True, default="")
    since = serializers.DateField(required=False, input_formats=["iso-8601"])
    until = serializers.DateField(required=False, input_formats=["iso-8601"])

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # Present but empty is an error, not "no limit": a script that lost its date must not get the whole log.
        blank = {name: ["Not a YYYY-MM-DD date: empty."] for name in ("since", "until") if data.get(name) == ""}
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)


@extend_schema(
    parameters=[
        OpenApiParameter("model", str, description="Registered model name"),
        OpenApiParameter("user", str, description="Actor's user name"),
        OpenApiParameter("action", str, description="Action, or its prefix (e.g. promotion.)"),
        OpenApiParameter("since", OpenApiTypes.DATE),
        OpenApiParameter("until", OpenApiTypes.DATE),
    ]
)
class AuditEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The append-only audit log, newest first: events of projects the caller can see."""

    serializer_class = AuditEventOut
    permission_classes = [HasActionPermission]
    required_permissions = {"list": "registry.view_auditevent"}

    def get_queryset(self) -> QuerySet[AuditEvent]:
        params = AuditFilterIn(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return gate_selectors.audit_events_filter(
            gate_selectors.audit_events_visible_to(user=self.request.user), **params.validated_data
        )


router = SimpleRouter()
router.register("promotions", PromotionViewSet, basename="promotion")
router.register("audit-events", AuditEventViewSet, basename="audit-event")
promotion_api_urlpatterns = router.urls
