from django.urls import path

from . import views

app_name = "registry"

urlpatterns = [
    path("projects/", views.project_list, name="project_list"),
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<slug:slug>/", views.project_detail, name="project_detail"),
    path("projects/<slug:slug>/edit/", views.project_edit, name="project_edit"),
    path("profile/", views.profile, name="profile"),
    path("profile/token/", views.api_token_rotate, name="api_token_rotate"),
]
