from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from assessments import overview as assessments_overview
from registry import views as registry_views

handler400 = "registry.api_errors.json_or_html_400"
handler403 = "registry.api_errors.json_or_html_403"
handler404 = "registry.api_errors.json_or_html_404"
handler500 = "registry.api_errors.json_or_html_500"

api_v1 = [
    path("", include("registry.api_urls")),
    path("", include("monitoring.api_urls")),
    path("", include("assessments.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file, which the CSP allows; the plain
    # view inlines it.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("", registry_views.home, name="home"),
    path("healthz", registry_views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The admin's overview of what needs attention; it reads all three apps, so assessments holds it.
    path("overview/", assessments_overview.overview, name="overview"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("", include("registry.urls")),
    path("", include("monitoring.urls")),
    path("", include("assessments.urls")),
]
