from django.urls import path
from rest_framework.routers import SimpleRouter

from monitoring.api import alerts, ingest, monitors

router = SimpleRouter()
router.register("monitors", monitors.MonitorViewSet, basename="monitor")
router.register("alerts", alerts.AlertViewSet, basename="alert")

urlpatterns = [
    path("monitors/<int:monitor_id>/batches/", ingest.BatchIngestView.as_view(), name="monitor-batches"),
    *router.urls,
]
