from django.urls import path
from rest_framework.routers import SimpleRouter

from monitoring import api

router = SimpleRouter()
router.register("monitors", api.MonitorViewSet, basename="monitor")
router.register("alerts", api.AlertViewSet, basename="alert")

urlpatterns = [
    path("monitors/<int:monitor_id>/batches/", api.BatchIngestView.as_view(), name="monitor-batches"),
    *router.urls,
]
