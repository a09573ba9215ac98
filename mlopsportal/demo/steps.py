"""Demo data for `manage.py demo`: users for every role and a few projects, then each part's content in
order. Idempotent: a second run finds what the first made and changes nothing.

The demo depends on the domain apps and none of them knows it exists: the steps are listed here, by the
dotted path of their loader, so `manage.py demo` imports MLflow and scikit-learn only when it runs.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.module_loading import import_string

from registry.models import Project, ProjectMembership
from registry.roles import Role
from registry.users import password_generate, user_upsert


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
    name: str
    loader: str  # dotted path of a function taking no arguments

    def load(self) -> None:
        import_string(self.loader)()


DEMO_STEPS: tuple[DemoStep, ...] = (
    # The MLflow runs and models first: everything after reads them.
    DemoStep("MLflow runs and models, mirrored", "mlopsportal.demo.mlflow_content.demo_mirror_load"),
    # churn-classifier exists now: the gate's policy and its history of decided requests.
    DemoStep("promotion gate: policy and history", "mlopsportal.demo.gate.demo_gate_load"),
    DemoStep("monitors: two weeks of drift, schema and volume", "mlopsportal.demo.monitoring.demo_step"),
    # After the monitors: the pending requests are checked against them.
    DemoStep("promotion gate: pending requests", "mlopsportal.demo.gate.demo_gate_queue_load"),
    # The pending requests replayed on the monitor's last week.
    DemoStep("shadow evaluations of the pending requests", "mlopsportal.demo.monitoring.demo_shadow_step"),
    # Last: scorecards read the runs, the gate's history and the monitors.
    DemoStep("maturity answers and scorecards", "mlopsportal.demo.maturity.demo_load"),
)


def demo_load(*, progress: Callable[[str], None] = lambda message: None) -> dict[str, str]:
    """Load the demo and return {username: password}. Steps talk to MLflow, so they run outside the
    users-and-projects transaction; each step is idempotent on its own."""
    logins = demo_users_and_projects_load()
    for step in DEMO_STEPS:
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
