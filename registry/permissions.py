"""Explicit permissions for API endpoints: every view names what each action requires."""

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

# Marks an action open to any signed-in user, so that choice is written down too.
SIGNED_IN = "signed-in"


class HasActionPermission(BasePermission):
    """Allows an action when the user holds the permission in the view's `required_permissions`,
    keyed by viewset action or HTTP method. An action the view does not list is refused."""

    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        required: dict[str, str] = view.required_permissions
        needed = required.get(getattr(view, "action", None) or "") or required.get(request.method or "")
        if needed is None:
            return False
        return needed == SIGNED_IN or request.user.has_perm(needed)
