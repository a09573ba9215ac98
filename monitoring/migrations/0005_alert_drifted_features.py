"""Window alerts name the features that drifted in them (one alert per drifted window replaces one
alert per drifted feature).

Existing alerts are history and stay as they are, statuses included: the per-feature alerts of past
windows are not deleted or resolved here. Each existing window alert gets the names of the
per-feature alerts of its monitor and window, so the old windows read like the new ones. A re-run of
a window resolves that window's remaining open per-feature alerts (now monitoring.services.drift_runs._alerts_for_run).
"""

from django.db import migrations, models


def window_alerts_name_their_features(apps, schema_editor):
    Alert = apps.get_model("monitoring", "Alert")
    features: dict[tuple[int, object], set[str]] = {}
    for monitor_id, window_start, feature in Alert.objects.filter(kind="feature_drift").values_list(
        "monitor_id", "window_start", "feature"
    ):
        features.setdefault((monitor_id, window_start), set()).add(feature)
    for alert in Alert.objects.filter(kind="window_drift").only("pk", "monitor_id", "window_start"):
        names = sorted(features.get((alert.monitor_id, alert.window_start), ()))
        if names:
            Alert.objects.filter(pk=alert.pk).update(drifted_features=names)


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0004_monitor_require_declared_types"),
    ]

    operations = [
        migrations.AddField(
            model_name="alert",
            name="drifted_features",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(window_alerts_name_their_features, migrations.RunPython.noop),
    ]
