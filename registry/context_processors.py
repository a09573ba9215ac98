from django.http import HttpRequest
from django.urls import reverse

from registry.navigation import NAV_ITEMS
from registry.permissions import SIGNED_IN
from registry.roles import home_url_name_for, roles_of


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
    # Each role's navigation starts where its home page is (a manager's with Maturity, a reviewer's
    # with Promotions); the rest keep their order.
    home = reverse(home_url_name_for(user))
    items.sort(key=lambda item: item["url"] != home)
    return {"nav_items": items, "user_roles": [role.value for role in roles_of(user)]}
