"""Sections other apps add to a project's page.

Registry reads no other app (the apps depend one way: docs/architecture.md), yet a project's page
shows its maturity level (assessments) and its monitors and open alerts (monitoring). As with the
gate's checks, those apps register what they show when they load; the page renders whatever is
registered, in order, and never imports them.

A section is a template and a function that reads its context for one project and viewer. Each
function costs a fixed number of queries, so the page does too.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from registry.models import Project

User = AbstractBaseUser | AnonymousUser


@dataclass(frozen=True)
class ProjectSection:
    name: str
    order: int  # lower first
    template: str
    context: Callable[[Project, User], dict[str, Any]]


PROJECT_SECTIONS: list[ProjectSection] = []


def project_section_register(
    *, name: str, order: int, template: str, context: Callable[[Project, User], dict[str, Any]]
) -> None:
    """Add (or replace, by name: apps load once, tests may reload) a section of the project page."""
    PROJECT_SECTIONS[:] = [s for s in PROJECT_SECTIONS if s.name != name]
    PROJECT_SECTIONS.append(ProjectSection(name=name, order=order, template=template, context=context))
    PROJECT_SECTIONS.sort(key=lambda s: s.order)


@dataclass(frozen=True)
class RenderedSection:
    name: str
    template: str
    context: dict[str, Any]


def project_sections_for(*, project: Project, user: User) -> list[RenderedSection]:
    return [RenderedSection(s.name, s.template, s.context(project, user)) for s in PROJECT_SECTIONS]
