"""Django's admin site, for the portal's administrators only, saying so to everyone else.

Django's own site sends a signed-in user who is not staff to its sign-in form, as if they had not
signed in: a manager opening /admin/ took it for a broken login. Here they get a page that says what
the admin site is and takes them home (403); staff get the admin as before, and a visitor who has not
signed in still gets the sign-in form.

Installed in place of django.contrib.admin (INSTALLED_APPS), so `admin.site` is this site.
"""

from collections.abc import Callable
from functools import update_wrapper
from typing import Any

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse


class PortalAdminSite(AdminSite):
    def admin_view(self, view: Callable[..., HttpResponse], cacheable: bool = False) -> Callable[..., HttpResponse]:
        guarded = super().admin_view(view, cacheable)

        def refuse_signed_in_non_staff(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            # Signing out stays as Django has it (a redirect), whoever asks.
            if (
                request.user.is_authenticated
                and not self.has_permission(request)
                and request.path != reverse("admin:logout", current_app=self.name)
            ):
                return render(request, "registry/admin_refused.html", status=403)
            return guarded(request, *args, **kwargs)

        return update_wrapper(refuse_signed_in_non_staff, guarded)


class PortalAdminConfig(AdminConfig):
    default_site = "registry.admin_site.PortalAdminSite"
