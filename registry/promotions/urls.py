"""URLs of the promotion gate's pages, added to the registry namespace by registry/urls.py."""

from django.urls import path

from registry.promotions import views

promotion_urlpatterns = [
    path("promotions/", views.promotion_queue, name="promotion_queue"),
    path("promotions/new/", views.promotion_create, name="promotion_create"),
    path("promotions/<int:pk>/", views.promotion_detail, name="promotion_detail"),
    path("promotions/<int:pk>/approve/", views.promotion_approve, name="promotion_approve"),
    path("promotions/<int:pk>/reject/", views.promotion_reject, name="promotion_reject"),
    path("promotions/<int:pk>/cancel/", views.promotion_cancel, name="promotion_cancel"),
    path("promotions/<int:pk>/retry/", views.promotion_retry, name="promotion_retry"),
    path("promotions/alerts/<int:pk>/resolve/", views.gate_alert_resolve, name="gate_alert_resolve"),
    path("promotions/policies/", views.policy_list, name="policy_list"),
    path("promotions/policies/<path:model>/", views.policy_edit, name="policy_edit"),
    path("audit/", views.audit_log, name="audit_log"),
]
