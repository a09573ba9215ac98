from django.urls import path

from registry import views
from registry.mirror import views as mirror_views
from registry.mirror import webhooks
from registry.promotions.urls import promotion_urlpatterns

app_name = "registry"

urlpatterns = [
    path("projects/", views.project_list, name="project_list"),
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<slug:slug>/", views.project_detail, name="project_detail"),
    path("projects/<slug:slug>/edit/", views.project_edit, name="project_edit"),
    path("projects/<slug:slug>/mlflow/", mirror_views.project_mirror_link, name="project_mirror_link"),
    path("experiments/", mirror_views.experiment_list, name="experiment_list"),
    path("experiments/<str:mlflow_id>/", mirror_views.experiment_detail, name="experiment_detail"),
    path("experiments/<str:mlflow_id>/project/", mirror_views.experiment_link, name="experiment_link"),
    path("runs/compare/", mirror_views.run_compare, name="run_compare"),
    path("runs/<str:run_id>/", mirror_views.run_detail, name="run_detail"),
    path("models/", mirror_views.model_list, name="model_list"),
    path("models/<str:name>/", mirror_views.model_detail, name="model_detail"),
    path("models/<str:name>/project/", mirror_views.model_link, name="model_link"),
    path("webhooks/mlflow/", webhooks.mlflow_webhook, name="mlflow_webhook"),
    path("mlflow/sync/", mirror_views.sync_status, name="sync_status"),
    path("mlflow/sync/now/", mirror_views.sync_now, name="sync_now"),
    path("profile/", views.profile, name="profile"),
    path("profile/token/", views.api_token_rotate, name="api_token_rotate"),
    *promotion_urlpatterns,  # the promotion gate's
]
