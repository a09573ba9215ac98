from django.http import HttpRequest
from django.urls import reverse

from .navigation import NAV_ITEMS
from .permissions import SIGNED_IN
from .roles import roles_of


def navigation(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_roles": []}
    items = [
        {
            "label": item.label,
            "url": reverse(item.url_name),
            "current": request.path.startswith(item.section),
            "waiting": item.waiting(user) if item.waiting else 0,
            "waiting_label": item.waiting_label,
        }
        for item in NAV_ITEMS
        if item.permission == SIGNED_IN or user.has_perm(item.permission)
    ]
    return {"nav_items": items, "user_roles": [role.value for role in roles_of(user)]}
