from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from monitoring.gate import gate_register
        from registry.navigation import NAV_ITEMS, NavItem

        gate_register()

        from monitoring.shadow.evaluations import on_promotion_requested
        from registry.signals import promotion_requested

        promotion_requested.connect(on_promotion_requested, dispatch_uid="monitoring.shadow.evaluations")

        # The project page shows the project's monitors and open alerts; registry never imports us.
        from monitoring.project_section import TEMPLATE, project_monitoring
        from registry.project_sections import project_section_register

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
