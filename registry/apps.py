"""The registry app: projects, roles and audit (the core), the MLflow mirror (registry/mirror/) and the
promotion gate (registry/promotions/), under one app label so their tables, permissions and audit rows
keep the names they were created with. This module is where the parts are put together: the core
imports neither of them, and the mirror never imports the gate."""

from importlib import import_module

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RegistryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"
    verbose_name = "Registry"

    def import_models(self) -> None:
        super().import_models()
        # Django imports the app's `models` module; the gate's models live in their own part.
        import_module("registry.promotions.models")

    def ready(self) -> None:
        from registry import roles

        # Groups and their permissions are kept in code and re-applied after every migrate, so a
        # permission added by a later release reaches existing installations without a manual step.
        post_migrate.connect(roles.sync_role_groups_after_migrate, dispatch_uid="registry.sync_role_groups")
        self._navigation_add()
        import_module("registry.mirror.tasks")  # Celery finds `registry.tasks` by itself, not the parts' tasks
        self._promotion_gate_ready()

    def _navigation_add(self) -> None:
        from registry.navigation import NAV_ITEMS, NavItem

        entries = [
            NavItem(
                label="Experiments",
                url_name="registry:experiment_list",
                permission="registry.view_experiment",
                section="/experiments/",
            ),
            NavItem(
                label="Models",
                url_name="registry:model_list",
                permission="registry.view_registeredmodel",
                section="/models/",
            ),
            NavItem(
                label="MLflow sync",
                url_name="registry:sync_status",
                permission="registry.view_syncrun",
                section="/mlflow/",
            ),
        ]
        known = {item.url_name for item in NAV_ITEMS}
        # Before "API", which stays last.
        at = next((i for i, item in enumerate(NAV_ITEMS) if item.url_name == "api-docs"), len(NAV_ITEMS))
        NAV_ITEMS[at:at] = [entry for entry in entries if entry.url_name not in known]

    def _promotion_gate_ready(self) -> None:
        from registry.promotions import selectors as promotion_selectors
        from registry.promotions.bypass import on_model_aliases_changed

        import_module("registry.promotions.tasks")
        from registry.navigation import NAV_ITEMS, NavItem
        from registry.signals import model_aliases_changed

        entries = [
            NavItem(
                "Promotions",
                "registry:promotion_queue",
                "registry.view_promotionrequest",
                "/promotions/",
                waiting=lambda user: promotion_selectors.awaiting_decision_count(user=user),
                waiting_label="waiting for your decision",
            ),
            NavItem("Audit log", "registry:audit_log", "registry.view_auditevent", "/audit/"),
        ]
        known = {item.url_name for item in NAV_ITEMS}
        at = next((i for i, item in enumerate(NAV_ITEMS) if item.url_name == "api-docs"), len(NAV_ITEMS))
        NAV_ITEMS[at:at] = [entry for entry in entries if entry.url_name not in known]

        # The sync tells the gate when aliases moved in MLflow: bypass detection and superseding.
        model_aliases_changed.connect(on_model_aliases_changed, dispatch_uid="registry.promotion_gate")
