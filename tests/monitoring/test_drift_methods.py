"""A monitor's statistical method must fit the kind of feature it judges: KS and Wasserstein judge
numbers, chi-square judges categories. Such a mismatch is refused where the monitor is configured;
a monitor that has one anyway (saved before the check, or changed in the admin) has each affected
column judged by the default method, and the column's result says so. It was silently ignored."""

from datetime import UTC, datetime, timedelta

import pytest

from monitoring.forms import MonitorForm
from monitoring.models import DriftRun, Monitor
from monitoring.services import batches, drift_runs, monitors
from registry.errors import PortalError
from tests.monitoring.conftest import SCHEMA, reference_frame, to_parquet

DAY = datetime(2026, 11, 10, tzinfo=UTC)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "method"),
    [("categorical_method", "ks"), ("categorical_method", "wasserstein"), ("numeric_method", "chi_square")],
)
def test_a_monitor_set_to_a_method_its_kind_of_feature_cannot_take_is_refused_when_created(project, field, method):
    with pytest.raises(PortalError, match="does not apply") as refused:
        monitors.monitor_create(
            actor=None,
            project=project,
            name="mismatched",
            model_name="churn",
            expected_schema=SCHEMA,
            **{field: method},
        )
    assert list(refused.value.fields) == [field]
    assert not Monitor.objects.filter(name="mismatched").exists()


@pytest.mark.django_db
def test_a_monitor_changed_to_such_a_method_is_refused_and_keeps_its_own(monitor, engineer):
    with pytest.raises(PortalError, match="ks does not apply to categorical features"):
        monitors.monitor_update(actor=engineer, monitor_id=monitor.pk, categorical_method="ks")
    monitor.refresh_from_db()
    assert monitor.categorical_method == ""


@pytest.mark.django_db
def test_the_monitor_form_offers_each_kind_only_its_own_methods_and_refuses_the_others(engineer, project):
    form = MonitorForm(
        data={
            "project": project.slug,
            "name": "mismatched",
            "model_name": "churn",
            "numeric_method": "chi_square",
            "categorical_method": "ks",
            "drift_share": 0.5,
            "window_seconds": 86_400,
        },
        user=engineer,
    )
    assert not form.is_valid()
    assert set(form.errors) == {"numeric_method", "categorical_method"}
    assert "ks" not in dict(form.fields["categorical_method"].choices)
    assert "chi_square" not in dict(form.fields["numeric_method"].choices)
    assert "psi" in dict(form.fields["categorical_method"].choices)


@pytest.mark.django_db
def test_a_monitor_saved_with_such_a_method_has_the_default_decide_and_the_result_says_why(monitor):
    # As an admin edit or a row saved before the check can leave it: the service is not asked.
    Monitor.objects.filter(pk=monitor.pk).update(categorical_method="ks", categorical_threshold=0.9)
    batches.batch_ingest(
        monitor=monitor,
        body=to_parquet(reference_frame(2000, seed=3)),
        fmt="parquet",
        received_at=DAY + timedelta(hours=1),
    )

    run = drift_runs.drift_run_now(monitor=monitor, window_start=DAY, trigger=DriftRun.Trigger.COMMAND)

    segment = run.results.get(feature="segment")
    assert segment.method == "jensen_shannon" and segment.threshold == 0.1  # the default, at its default threshold
    assert segment.why.startswith("The monitor's categorical method ks does not apply to a categorical column")
    numeric = run.results.get(feature="feature_a")
    assert "does not apply" not in numeric.why  # the numeric columns keep their own (automatic) method
