"""The MLflow part of `manage.py demo`: real runs and models, mirrored and linked to the demo projects."""

import json
import os
import subprocess
import sys

import mlflow
import pytest
from mlflow.tracking import fluent
from mlflow.tracking._model_registry import utils as registry_utils
from mlflow.tracking._tracking_service import utils as tracking_utils

from mlopsportal.demo.mlflow_content import demo_mirror_load, demo_mlflow_load
from mlopsportal.demo.steps import demo_users_and_projects_load
from registry.mlflow_client import mlflow_fluent_at
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
    assert len(versions) == 4
    assert all(v.run.git_commit and v.run.datasets and v.signature_inputs for v in versions)
    assert len({v.run.datasets[0]["digest"] for v in versions}) == 4
    # v4 takes support_calls as an integer: what production sends (float32) no longer fits.
    calls = {v.version: {c["name"]: c["type"] for c in v.signature_inputs}["support_calls"] for v in versions}
    assert calls == {1: "float", 2: "float", 3: "float", 4: "long"}

    notebooks = Experiment.objects.get(name="demand-forecast-notebooks")
    assert notebooks.project.slug == "demand-forecasting"
    assert notebooks.runs.count() == 3
    assert all(r.source_type == "NOTEBOOK" and not r.git_commit and not r.datasets for r in notebooks.runs.all())


def test_the_demo_skips_mlflow_quickly_when_no_server_answers(settings):
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"
    settings.MLFLOW_REQUEST_RETRIES = 0
    demo_mirror_load()
    assert not Run.objects.exists()


@pytest.fixture
def fresh_mlflow_process_state(monkeypatch):
    """MLflow as a newly started process has it: no URI set anywhere, no MLFLOW_* variables."""
    for key in [key for key in os.environ if key.startswith("MLFLOW_")]:
        monkeypatch.delenv(key)
    tracking_utils._tracking_uri = registry_utils._registry_uri = fluent._active_experiment_id = None


def _child_mlflow_environ() -> dict[str, str]:
    script = "import os, json; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('MLFLOW_')}))"
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return json.loads(output)


def test_pointing_mlflow_at_a_server_leaves_no_mlflow_variable_behind_for_child_processes(
    mlflow_uri, fresh_mlflow_process_state
):
    default_uri = mlflow.get_tracking_uri()

    with mlflow_fluent_at(mlflow_uri):
        mlflow.set_experiment("process-state-probe")  # also mirrored into MLFLOW_EXPERIMENT_ID
        assert os.environ["MLFLOW_TRACKING_URI"] == mlflow_uri

    assert _child_mlflow_environ() == {}
    assert mlflow.get_tracking_uri() == default_uri
    assert fluent._active_experiment_id is None


def test_pointing_mlflow_at_a_server_keeps_what_the_operator_exported(
    mlflow_uri, fresh_mlflow_process_state, monkeypatch
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")

    with mlflow_fluent_at(mlflow_uri):
        pass

    assert _child_mlflow_environ() == {"MLFLOW_TRACKING_URI": "http://mlflow.example:5000"}


def test_loading_the_demo_into_mlflow_leaves_child_processes_the_environment_they_had(
    mlflow_uri, fresh_mlflow_process_state
):
    demo_mlflow_load(tracking_uri=mlflow_uri)

    assert _child_mlflow_environ() == {}
