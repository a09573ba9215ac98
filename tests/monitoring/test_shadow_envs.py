"""The interpreter a shadow replay runs a model in (monitoring/shadow/environments.py): the worker's own, or a
virtualenv uv builds from the model's logged requirements with MLflow's environment handling.

The model here pins six==1.16.0 while this Python has another six, and predicts the version it
imports: under "local" it answers this Python's version, in its own environment the pinned one.
Building that environment installs from the package index (PyPI), most packages linked from uv's
cache that `make install` filled."""

import textwrap
import uuid
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import six

from monitoring.shadow.environments import COMPLETE_MARK, ModelEnvironments, build_environment
from monitoring.shadow.replay import BatchSample, ModelReplay, ReplayLimits, model_download, replay
from registry.mlflow_client import mlflow_fluent_at

LIMITS = ReplayLimits(seconds=120, memory_mb=4096)
PINNED_SIX = "1.16.0"
SIX_MODEL = """
    import mlflow


    class SixVersion(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            import six

            return [six.__version__] * len(model_input)


    mlflow.models.set_model(SixVersion())
"""

pytestmark = pytest.mark.timeout(600)  # a first build on an empty uv cache downloads MLflow's dependencies


def _model_log(tmp_path_factory, mlflow_server, *, requirements: list[str]) -> Path:
    code = tmp_path_factory.mktemp("model-code") / "six_version.py"
    code.write_text(textwrap.dedent(SIX_MODEL))
    name = f"shadow-env-{uuid.uuid4().hex[:8]}"
    with mlflow_fluent_at(mlflow_server.uri):
        mlflow.set_experiment(name)
        with mlflow.start_run():
            mlflow.pyfunc.log_model(
                name="model", python_model=str(code), pip_requirements=requirements, registered_model_name=name
            )
    return model_download(
        model_name=name, version=1, tracking_uri=mlflow_server.uri, into=tmp_path_factory.mktemp("downloaded")
    )


@pytest.fixture(scope="module")
def six_model(mlflow_server, tmp_path_factory) -> Path:
    assert six.__version__ != PINNED_SIX, "the test needs this Python to have another six than the model pins"
    return _model_log(
        tmp_path_factory, mlflow_server, requirements=[f"mlflow=={mlflow.__version__}", f"six=={PINNED_SIX}"]
    )


def _batches() -> list[BatchSample]:
    return [BatchSample(batch_id=1, day="2026-11-01", frame=pd.DataFrame({"x": [1.0, 2.0, 3.0]}))]


def _candidate_under_uv(model: Path, *, root: Path, build_seconds: float) -> ModelReplay:
    environments = ModelEnvironments(manager="uv", root=root, build_seconds=build_seconds)
    result = replay(models={"candidate": model}, batches=_batches(), limits=LIMITS, environments=environments)
    return result.models["candidate"]


def test_locally_the_model_runs_on_the_workers_packages_and_the_unmet_pin_is_noted(six_model):
    candidate = replay(models={"candidate": six_model}, batches=_batches(), limits=LIMITS).models["candidate"]

    assert candidate.error == "" and candidate.accepted_rows == 3
    assert set(candidate.predictions) == {six.__version__}
    assert any(f"required: six=={PINNED_SIX}" in note for note in candidate.notes), candidate.notes


def test_under_uv_the_model_runs_in_its_own_environment_built_once_and_reused(six_model, tmp_path):
    environments = ModelEnvironments(manager="uv", root=tmp_path / "envs", build_seconds=540)

    first = replay(models={"candidate": six_model}, batches=_batches(), limits=LIMITS, environments=environments)
    again = replay(models={"candidate": six_model}, batches=_batches(), limits=LIMITS, environments=environments)

    built, reused = first.models["candidate"], again.models["candidate"]
    for replayed in (built, reused):
        assert replayed.error == "", replayed.error
        assert set(replayed.predictions) == {PINNED_SIX}  # the pinned six, not this Python's
        assert not any("required:" in note for note in replayed.notes), replayed.notes  # every pin met there
    assert "Ran in its own uv environment" in built.notes[0] and "built for this replay in" in built.notes[0]
    assert "Ran in its own uv environment" in reused.notes[0] and "built" not in reused.notes[0]
    (env_dir,) = (tmp_path / "envs" / "virtualenv_envs").iterdir()
    assert (env_dir / COMPLETE_MARK).is_file()

    # A directory without the mark is a build that was cut short (a killed worker): built again.
    (env_dir / COMPLETE_MARK).unlink()
    (env_dir / "left-by-a-killed-build").write_text("")
    rebuilt = replay(models={"candidate": six_model}, batches=_batches(), limits=LIMITS, environments=environments)
    assert "built for this replay in" in rebuilt.models["candidate"].notes[0]
    assert set(rebuilt.models["candidate"].predictions) == {PINNED_SIX}
    assert (env_dir / COMPLETE_MARK).is_file() and not (env_dir / "left-by-a-killed-build").exists()


def test_an_environment_that_cannot_be_built_is_the_models_error_and_leaves_nothing_half_built(
    mlflow_server, tmp_path_factory, tmp_path
):
    unbuildable = _model_log(
        tmp_path_factory,
        mlflow_server,
        requirements=[f"mlflow=={mlflow.__version__}", "portal-shadow-no-such-package==1.0"],
    )
    root = tmp_path / "envs"

    candidate = _candidate_under_uv(unbuildable, root=root, build_seconds=300)

    assert candidate.error.startswith("Building the model's uv environment failed"), candidate.error
    assert "portal-shadow-no-such-package" in candidate.error  # uv's own words on what it could not find
    assert candidate.batches == [] and candidate.accepted_rows == 0
    assert list((root / "virtualenv_envs").iterdir()) == []


def test_a_build_past_its_time_limit_is_stopped_and_removed(six_model, tmp_path):
    root = tmp_path / "envs"

    candidate = _candidate_under_uv(six_model, root=root, build_seconds=0.5)

    assert candidate.error.startswith("Building the model's uv environment took longer than 0.5 s"), candidate.error
    assert candidate.batches == []
    assert list(root.glob("virtualenv_envs/*")) == []


def test_the_build_process_gets_none_of_the_portals_secrets(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://portal:hunter2@db.internal/portal")
    monkeypatch.setenv("DJANGO_SECRET_KEY", "not-so-secret")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "mlflow-token")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://:password@broker.internal:6379/0")
    monkeypatch.setenv("UV_INDEX_URL", "https://index.internal/simple")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")

    environment = build_environment(home=tmp_path)

    assert environment["UV_INDEX_URL"] == "https://index.internal/simple"  # what reaching the index needs
    assert environment["HTTPS_PROXY"] == "http://proxy.internal:3128"
    assert environment["HOME"] == str(tmp_path)
    assert not {"DATABASE_URL", "DJANGO_SECRET_KEY", "MLFLOW_TRACKING_TOKEN", "CELERY_BROKER_URL"} & set(environment)
    assert not [name for name in environment if name.startswith(("PORTAL_", "MLFLOW_TRACKING_", "DJANGO_"))]
