"""`manage.py demo` and `manage.py add_user`."""

import io
import json

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from registry.models import Project, ProjectMembership

pytestmark = pytest.mark.django_db


def _login_request():
    """A sign-in request: the login throttle (django-axes) counts attempts per request's address."""
    from django.test import RequestFactory

    return RequestFactory().post("/login/")


def test_demo_creates_a_user_per_role_with_working_printed_passwords_and_is_idempotent(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("demo", stdout=out)
    logins = json.loads((tmp_path / "demo_logins.json").read_text())
    counts = (get_user_model().objects.count(), Project.objects.count(), ProjectMembership.objects.count())

    call_command("demo", stdout=io.StringIO())
    assert (get_user_model().objects.count(), Project.objects.count(), ProjectMembership.objects.count()) == counts
    assert json.loads((tmp_path / "demo_logins.json").read_text()) == logins
    for username, password in logins.items():
        assert f"{username:<10} password: {password}" in out.getvalue()
        user = authenticate(_login_request(), username=username, password=password)
        assert user is not None
        assert [g.name.lower() for g in user.groups.all()] == [username]
    assert Project.objects.filter(visibility="private").exists()


def test_add_user_creates_a_user_with_roles_and_updates_them_on_a_second_call():
    out = io.StringIO()
    call_command("add_user", "sam", "--role", "engineer", "--role", "reviewer", "--generate-password", stdout=out)
    password = out.getvalue().split("Password: ")[1].strip()
    sam = authenticate(_login_request(), username="sam", password=password)
    assert sorted(g.name for g in sam.groups.all()) == ["Engineer", "Reviewer"]
    assert sam.has_perm("registry.add_project")

    call_command("add_user", "sam", "--role", "admin", stdout=io.StringIO())
    sam = get_user_model().objects.get(username="sam")
    assert [g.name for g in sam.groups.all()] == ["Admin"]
    assert sam.is_staff
    assert authenticate(_login_request(), username="sam", password=password) is not None  # password kept


def test_the_admin_role_holds_every_permission_and_the_others_only_theirs():
    from django.contrib.auth.models import Group, Permission

    assert Group.objects.get(name="Admin").permissions.count() == Permission.objects.count()
    manager_perms = set(Group.objects.get(name="Manager").permissions.values_list("codename", flat=True))
    assert "add_project" not in manager_perms and "view_project" in manager_perms


SEEN_BY_DEMO_STEPS: list[str] = []


def _monitors_step() -> None:
    SEEN_BY_DEMO_STEPS.append(f"monitors {Project.objects.count()}")


def _scorecards_step() -> None:
    SEEN_BY_DEMO_STEPS.append("scorecards")


def test_demo_runs_its_steps_in_order_after_users_and_projects(settings, tmp_path, monkeypatch):
    from mlopsportal.demo import steps as demo

    settings.VAR_DIR = tmp_path
    SEEN_BY_DEMO_STEPS.clear()
    here = __name__
    steps = (
        demo.DemoStep("monitors", f"{here}._monitors_step"),
        demo.DemoStep("scorecards", f"{here}._scorecards_step"),
    )
    monkeypatch.setattr(demo, "DEMO_STEPS", steps)

    call_command("demo", stdout=io.StringIO())

    assert [f"monitors {len(demo.DEMO_PROJECTS)}", "scorecards"] == SEEN_BY_DEMO_STEPS


def test_every_demo_step_names_a_loader_that_exists():
    from django.utils.module_loading import import_string

    from mlopsportal.demo.steps import DEMO_STEPS

    assert all(callable(import_string(step.loader)) for step in DEMO_STEPS)
