"""At most one default promotion policy, enforced by the database.

The old `one_default_policy` made `approvals_required` unique among default policies (registered
model NULL), so several defaults could exist as long as their approvals differed, and `policy_for`
took the one with the lowest id. Before the new constraint is added, the duplicates are removed:
the default with the lowest id stays (the one the gate has been applying all along); the others
never took effect and are deleted, with their approver lists. The ids removed are printed.

The new constraint is added by the next migration: PostgreSQL refuses to create an index in the
transaction that deleted rows with deferred foreign keys ("pending trigger events"), and Django
runs each migration in a transaction of its own.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def keep_the_default_policy_in_force(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    PromotionPolicy = apps.get_model("registry", "PromotionPolicy")
    defaults = PromotionPolicy.objects.using(schema_editor.connection.alias).filter(registered_model__isnull=True)
    kept = defaults.order_by("pk").values_list("pk", flat=True).first()
    if kept is None:
        return
    unused = list(defaults.exclude(pk=kept).order_by("pk").values_list("pk", flat=True))
    if unused:
        defaults.filter(pk__in=unused).delete()
        print(f"\n  Default promotion policy {kept} kept; unused duplicates {unused} deleted.")


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0011_oversee_all_projects_permission"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="promotionpolicy", name="one_default_policy"),
        migrations.RunPython(keep_the_default_policy_in_force, migrations.RunPython.noop),
    ]
