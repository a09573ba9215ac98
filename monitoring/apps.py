from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from registry.demo import demo_step_register
        from registry.navigation import NAV_ITEMS, NavItem

        from .demo import demo_shadow_step, demo_step
        from .gate import gate_register

        # After the mirrored MLflow models (10) and the gate's queue (20): the queue's checks are a
        # snapshot taken when each request was made, before the demo's drift episode began.
        demo_step_register(order=30, name="monitors: two weeks of drift, schema and volume", load=demo_step)
        # After the gate's queue (35): its pending requests replayed on the monitor's last week.
        demo_step_register(order=40, name="shadow evaluations of the pending requests", load=demo_shadow_step)
        gate_register()

        from registry.signals import promotion_requested

        from .shadow import on_promotion_requested

        promotion_requested.connect(on_promotion_requested, dispatch_uid="monitoring.shadow")

        # The project page shows the project's monitors and open alerts; registry never imports us.
        from registry.project_sections import project_section_register

        from .project_section import TEMPLATE, project_monitoring

        project_section_register(name="monitoring", order=20, template=TEMPLATE, context=project_monitoring)

        for item in (
            NavItem(
                label="Monitors",
                url_name="monitoring:monitor_list",
                permission="monitoring.view_monitor",
                section="/monitors/",
            ),
            NavItem(
                label="Alerts", url_name="monitoring:alert_list", permission="monitoring.view_alert", section="/alerts/"
            ),
        ):
            if item not in NAV_ITEMS:
                # Before the catch-all API entry, which stays last.
                NAV_ITEMS.insert(max(len(NAV_ITEMS) - 1, 0), item)
