from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from registry.errors import Conflict, PermissionDenied, PortalError
from registry.models import ApiToken, Project, ProjectMembership
from registry.selectors import project_editable_by
from registry.tokens import API_TOKEN_PREFIX, PREFIX_SHOWN, secret_hash, secret_new


def _unique_slug(name: str, *, exclude_pk: int | None = None) -> str:
    base = slugify(name)[:100] or "project"
    slug, n = base, 2
    taken = Project.objects.exclude(pk=exclude_pk)
    while taken.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _members_set(*, project: Project, leads: Iterable[AbstractBaseUser], members: Iterable[AbstractBaseUser]) -> None:
    wanted: dict[int, str] = {user.pk: ProjectMembership.Role.MEMBER for user in members}
    wanted.update({user.pk: ProjectMembership.Role.LEAD for user in leads})
    if not any(role == ProjectMembership.Role.LEAD for role in wanted.values()):
        raise PortalError("A project needs at least one lead.", fields={"leads": ["Choose at least one lead."]})
    project.memberships.exclude(user_id__in=wanted).delete()
    for user_id, role in wanted.items():
        ProjectMembership.objects.update_or_create(project=project, user_id=user_id, defaults={"role": role})


@transaction.atomic
def project_create(
    *,
    creator: AbstractBaseUser,
    name: str,
    description: str = "",
    team: str = "",
    visibility: str = Project.Visibility.INTERNAL,
    leads: Iterable[AbstractBaseUser] = (),
    members: Iterable[AbstractBaseUser] = (),
) -> Project:
    if not creator.has_perm("registry.add_project"):
        raise PermissionDenied("Your role cannot create projects.")
    name = name.strip()
    if Project.objects.filter(name__iexact=name).exists():
        raise Conflict(f"A project named “{name}” already exists.", fields={"name": ["This name is taken."]})
    try:
        with transaction.atomic():
            project = Project.objects.create(
                name=name, slug=_unique_slug(name), description=description, team=team.strip(), visibility=visibility
            )
    except IntegrityError as exc:  # a concurrent create with the same name won the race
        raise Conflict(f"A project named “{name}” already exists.") from exc
    # Whoever creates a project leads it unless they name other leads.
    _members_set(project=project, leads=list(leads) or [creator], members=members)
    return project


@transaction.atomic
def project_update(
    *,
    project_id: int,
    editor: AbstractBaseUser,
    name: str,
    description: str,
    team: str,
    visibility: str,
    leads: Iterable[AbstractBaseUser],
    members: Iterable[AbstractBaseUser],
) -> Project:
    project = Project.objects.select_for_update().get(pk=project_id)
    if not project_editable_by(project=project, user=editor):
        raise PermissionDenied("Only the project's members with the Engineer role, or an admin, can edit it.")
    name = name.strip()
    if Project.objects.filter(name__iexact=name).exclude(pk=project.pk).exists():
        raise Conflict(f"A project named “{name}” already exists.", fields={"name": ["This name is taken."]})
    if name != project.name:
        project.slug = _unique_slug(name, exclude_pk=project.pk)
    project.name, project.description, project.team, project.visibility = name, description, team.strip(), visibility
    project.save()
    _members_set(project=project, leads=leads, members=members)
    return project


@transaction.atomic
def api_token_rotate(*, user: AbstractBaseUser) -> str:
    """A new API token for the user, replacing any old one at once; returns the key, which is not
    stored and so can be shown only now."""
    key = secret_new(API_TOKEN_PREFIX)
    ApiToken.objects.filter(user=user).delete()
    ApiToken.objects.create(user=user, prefix=key[:PREFIX_SHOWN], key_hash=secret_hash(key))
    return key
