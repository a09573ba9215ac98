"""The expected schema comes from the model's signature in a real MLflow server; the demo tells its story."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature

from mlopsportal.demo import monitoring as demo
from monitoring.models import Alert, DriftRun, InferenceBatch, Monitor, SchemaMismatch
from monitoring.services import monitors
from tests.factories import ProjectFactory


class Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return np.zeros(len(model_input))


@pytest.mark.django_db
def test_a_new_monitor_reads_the_expected_inputs_from_the_model_signature(mlflow_uri):
    mlflow.set_tracking_uri(mlflow_uri)
    mlflow.set_registry_uri(mlflow_uri)
    example = pd.DataFrame(
        {"feature_a": np.array([1.0], dtype=np.float32), "feature_b": np.array([2.0], dtype=np.float32)}
    )
    with mlflow.start_run():
        mlflow.pyfunc.log_model(
            name="model",
            python_model=Constant(),
            pip_requirements=[],  # nothing to infer: inferring starts a Python process (~10 s)
            signature=infer_signature(example, np.zeros(1)),
            registered_model_name="signature-demo",
        )
    mlflow.MlflowClient().set_registered_model_alias("signature-demo", "champion", 1)

    monitor = monitors.monitor_create(
        actor=None, project=ProjectFactory(name="Sig"), name="sig", model_name="signature-demo", alias="champion"
    )
    assert monitor.expected_schema == [
        {"name": "feature_a", "type": "float", "required": True},
        {"name": "feature_b", "type": "float", "required": True},
    ]
    unknown = monitors.monitor_create(
        actor=None, project=monitor.project, name="unknown", model_name="no-such-model", alias="champion"
    )
    assert unknown.expected_schema == []  # editable, or filled from the reference


@pytest.mark.django_db
def test_the_demo_tells_the_drift_schema_and_volume_story_and_is_safe_to_run_twice(settings):
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # nothing listens: the schema by hand
    project = ProjectFactory(name="Churn prediction", slug="churn-prediction")
    monitor = demo.demo_load(project_slug=project.slug, model_name="churn-classifier")
    again = demo.demo_load(project_slug=project.slug, model_name="churn-classifier")
    assert again.pk == monitor.pk and Monitor.objects.count() == 1
    assert DriftRun.objects.filter(monitor=monitor).count() == demo.DAYS
    assert InferenceBatch.objects.filter(monitor=monitor).count() == demo.DAYS * 4

    calm = DriftRun.objects.filter(monitor=monitor, window_start__lt=demo.demo_window_start(demo.DRIFT_FROM_DAY))
    assert not calm.filter(drifted=True).exists()
    window_alerts = Alert.objects.filter(monitor=monitor, kind=Alert.Kind.WINDOW_DRIFT)
    assert not Alert.objects.filter(monitor=monitor, kind=Alert.Kind.FEATURE_DRIFT).exists()
    assert window_alerts.count() == len(set(window_alerts.values_list("window_start", flat=True)))  # one a window
    drifted_features = {name for alert in window_alerts for name in alert.drifted_features}
    assert {"tenure_months", "plan"} <= drifted_features
    assert not drifted_features & {"monthly_charges", "support_calls", "region"}
    first_drift = DriftRun.objects.filter(monitor=monitor, drifted=True).order_by("window_start").first()
    assert first_drift.window_start == demo.demo_window_start(demo.DRIFT_FROM_DAY)
    diffs = {(d["column"], d["change"]) for m in SchemaMismatch.objects.filter(monitor=monitor) for d in m.diffs}
    assert diffs == {("monthly_charges", "type_change"), ("discount_rate", "extra")}
    volume = Alert.objects.get(monitor=monitor, kind=Alert.Kind.VOLUME)
    assert volume.window_start == demo.demo_window_start(demo.VOLUME_DROP_DAY)


@pytest.mark.django_db
def test_a_reference_can_be_a_dataset_logged_to_the_models_training_run(mlflow_uri, tmp_path, client, engineer):
    from monitoring.models import ReferenceProfile

    from .conftest import SCHEMA, reference_frame

    mlflow.set_tracking_uri(mlflow_uri)
    mlflow.set_registry_uri(mlflow_uri)
    data = tmp_path / "train.parquet"
    reference_frame(800).to_parquet(data, index=False)
    with mlflow.start_run():
        mlflow.log_artifact(str(data), artifact_path="data")
        mlflow.pyfunc.log_model(
            name="model", python_model=Constant(), pip_requirements=[], registered_model_name="with-data"
        )
    mlflow.MlflowClient().set_registered_model_alias("with-data", "champion", 1)
    project = ProjectFactory(name="Data")
    project.memberships.create(user=engineer, role="lead")
    monitor = monitors.monitor_create(
        actor=None, project=project, name="m", model_name="with-data", alias="champion", expected_schema=SCHEMA
    )
    client.force_login(engineer)
    response = client.post(
        f"/api/v1/monitors/{monitor.pk}/reference-from-mlflow/",
        {"artifact_path": "data/train.parquet"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    reference = ReferenceProfile.objects.get(monitor=monitor)
    assert reference.source == "mlflow" and reference.rows == 800
    missing = client.post(
        f"/api/v1/monitors/{monitor.pk}/reference-from-mlflow/",
        {"artifact_path": "data/nothing.parquet"},
        content_type="application/json",
    )
    assert missing.status_code == 400 and "nothing.parquet" in missing.json()["error"]["message"]
