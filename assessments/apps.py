import importlib
from typing import TYPE_CHECKING, Any

from django.apps import AppConfig

if TYPE_CHECKING:  # models cannot be imported while the app registry loads
    from registry.models import RegisteredModel


def _recompute_when_aliases_move(sender: type, registered_model: "RegisteredModel", **kwargs: Any) -> None:
    # A moved serving alias changes several criteria (serving alias, rollback, gate): rescore now.
    if registered_model.project_id:
        from assessments.services import recompute_after_commit

        recompute_after_commit(registered_model.project_id)


def _rubric_restore_if_empty(sender: AppConfig, **kwargs: Any) -> None:
    # The rubric is data loaded by a migration; a database flush (tests on transactions, `manage.py
    # flush`) empties it without re-running migrations. An empty rubric scores nothing, so load it back.
    from django.apps import apps

    from assessments.models import Criterion

    if not Criterion.objects.exists():
        importlib.import_module("assessments.migrations.0002_rubric_v1").load_rubric(apps, None)


class AssessmentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "assessments"
    verbose_name = "Assessments"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        post_migrate.connect(_rubric_restore_if_empty, sender=self, dispatch_uid="assessments.rubric_restore")
        from registry.navigation import NAV_ITEMS, NavItem

        item = NavItem(
            label="Maturity",
            url_name="assessments:portfolio",
            permission="assessments.view_scorecardsnapshot",
            section="/assessments/",
        )
        if item not in NAV_ITEMS:
            # Before the catch-all API entry, which stays last.
            at = next((i for i, entry in enumerate(NAV_ITEMS) if entry.url_name == "api-docs"), len(NAV_ITEMS))
            NAV_ITEMS.insert(at, item)

        # The project page shows the project's maturity level; registry never imports us.
        from assessments.project_section import TEMPLATE, project_maturity
        from registry.project_sections import project_section_register

        project_section_register(name="maturity", order=10, template=TEMPLATE, context=project_maturity)

        from assessments.services import scorecards_recompute_for_mirror_change
        from registry.signals import mirror_changed

        mirror_changed.connect(scorecards_recompute_for_mirror_change, dispatch_uid="assessments.mirror_changed")
        from registry.signals import model_aliases_changed

        model_aliases_changed.connect(_recompute_when_aliases_move, dispatch_uid="assessments.aliases_moved")

        # The gate runs whatever checks are registered and never imports us: registry depends on no other app.
        from assessments.gate import CHECK_NAME, maturity_gate_check
        from registry.promotions.checks_run import gate_check_register

        gate_check_register(name=CHECK_NAME, check=maturity_gate_check)
