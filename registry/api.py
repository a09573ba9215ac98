from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from registry import selectors, services
from registry.models import Project, ProjectMembership
from registry.permissions import SIGNED_IN, HasActionPermission
from registry.roles import roles_of

User = get_user_model()


class MemberOut(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = ProjectMembership
        fields = ["username", "role"]


class ProjectOut(serializers.ModelSerializer):
    members = MemberOut(source="memberships", many=True, read_only=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = Project
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "team",
            "visibility",
            "members",
            "url",
            "created_at",
            "updated_at",
        ]


class UsernameField(serializers.SlugRelatedField):
    """An active user named by username. A name holding a NUL character is refused before the lookup:
    PostgreSQL cannot compare with one, and the query failed with a 500 (schemathesis found it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="username", queryset=User.objects.filter(is_active=True), **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and "\x00" in data:
            self.fail("invalid")
        return super().to_internal_value(data)


class ProjectIn(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(allow_blank=True, required=False, default="")
    team = serializers.CharField(max_length=80, allow_blank=True, required=False, default="")
    visibility = serializers.ChoiceField(choices=Project.Visibility.choices, default=Project.Visibility.INTERNAL)
    leads = UsernameField(many=True, required=False)
    members = UsernameField(many=True, required=False)


class ProjectViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Projects the caller may see. Engineers create projects and edit those they belong to."""

    serializer_class = ProjectOut
    lookup_field = "slug"
    permission_classes = [HasActionPermission]
    required_permissions = {
        "list": "registry.view_project",
        "retrieve": "registry.view_project",
        "create": "registry.add_project",
        "update": "registry.change_project",
    }

    def get_queryset(self):  # noqa: ANN201 - DRF's signature
        return selectors.project_list_for(user=self.request.user)

    @extend_schema(request=ProjectIn, responses={201: ProjectOut})
    def create(self, request: Request) -> Response:
        data = ProjectIn(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_create(creator=request.user, **data.validated_data)
        return Response(ProjectOut(self.get_queryset().get(pk=project.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ProjectIn, responses={200: ProjectOut})
    def update(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        data = ProjectIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        fields.setdefault("leads", [m.user for m in project.memberships.all() if m.role == ProjectMembership.Role.LEAD])
        fields.setdefault(
            "members", [m.user for m in project.memberships.all() if m.role == ProjectMembership.Role.MEMBER]
        )
        services.project_update(project_id=project.pk, editor=request.user, **fields)
        return Response(ProjectOut(self.get_queryset().get(pk=project.pk)).data)


class MeOut(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.EmailField()
    roles = serializers.ListField(child=serializers.CharField())
    permissions = serializers.ListField(child=serializers.CharField())


class MeView(APIView):
    """Who the caller is: roles and permissions, so a client can tell what it may do."""

    permission_classes = [HasActionPermission]
    required_permissions = {"GET": SIGNED_IN}

    @extend_schema(responses=MeOut)
    def get(self, request: Request) -> Response:
        user = request.user
        return Response(
            MeOut(
                {
                    "username": user.username,
                    "email": user.email,
                    "roles": [role.value for role in roles_of(user)],
                    "permissions": sorted(user.get_all_permissions()),
                }
            ).data
        )
