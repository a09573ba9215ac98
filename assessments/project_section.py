"""The project page's maturity section: the level of the latest scorecard, how far the project is
toward the next one, and a link to the scorecard. Registered with registry's project page in
apps.py (registry reads no other app)."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from assessments.scoring.levels import MAX_LEVEL
from assessments.selectors import snapshot_latest
from registry.models import Project

TEMPLATE = "registry/partials/project_maturity.html"


def project_maturity(project: Project, user: AbstractBaseUser | AnonymousUser) -> dict[str, Any]:
    """One query."""
    if not user.has_perm("assessments.view_scorecardsnapshot"):
        return {"maturity_visible": False}
    snapshot = snapshot_latest(project=project)
    return {
        "maturity_visible": True,
        "snapshot": snapshot,
        "next_level": snapshot.level + 1 if snapshot is not None and snapshot.level < MAX_LEVEL else None,
    }
