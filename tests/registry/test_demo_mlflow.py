"""The MLflow part of `manage.py demo`: real runs and models, mirrored and linked to the demo projects."""

import pytest

from registry.demo import demo_users_and_projects_load
from registry.demo_mlflow import demo_mirror_load
from registry.models import Experiment, ModelVersion, RegisteredModel, Run

pytestmark = pytest.mark.django_db


def test_the_demo_logs_the_quickstart_the_churn_model_and_notebook_runs_once(mlflow_uri, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    demo_users_and_projects_load()

    demo_mirror_load()
    counts = (Run.objects.count(), ModelVersion.objects.count())
    demo_mirror_load()  # idempotent: nothing new is logged to MLflow

    assert (Run.objects.count(), ModelVersion.objects.count()) == counts
    quickstart = ModelVersion.objects.get(registered_model__name="tracking-quickstart")
    assert quickstart.run.params["solver"] == "lbfgs" and quickstart.run.metrics["accuracy"] > 0.8
    assert quickstart.run.tags["Training Info"] == "Basic LR model for iris data"
    assert {c["name"] for c in quickstart.signature_inputs} >= {"sepal length (cm)", "petal width (cm)"}

    churn = RegisteredModel.objects.get(name="churn-classifier")
    assert churn.project.slug == "churn-prediction"
    # The session's MLflow server is shared: the gate's demo may have added "production" already.
    assert {"champion": 2, "challenger": 3}.items() <= churn.aliases.items()
    versions = list(churn.versions.order_by("version"))
    assert len(versions) == 3
    assert all(v.run.git_commit and v.run.datasets and v.signature_inputs for v in versions)
    assert len({v.run.datasets[0]["digest"] for v in versions}) == 3

    notebooks = Experiment.objects.get(name="demand-forecast-notebooks")
    assert notebooks.project.slug == "demand-forecasting"
    assert notebooks.runs.count() == 3
    assert all(r.source_type == "NOTEBOOK" and not r.git_commit and not r.datasets for r in notebooks.runs.all())


def test_the_demo_skips_mlflow_quickly_when_no_server_answers(settings):
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"
    settings.MLFLOW_REQUEST_RETRIES = 0
    demo_mirror_load()
    assert not Run.objects.exists()
