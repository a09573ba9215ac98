"""Who may see and do what: the one place that decides.

Services, views, APIs and templates ask these predicates; nothing re-derives a rule. Every
identifier a request names, also indirectly in a body field (a model name, a run id), is resolved
through here before it is used, and an object the user may not see behaves exactly like one that
does not exist.

The rules:
- a project is visible to its members and, when internal, to every signed-in user; admins see all;
- an MLflow object (experiment, run, registered model, version) is visible when its project is, or
  when it belongs to no project yet (the mirror shows unassigned objects to every signed-in user;
  the same holds for an object MLflow has that the sync has not mirrored yet);
- changing a project's things takes the role's permission and membership of that project (or admin).

An admin is whoever holds `registry.oversee_all_projects` (the Admin role and superusers): every
check here is by permission, never by group name.
"""

from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from registry.models import Experiment, Project, ProjectMembership, RegisteredModel, Run

User = AbstractBaseUser | AnonymousUser

OVERSEE_ALL_PROJECTS = "registry.oversee_all_projects"


def oversees_all_projects(user: User) -> bool:
    """An admin: sees every project and may act in any of them as far as their role allows."""
    return user.is_authenticated and user.has_perm(OVERSEE_ALL_PROJECTS)


def users_overseeing_all_projects() -> QuerySet:
    """The active admins (superusers included), e.g. to tell them the gate was bypassed."""
    # with_perm needs the backend named when several are configured (axes sits in front).
    return get_user_model().objects.with_perm(
        OVERSEE_ALL_PROJECTS, is_active=True, backend="django.contrib.auth.backends.ModelBackend"
    )


def projects_visible_to(*, user: User) -> QuerySet[Project]:
    """Projects a user may see: internal ones and private ones they belong to; admins see all."""
    projects = Project.objects.all()
    if not user.is_authenticated:
        return projects.none()
    if not oversees_all_projects(user):
        # A subquery rather than a join, so later annotations count every membership.
        member_of = ProjectMembership.objects.filter(user=user).values("project_id")
        projects = projects.filter(Q(visibility=Project.Visibility.INTERNAL) | Q(pk__in=member_of))
    return projects


def visible_through_project(*, user: User, project_path: str = "project") -> Q:
    """Filter for objects reached through `project_path`: no project, or a project the user may see."""
    if oversees_all_projects(user):
        return Q()
    visible = projects_visible_to(user=user).values("pk")
    return Q(**{f"{project_path}__isnull": True}) | Q(**{f"{project_path}__in": visible})


def project_visible(*, user: User, project: Project | None) -> bool:
    if not user.is_authenticated:
        return False
    if project is None or oversees_all_projects(user):
        return True
    return projects_visible_to(user=user).filter(pk=project.pk).exists()


def member_may(*, user: User, project: Project | None, permission: str) -> bool:
    """The user's role grants `permission` and the user belongs to `project` (admins: any project).
    For objects of no project the permission alone decides."""
    if not user.is_authenticated or not user.has_perm(permission):
        return False
    if project is None or oversees_all_projects(user):
        return True
    return project.memberships.filter(user=user).exists()


def model_visible(*, user: User, registered_model: RegisteredModel) -> bool:
    return project_visible(user=user, project=registered_model.project)


def model_named(*, user: User, name: str) -> RegisteredModel | None:
    """The mirrored, live registered model called `name` if the user may see it, else None."""
    model = RegisteredModel.objects.select_related("project").filter(name=name, deleted_at__isnull=True).first()
    return model if model is not None and model_visible(user=user, registered_model=model) else None


def model_name_usable(*, user: User, name: str) -> bool:
    """May the user point something (a monitor) at the model called `name`? A model the mirror does
    not know yet belongs to no project, like any unassigned MLflow object."""
    model = RegisteredModel.objects.select_related("project").filter(name=name).first()
    return user.is_authenticated and (model is None or model_visible(user=user, registered_model=model))


def run_usable(*, user: User, run_id: str, experiment_in_mlflow: Callable[[str], str | None]) -> bool:
    """May the user read the run `run_id` (its artifacts)? For a run the mirror has not seen yet,
    `experiment_in_mlflow(run_id)` says which experiment MLflow has it in (None: MLflow does not
    know the run either); it is called only then."""
    if not user.is_authenticated:
        return False
    run = Run.objects.select_related("experiment__project").filter(run_id=run_id).first()
    if run is not None:
        return project_visible(user=user, project=run.experiment.project)
    experiment_id = experiment_in_mlflow(run_id)
    if experiment_id is None:
        return False
    experiment = Experiment.objects.select_related("project").filter(mlflow_id=experiment_id).first()
    return experiment is None or project_visible(user=user, project=experiment.project)


def projects_joined_by(*, user: User) -> QuerySet[Project]:
    """Projects the user is a member of; admins: all of them."""
    if not user.is_authenticated:
        return Project.objects.none()
    if oversees_all_projects(user):
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def promotion_cancellable_by(*, user: User, requested_by_id: int | None) -> bool:
    """A pending promotion request is withdrawn by whoever made it, or by an admin."""
    return user.is_authenticated and (user.pk == requested_by_id or oversees_all_projects(user))
