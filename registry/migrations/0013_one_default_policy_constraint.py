"""At most one default promotion policy (registered model NULL): a unique index on a constant over
the default rows. 0012 removed the duplicates the old constraint allowed."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0012_one_default_policy"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="promotionpolicy",
            constraint=models.UniqueConstraint(
                models.Value(True),
                condition=models.Q(("registered_model__isnull", True)),
                name="one_default_policy",
                violation_error_message="There is already a default policy: edit it instead of adding another.",
            ),
        ),
    ]
