"""The audit log: one service every app calls to record what happened, by whom, to what.

Append-only: there is no update or delete service, and the admin shows events read-only.
"""

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.http import HttpRequest

from registry.models import AuditEvent, Project


def _project_of(obj: models.Model | None) -> Project | None:
    """The project an object belongs to, when it says (directly or via its registered model/experiment)."""
    if obj is None:
        return None
    if isinstance(obj, Project):
        return obj
    for path in ("project", "registered_model", "experiment", "model_version"):
        related = getattr(obj, path, None)
        if isinstance(related, Project):
            return related
        if isinstance(related, models.Model) and path != "project":
            found = _project_of(related)
            if found is not None:
                return found
    return None


def _origin(request: HttpRequest | None) -> dict[str, Any]:
    """The request id (from a proxy's X-Request-ID, else a fresh one) and the client IP."""
    if request is None:
        return {}
    request_id = request.META.get("HTTP_X_REQUEST_ID") or getattr(request, "portal_request_id", "")
    if not request_id:
        request_id = request.portal_request_id = uuid.uuid4().hex
    ip = request.META.get("REMOTE_ADDR") or None
    return {"request_id": request_id[:100], "ip": ip}


def audit_record(
    *,
    action: str,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    obj: models.Model | None = None,
    project: Project | None = None,
    summary: str = "",
    data: dict[str, Any] | None = None,
    before: Any = None,
    after: Any = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Append one event. `obj` names the object (its model label and primary key); the project is
    taken from `obj` when not given, so a project's history can be read back."""
    if not action:
        raise ValueError("An audit event needs an action.")
    if actor is not None and not actor.is_authenticated:
        actor = None
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        project=project or _project_of(obj),
        summary=summary,
        data=data or {},
        before=before,
        after=after,
        **_origin(request),
    )


def _said(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_said(item) for item in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{key} {_said(item)}" for key, item in value.items()) or "none"
    return str(value)


def change_lines(before: Any, after: Any) -> list[str]:
    """An event's before/after as people read it: one line per field that changed, "state: pending →
    approved"; a side that was not recorded reads "—"."""
    if isinstance(before, dict) and after is None:
        after = {}
    elif isinstance(after, dict) and before is None:
        before = {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        if before is None and after is None:
            return []
        return [f"{_said(before)} → {_said(after)}"]
    lines = []
    for key in dict.fromkeys([*before, *after]):
        old, new = before.get(key), after.get(key)
        if old != new or key not in before or key not in after:
            lines.append(f"{key.replace('_', ' ')}: {_said(old)} → {_said(new)}")
    return lines
