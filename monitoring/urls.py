from django.urls import path

from monitoring.views import alerts, monitors, setup, shadow

app_name = "monitoring"

urlpatterns = [
    path("monitors/", monitors.monitor_list, name="monitor_list"),
    path("monitors/new/", setup.monitor_create, name="monitor_create"),
    path("monitors/<int:pk>/", monitors.monitor_detail, name="monitor_detail"),
    path("monitors/<int:pk>/drift/", monitors.monitor_drift, name="monitor_drift"),
    path("monitors/<int:pk>/schema/", monitors.monitor_schema, name="monitor_schema"),
    path("monitors/<int:pk>/alerts/", monitors.monitor_alerts, name="monitor_alerts"),
    path("monitors/<int:pk>/jobs/", monitors.monitor_jobs, name="monitor_jobs"),
    path("monitors/<int:pk>/edit/", setup.monitor_edit, name="monitor_edit"),
    path("monitors/<int:pk>/run-drift/", setup.monitor_run_drift, name="monitor_run_drift"),
    path("monitors/<int:pk>/retrain/", setup.monitor_retrain, name="monitor_retrain"),
    path("monitors/<int:pk>/tokens/", setup.monitor_token_create, name="monitor_token_create"),
    path("monitors/<int:pk>/tokens/<int:token_id>/revoke/", setup.monitor_token_revoke, name="monitor_token_revoke"),
    path("monitors/<int:pk>/channels/", setup.monitor_channel_add, name="monitor_channel_add"),
    path(
        "monitors/<int:pk>/channels/<int:channel_id>/remove/",
        setup.monitor_channel_remove,
        name="monitor_channel_remove",
    ),
    path("monitors/<int:pk>/retrain-trigger/", setup.monitor_trigger_set, name="monitor_trigger_set"),
    path("alerts/", alerts.alert_list, name="alert_list"),
    path("alerts/bulk/", alerts.alert_bulk, name="alert_bulk"),
    path("alerts/<int:pk>/<str:verb>/", alerts.alert_change, name="alert_change"),
    path("shadow/<int:pk>/", shadow.shadow_detail, name="shadow_detail"),
    path("shadow/run/", shadow.shadow_run, name="shadow_run"),
]
