from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assessments import exports, selectors, services
from assessments.forms import LEVEL_CHOICE_ERROR, TEAM_LENGTH_ERROR, TEAM_MAX_LENGTH
from assessments.models import AnswerStatus, AttestedAnswer, ReviewState
from assessments.scoring.levels import MAX_LEVEL
from registry.pagination import StrictPageNumberPagination
from registry.permissions import HasActionPermission
from registry.selectors import projects_visible_to

VIEW = "assessments.view_scorecardsnapshot"


class PortfolioFilterIn(serializers.Serializer):
    """The portfolio's query parameters: a value no project can have is a 400 with a message, never
    handed to the database."""

    team = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=TEAM_MAX_LENGTH,
        error_messages={"max_length": TEAM_LENGTH_ERROR},
    )
    level = serializers.ChoiceField(
        choices=[str(n) for n in range(MAX_LEVEL + 1)],
        required=False,
        allow_blank=True,
        error_messages={"invalid_choice": LEVEL_CHOICE_ERROR},
    )


class PortfolioView(APIView):
    """Every project the caller may see, with its latest stored scorecard and the trend."""

    permission_classes = [HasActionPermission]
    required_permissions = {"GET": VIEW}

    @extend_schema(
        parameters=[
            OpenApiParameter("team", str, description="Only this team's projects."),
            OpenApiParameter(
                "level", int, enum=list(range(MAX_LEVEL + 1)), description="Only projects at this level (0-2)."
            ),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        filters = PortfolioFilterIn(data=request.query_params)
        filters.is_valid(raise_exception=True)
        level = filters.validated_data.get("level", "")
        rows = selectors.portfolio_for(
            user=request.user, team=filters.validated_data.get("team", ""), level=None if level == "" else int(level)
        )
        paginator = StrictPageNumberPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response([exports.portfolio_row_as_dict(row) for row in page])


class ScorecardView(APIView):
    """A project's scorecard computed now from the evidence and answers, with its stored history."""

    permission_classes = [HasActionPermission]
    required_permissions = {"GET": VIEW}

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, slug: str) -> Response:
        project = get_object_or_404(projects_visible_to(user=request.user), slug=slug)
        card = selectors.scorecard_compute(project=project)
        history = selectors.snapshot_history(project=project)
        return Response(exports.scorecard_as_dict(project=project, card=card, history=history))


class AnswerIn(serializers.Serializer):
    criterion = serializers.CharField(max_length=24, help_text="Code of an attested criterion, e.g. DOC-1.")
    status = serializers.ChoiceField(choices=AnswerStatus.choices)
    evidence_url = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")
    note = serializers.CharField(required=False, allow_blank=True, default="")


class AnswerView(APIView):
    """Engineers of the project answer an attested criterion (a pipeline may do it too)."""

    permission_classes = [HasActionPermission]
    required_permissions = {"POST": "assessments.change_attestedanswer"}

    @extend_schema(request=AnswerIn, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, slug: str) -> Response:
        project = get_object_or_404(projects_visible_to(user=request.user), slug=slug)
        data = AnswerIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        answer = services.answer_set(
            project=project,
            criterion_code=fields["criterion"],
            user=request.user,
            status=fields["status"],
            evidence_url=fields["evidence_url"],
            note=fields["note"],
        )
        return Response(
            {
                "criterion": answer.criterion.code,
                "status": answer.status,
                "evidence_url": answer.evidence_url,
                "note": answer.note,
                "answered_by": request.user.get_username(),
                "answered_at": answer.answered_at.isoformat(),
                "review_state": answer.review_state,
            },
            status=status.HTTP_201_CREATED,
        )


class ReviewIn(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[ReviewState.ACCEPTED, ReviewState.CHALLENGED])
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class ReviewView(APIView):
    """Reviewers and managers accept or challenge a project's answer (a challenge needs a comment)."""

    permission_classes = [HasActionPermission]
    required_permissions = {"POST": "assessments.review_attestedanswer"}

    @extend_schema(request=ReviewIn, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, slug: str, code: str) -> Response:
        project = get_object_or_404(projects_visible_to(user=request.user), slug=slug)
        answer = get_object_or_404(AttestedAnswer, project=project, criterion__code=code)
        data = ReviewIn(data=request.data)
        data.is_valid(raise_exception=True)
        answer = services.answer_review(answer_id=answer.pk, reviewer=request.user, **data.validated_data)
        return Response(
            {
                "criterion": code,
                "review_state": answer.review_state,
                "reviewed_by": request.user.get_username(),
                "reviewed_at": answer.reviewed_at.isoformat(),
                "review_comment": answer.review_comment,
            }
        )
