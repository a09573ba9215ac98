"""The project page's monitoring section: the project's monitors with their state, and its open
alerts, most severe first. Registered with registry's project page in apps.py (registry reads no
other app)."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Case, IntegerField, Value, When

from monitoring.models import Alert
from monitoring.selectors import MonitorStatus, alerts_visible_to, monitor_list_for, monitor_status
from registry.access import member_may
from registry.models import Project

TEMPLATE = "registry/partials/project_monitoring.html"
# How many open alerts the project page names before linking to the rest.
ALERTS_SHOWN = 5


def project_monitoring(project: Project, user: AbstractBaseUser | AnonymousUser) -> dict[str, Any]:
    """Three queries whatever the number of monitors and alerts."""
    monitors = list(monitor_list_for(user=user).filter(project=project))
    rows = []
    for monitor in monitors:
        status = monitor_status(monitor)
        rows.append(
            {
                "monitor": monitor,
                "status": status,
                "label": MonitorStatus.LABELS[status],
                "badge": MonitorStatus.BADGES[status],
            }
        )
    open_alerts = (
        alerts_visible_to(user=user)
        .filter(monitor__project=project, status=Alert.Status.OPEN)
        .order_by(
            Case(When(severity=Alert.Severity.CRITICAL, then=Value(0)), default=Value(1), output_field=IntegerField()),
            "-last_seen_at",
            "-pk",
        )
    )
    shown = list(open_alerts[:ALERTS_SHOWN])
    return {
        "monitor_rows": rows,
        "open_alerts": shown,
        # Counted only when there may be more than are shown.
        "open_alert_count": sum(m.open_alerts for m in monitors) if len(shown) == ALERTS_SHOWN else len(shown),
        "can_add_monitor": member_may(user=user, project=project, permission="monitoring.add_monitor"),
    }
