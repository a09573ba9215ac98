"""Logging real runs and models to the test MLflow server, shared by the registry tests."""

import uuid

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

from mlopsportal.demo.mlflow_content import sklearn_model_log


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def log_run(
    client: MlflowClient,
    experiment_id: str,
    *,
    params: dict[str, str] | None = None,
    metrics: dict[str, list[float]] | None = None,
    tags: dict[str, str] | None = None,
    finish: bool = True,
) -> str:
    run = client.create_run(experiment_id, tags=tags or {})
    run_id = run.info.run_id
    for key, value in (params or {}).items():
        client.log_param(run_id, key, value)
    for key, values in (metrics or {}).items():
        for step, value in enumerate(values):
            client.log_metric(run_id, key, value, step=step)
    if finish:
        client.set_terminated(run_id)
    return run_id


def log_sklearn_model_run(*, experiment_name: str, model_name: str) -> str:
    """A run that trains a small model, records its dataset and registers the model with a signature."""
    mlflow.set_experiment(experiment_name)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.random((30, 2)), columns=["age", "income"])
    target = (frame["age"] > 0.5).astype(int)
    model = LogisticRegression().fit(frame, target)
    with mlflow.start_run() as run:
        mlflow.log_param("C", "1.0")
        mlflow.log_metric("accuracy", 0.5, step=0)
        mlflow.log_metric("accuracy", 0.9, step=1)
        mlflow.set_tag("mlflow.source.git.commit", "0123456789abcdef0123456789abcdef01234567")
        dataset = mlflow.data.from_pandas(frame, name="train", source="s3://bucket/train.csv")
        mlflow.log_input(dataset, context="training")
        sklearn_model_log(
            model,
            name="model",
            signature=infer_signature(frame, model.predict(frame)),
            registered_model_name=model_name,
        )
    return run.info.run_id


def register_version(client: MlflowClient, model_name: str, run_id: str) -> int:
    """A version without model files (so without a signature), fast to make."""
    if not client.search_registered_models(filter_string=f"name = '{model_name}'"):
        client.create_registered_model(model_name)
    return int(client.create_model_version(model_name, source=f"runs:/{run_id}/model", run_id=run_id).version)
