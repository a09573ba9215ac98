"""The main navigation. Each app adds its entries from its AppConfig.ready(); an entry shows only
to users holding its permission, so every role sees what it can do and nothing else."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from registry.permissions import SIGNED_IN


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    permission: str  # a Django permission, or SIGNED_IN
    # URL prefix that marks the entry as the current section.
    section: str
    # What waits for this user there (e.g. requests to decide), shown beside the label when not 0.
    waiting: Callable[[Any], int] | None = None
    waiting_label: str = ""


NAV_ITEMS: list[NavItem] = [
    # The admin's overview of what needs attention (assessments/overview.py), the admin's home page.
    # Only the Admin role manages users, so that permission marks the entry as the admin's.
    NavItem(label="Overview", url_name="overview", permission="auth.change_user", section="/overview/"),
    NavItem(
        label="Projects", url_name="registry:project_list", permission="registry.view_project", section="/projects/"
    ),
    NavItem(label="API", url_name="api-docs", permission=SIGNED_IN, section="/api/"),
]
