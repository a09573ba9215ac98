"""Creating users with roles: used by `manage.py add_user` and the demo."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction

from registry.roles import Role


def password_generate() -> str:
    return secrets.token_urlsafe(12)


@transaction.atomic
def user_upsert(
    *, username: str, roles: list[Role], email: str = "", password: str | None = None, full_name: str = ""
) -> tuple[AbstractUser, bool]:
    """Create the user or update the existing one: roles are set to exactly `roles`; the password
    changes only when one is given. Returns (user, created)."""
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username)
    if email:
        user.email = email
    if full_name:
        user.first_name, _, user.last_name = full_name.partition(" ")
    # Admins may use Django's admin site; nobody else needs it.
    user.is_staff = Role.ADMIN in roles
    if password is not None:
        user.set_password(password)
    elif created:
        user.set_unusable_password()
    user.save()
    user.groups.set(Group.objects.filter(name__in=[r.value for r in roles]))
    user.__dict__.pop("_portal_roles", None)  # roles_of() caches on the instance
    return user, created
