from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RegistryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"
    verbose_name = "Registry"

    def ready(self) -> None:
        from . import roles

        # Groups and their permissions are kept in code and re-applied after every migrate, so a
        # permission added by a later release reaches existing installations without a manual step.
        post_migrate.connect(roles.sync_role_groups_after_migrate, dispatch_uid="registry.sync_role_groups")
        self._navigation_add()
        from .demo import demo_step_register

        # Early: the other apps' demo steps build on the mirrored runs and models.
        demo_step_register(order=10, name="MLflow runs and models, mirrored", load=_demo_mirror_load)
        self._promotion_gate_ready()

    def _navigation_add(self) -> None:
        from .navigation import NAV_ITEMS, NavItem

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
        from . import promotion_selectors, promotion_tasks, promotions  # noqa: F401 - registers the gate's Celery tasks
        from .navigation import NAV_ITEMS, NavItem
        from .signals import model_aliases_changed

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

        from .demo import demo_step_register
        from .demo_gate import demo_gate_load, demo_gate_queue_load

        # After the mirrored MLflow demo (order 10), which creates churn-classifier.
        demo_step_register(order=20, name="promotion gate: policy and history", load=demo_gate_load)
        # After the monitors (order 30, when installed): the pending requests are checked against them.
        demo_step_register(order=35, name="promotion gate: pending requests", load=demo_gate_queue_load)

        # The sync tells the gate when aliases moved in MLflow: bypass detection and superseding.
        model_aliases_changed.connect(promotions.on_model_aliases_changed, dispatch_uid="registry.promotion_gate")


def _demo_mirror_load() -> None:
    # Imported when the demo runs: MLflow and scikit-learn take seconds to import.
    from .demo_mlflow import demo_mirror_load

    demo_mirror_load()
