from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Prefetch, Q, QuerySet

from .models import Project, ProjectMembership
from .roles import is_admin


def projects_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Project]:
    """Projects a user may see: internal ones and private ones they belong to; admins see all."""
    projects = Project.objects.all()
    if not user.is_authenticated:
        return projects.none()
    if not is_admin(user):
        # A subquery rather than a join, so later annotations count every membership.
        member_of = ProjectMembership.objects.filter(user=user).values("project_id")
        projects = projects.filter(Q(visibility=Project.Visibility.INTERNAL) | Q(pk__in=member_of))
    return projects


def project_list_for(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Project]:
    memberships = ProjectMembership.objects.select_related("user").order_by("role", "user__username")
    return (
        projects_visible_to(user=user)
        .annotate(member_count=Count("memberships", distinct=True))
        .prefetch_related(Prefetch("memberships", queryset=memberships))
    )


def project_editable_by(*, project: Project, user: AbstractBaseUser | AnonymousUser) -> bool:
    """Admins edit any project; engineers edit the projects they are members of."""
    if not user.is_authenticated or not user.has_perm("registry.change_project"):
        return False
    return is_admin(user) or project.memberships.filter(user=user).exists()
