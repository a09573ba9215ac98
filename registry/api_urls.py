from django.urls import path
from rest_framework.routers import SimpleRouter

from registry import api
from registry.mirror import api as mirror_api
from registry.promotions.api import promotion_api_urlpatterns

router = SimpleRouter()
router.register("projects", api.ProjectViewSet, basename="project")
router.register("experiments", mirror_api.ExperimentViewSet, basename="experiment")
router.register("runs", mirror_api.RunViewSet, basename="run")
router.register("models", mirror_api.RegisteredModelViewSet, basename="registered-model")

urlpatterns = [
    path("me/", api.MeView.as_view(), name="me"),
    path("sync/", mirror_api.SyncStatusView.as_view(), name="sync-status"),
    *router.urls,
    *promotion_api_urlpatterns,  # the promotion gate's
]
