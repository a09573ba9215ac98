from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from registry.access import member_may, projects_visible_to
from registry.models import Project, ProjectMembership


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
    return member_may(user=user, project=project, permission="registry.change_project")
