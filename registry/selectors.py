from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

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
    # A correlated subquery, not a join with GROUP BY: the database counts members for the one page
    # of projects shown instead of grouping every visible project first.
    member_count = (
        ProjectMembership.objects.filter(project=OuterRef("pk")).order_by().values("project").annotate(n=Count("*"))
    )
    return (
        projects_visible_to(user=user)
        .annotate(member_count=Coalesce(Subquery(member_count.values("n"), output_field=IntegerField()), Value(0)))
        .prefetch_related(Prefetch("memberships", queryset=memberships))
        .order_by("name")
    )


def project_editable_by(*, project: Project, user: AbstractBaseUser | AnonymousUser) -> bool:
    """Admins edit any project; engineers edit the projects they are members of."""
    if not user.is_authenticated or not user.has_perm("registry.change_project"):
        return False
    return is_admin(user) or project.memberships.filter(user=user).exists()
