from django.urls import path

from monitoring import shadow_views, views

app_name = "monitoring"

urlpatterns = [
    path("monitors/", views.monitor_list, name="monitor_list"),
    path("monitors/new/", views.monitor_create, name="monitor_create"),
    path("monitors/<int:pk>/", views.monitor_detail, name="monitor_detail"),
    path("monitors/<int:pk>/drift/", views.monitor_drift, name="monitor_drift"),
    path("monitors/<int:pk>/schema/", views.monitor_schema, name="monitor_schema"),
    path("monitors/<int:pk>/alerts/", views.monitor_alerts, name="monitor_alerts"),
    path("monitors/<int:pk>/jobs/", views.monitor_jobs, name="monitor_jobs"),
    path("monitors/<int:pk>/edit/", views.monitor_edit, name="monitor_edit"),
    path("monitors/<int:pk>/run-drift/", views.monitor_run_drift, name="monitor_run_drift"),
    path("monitors/<int:pk>/retrain/", views.monitor_retrain, name="monitor_retrain"),
    path("monitors/<int:pk>/tokens/", views.monitor_token_create, name="monitor_token_create"),
    path("monitors/<int:pk>/tokens/<int:token_id>/revoke/", views.monitor_token_revoke, name="monitor_token_revoke"),
    path("monitors/<int:pk>/channels/", views.monitor_channel_add, name="monitor_channel_add"),
    path(
        "monitors/<int:pk>/channels/<int:channel_id>/remove/",
        views.monitor_channel_remove,
        name="monitor_channel_remove",
    ),
    path("monitors/<int:pk>/retrain-trigger/", views.monitor_trigger_set, name="monitor_trigger_set"),
    path("alerts/", views.alert_list, name="alert_list"),
    path("alerts/bulk/", views.alert_bulk, name="alert_bulk"),
    path("alerts/<int:pk>/<str:verb>/", views.alert_change, name="alert_change"),
    path("shadow/<int:pk>/", shadow_views.shadow_detail, name="shadow_detail"),
    path("shadow/run/", shadow_views.shadow_run, name="shadow_run"),
]
