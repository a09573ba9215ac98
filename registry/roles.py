"""The four roles of the portal, as Django groups whose permissions are defined here.

A role is a group; what it may do is the permissions below. Pages and endpoints check
permissions, never group names, so an installation may grant a permission to a custom group.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.apps import AppConfig
from django.apps import apps as django_apps
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from django.db.models import Q


class Role(StrEnum):
    MANAGER = "Manager"
    REVIEWER = "Reviewer"
    ENGINEER = "Engineer"
    ADMIN = "Admin"


@dataclass(frozen=True)
class RoleDefinition:
    role: Role
    summary: str
    permissions: tuple[str, ...]  # "app_label.codename"; ignored for Admin, which gets all
    home_url_name: str  # where the home page sends a user of this role


# Reading the MLflow mirror (experiments, runs, models, versions); private projects' objects stay
# hidden from non-members whatever the permission.
MIRROR_READ = (
    "registry.view_experiment",
    "registry.view_run",
    "registry.view_registeredmodel",
    "registry.view_modelversion",
)

ROLE_DEFINITIONS: dict[Role, RoleDefinition] = {
    Role.MANAGER: RoleDefinition(
        role=Role.MANAGER,
        summary="Reads the portfolio and the projects' scorecards.",
        permissions=(
            "registry.view_project",
            *MIRROR_READ,
            "monitoring.view_monitor",
            "monitoring.view_alert",
            "assessments.view_scorecardsnapshot",
            "assessments.review_attestedanswer",
            "registry.view_promotionrequest",
            "registry.view_auditevent",
        ),
        home_url_name="assessments:portfolio",
    ),
    Role.REVIEWER: RoleDefinition(
        role=Role.REVIEWER,
        summary="Decides model promotions.",
        permissions=(
            "registry.view_project",
            *MIRROR_READ,
            "monitoring.view_monitor",
            "monitoring.view_alert",
            "assessments.view_scorecardsnapshot",
            "assessments.review_attestedanswer",
            "registry.view_promotionrequest",
            "registry.decide_promotionrequest",
            "registry.view_auditevent",
        ),
        home_url_name="registry:promotion_queue",
    ),
    Role.ENGINEER: RoleDefinition(
        role=Role.ENGINEER,
        summary="Runs projects: experiments, monitors, data and promotion requests.",
        permissions=(
            "registry.view_project",
            "registry.add_project",
            "registry.change_project",
            *MIRROR_READ,
            # link experiments and models to a project, see the sync status, start a sync
            "registry.change_experiment",
            "registry.change_registeredmodel",
            "registry.view_syncrun",
            "registry.sync_mlflow",
            "monitoring.view_monitor",
            "monitoring.add_monitor",
            "monitoring.change_monitor",
            "monitoring.run_drift",
            "monitoring.trigger_retrain",
            "monitoring.view_alert",
            "monitoring.change_alert",
            "assessments.view_scorecardsnapshot",
            "assessments.add_attestedanswer",
            "assessments.change_attestedanswer",
            "registry.view_promotionrequest",
            "registry.add_promotionrequest",
        ),
        home_url_name="monitoring:monitor_list",
    ),
    Role.ADMIN: RoleDefinition(
        role=Role.ADMIN,
        summary="Everything, including policies and users.",
        permissions=(),
        # What needs attention across the portal (failed syncs and promotions, critical alerts, ...).
        home_url_name="overview",
    ),
}
# When a user holds several roles, the home page follows the first in this order.
HOME_PRIORITY = (Role.ADMIN, Role.ENGINEER, Role.REVIEWER, Role.MANAGER)


def _permissions_named(names: Iterable[str]) -> list[Permission]:
    query = Q()
    wanted = set(names)
    for name in wanted:
        app_label, codename = name.split(".", 1)
        query |= Q(content_type__app_label=app_label, codename=codename)
    found = list(Permission.objects.filter(query).select_related("content_type")) if wanted else []
    missing = wanted - {f"{p.content_type.app_label}.{p.codename}" for p in found}
    if missing:
        raise LookupError(f"Role permissions name unknown permissions: {', '.join(sorted(missing))}")
    return found


def role_groups_sync() -> None:
    """Create the role groups and set exactly the permissions defined above."""
    for definition in ROLE_DEFINITIONS.values():
        group, _ = Group.objects.get_or_create(name=definition.role.value)
        if definition.role is Role.ADMIN:
            group.permissions.set(Permission.objects.all())
        else:
            group.permissions.set(_permissions_named(definition.permissions))


def sync_role_groups_after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    # post_migrate fires once per app that has models, in INSTALLED_APPS order; the permissions of
    # every app exist only once the last one has been handled.
    apps_with_models = [config for config in django_apps.get_app_configs() if config.models_module]
    if sender is apps_with_models[-1]:
        role_groups_sync()


def roles_of(user: AbstractBaseUser | AnonymousUser) -> list[Role]:
    if not user.is_authenticated:
        return []
    # Navigation, permissions and selectors all ask during one request: read the groups once per
    # user object (a fresh object per request, so a role change shows on the next request).
    cached: list[Role] | None = getattr(user, "_portal_roles", None)
    if cached is not None:
        return list(cached)
    names = {g.name for g in user.groups.all()}
    roles = [role for role in Role if role.value in names]
    if user.is_superuser and Role.ADMIN not in roles:
        roles.append(Role.ADMIN)
    user._portal_roles = roles
    return list(roles)


def home_url_name_for(user: AbstractBaseUser | AnonymousUser) -> str:
    held = roles_of(user)
    for role in HOME_PRIORITY:
        if role in held:
            return ROLE_DEFINITIONS[role].home_url_name
    return "registry:profile"
