"""Demo data for `manage.py demo`: users for every role and a few projects, then whatever the other
apps add. Idempotent: a second run finds what the first made and changes nothing.

Registry reads nobody, so the other apps plug their demo in from AppConfig.ready() with
`demo_step_register`; the steps run in order after the users and projects exist.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from .models import Project, ProjectMembership
from .roles import Role
from .users import password_generate, user_upsert


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    full_name: str


DEMO_USERS = (
    DemoUser("manager", Role.MANAGER, "Maya Manager"),
    DemoUser("reviewer", Role.REVIEWER, "Ravi Reviewer"),
    DemoUser("engineer", Role.ENGINEER, "Erin Engineer"),
    DemoUser("admin", Role.ADMIN, "Ada Admin"),
)

DEMO_PROJECTS = (
    {
        "name": "Churn prediction",
        "team": "Growth",
        "visibility": Project.Visibility.INTERNAL,
        "description": "Predicts which subscribers cancel in the next 30 days, for the retention campaigns.",
        "leads": ["engineer"],
        "members": ["reviewer", "manager"],
    },
    {
        "name": "Fraud detection",
        "team": "Risk",
        "visibility": Project.Visibility.INTERNAL,
        "description": "Scores card transactions in real time; the risk desk reviews the top 0.5 %.",
        "leads": ["engineer"],
        "members": ["reviewer"],
    },
    {
        "name": "Demand forecasting",
        "team": "Supply chain",
        "visibility": Project.Visibility.PRIVATE,
        "description": "Daily demand per store and product family; private while the pilot runs.",
        "leads": ["engineer"],
        # The manager follows the pilot; the reviewer is not a member and does not see it.
        "members": ["manager"],
    },
)


def demo_logins_path() -> Path:
    return settings.VAR_DIR / "demo_logins.json"


def demo_passwords() -> dict[str, str]:
    """Passwords are random per installation, kept in var/ so every run can print them."""
    path = demo_logins_path()
    known = json.loads(path.read_text()) if path.exists() else {}
    missing = {u.username: password_generate() for u in DEMO_USERS if u.username not in known}
    if missing:
        known |= missing
        path.write_text(json.dumps(known, indent=2))
        path.chmod(0o600)
    return known


@dataclass(frozen=True)
class DemoStep:
    order: int  # registry's MLflow runs first, then what reads them (monitors, then scorecards)
    name: str
    load: Callable[[], None]


DEMO_STEPS: dict[str, DemoStep] = {}


def demo_step_register(*, order: int, name: str, load: Callable[[], None]) -> None:
    DEMO_STEPS[name] = DemoStep(order=order, name=name, load=load)


def demo_load(*, progress: Callable[[str], None] = lambda message: None) -> dict[str, str]:
    """Load the demo and return {username: password}. Steps talk to MLflow, so they run outside the
    users-and-projects transaction; each step is idempotent on its own."""
    logins = demo_users_and_projects_load()
    for step in sorted(DEMO_STEPS.values(), key=lambda step: step.order):
        progress(f"Demo: {step.name}")
        step.load()
    return logins


@transaction.atomic
def demo_users_and_projects_load() -> dict[str, str]:
    passwords = demo_passwords()
    User = get_user_model()
    for demo_user in DEMO_USERS:
        existing = User.objects.filter(username=demo_user.username).first()
        # Reset the password only when it no longer matches the one we print.
        password = (
            None
            if existing and existing.check_password(passwords[demo_user.username])
            else passwords[demo_user.username]
        )
        user_upsert(
            username=demo_user.username,
            roles=[demo_user.role],
            email=f"{demo_user.username}@example.com",
            full_name=demo_user.full_name,
            password=password,
        )
    users = {u.username: u for u in User.objects.filter(username__in=[d.username for d in DEMO_USERS])}
    for spec in DEMO_PROJECTS:
        project, _ = Project.objects.get_or_create(
            name=spec["name"],
            defaults={
                "slug": spec["name"].lower().replace(" ", "-"),
                "team": spec["team"],
                "visibility": spec["visibility"],
                "description": spec["description"],
            },
        )
        for username in spec["leads"]:
            ProjectMembership.objects.get_or_create(
                project=project, user=users[username], defaults={"role": ProjectMembership.Role.LEAD}
            )
        for username in spec["members"]:
            ProjectMembership.objects.get_or_create(project=project, user=users[username])
    return {u.username: passwords[u.username] for u in DEMO_USERS}
