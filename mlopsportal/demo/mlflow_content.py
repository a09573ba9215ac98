"""Demo content in MLflow: real runs and registered models, logged with MLflow's own client.

- the MLflow quickstart: logistic regression on the iris data, its params, accuracy, a tag and a
  model with signature and input example registered as `tracking-quickstart`;
- `churn-classifier`: three trainings on a synthetic churn table, each with a git commit tag, a
  dataset input, a loss history, a registered version; `champion` points at version 2 and
  `challenger` at version 3;
- notebook runs for demand forecasting with params and metrics only (no git commit, no dataset,
  no model): what a level-0 project looks like.

Idempotent: each part is tagged `portal.demo`; a part already in MLflow is not logged again.
"""

import logging

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from registry.mlflow_client import mlflow_fluent_at

logger = logging.getLogger(__name__)

QUICKSTART_EXPERIMENT = "MLflow Quickstart"
QUICKSTART_MODEL = "tracking-quickstart"
CHURN_EXPERIMENT = "churn-classifier"
CHURN_MODEL = "churn-classifier"
NOTEBOOK_EXPERIMENT = "demand-forecast-notebooks"
DEMO_TAG = "portal.demo"


def sklearn_model_log(model: object, **kwargs: object) -> None:
    """`mlflow.sklearn.log_model` with the flavour's pinned requirements given up front. Left to
    infer them, MLflow starts a Python process that imports the model's modules to see what it
    uses: 8-12 s per model on a 2-core machine, most of the demo's start-up time."""
    mlflow.sklearn.log_model(model, pip_requirements=mlflow.sklearn.get_default_pip_requirements(), **kwargs)


def _experiment_id(client: MlflowClient, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is None:
        return client.create_experiment(name)
    if found.lifecycle_stage == "deleted":
        client.restore_experiment(found.experiment_id)
    return found.experiment_id


def _logged(client: MlflowClient, experiment_id: str, part: str) -> bool:
    return bool(client.search_runs([experiment_id], filter_string=f"tags.`{DEMO_TAG}` = '{part}'", max_results=1))


def _quickstart(client: MlflowClient) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split

    experiment_id = _experiment_id(client, QUICKSTART_EXPERIMENT)
    if _logged(client, experiment_id, "quickstart"):
        return
    x, y = load_iris(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=42)
    params = {"solver": "lbfgs", "max_iter": 1000, "random_state": 8888}
    model = LogisticRegression(**params).fit(x_train, y_train)
    accuracy = accuracy_score(y_test, model.predict(x_test))
    mlflow.set_experiment(experiment_id=experiment_id)
    with mlflow.start_run(run_name="quickstart-lr", tags={DEMO_TAG: "quickstart"}):
        mlflow.log_params(params)
        mlflow.log_metric("accuracy", accuracy)
        mlflow.set_tag("Training Info", "Basic LR model for iris data")
        sklearn_model_log(
            model,
            name="iris_model",
            signature=infer_signature(x_train, model.predict(x_train)),
            input_example=x_train.head(5),
            registered_model_name=QUICKSTART_MODEL,
        )


def _churn_table(seed: int, rows: int = 600) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            # float32 and these names on purpose: the demo monitor (mlopsportal/demo/monitoring.py) watches this
            # model and its schema story is a float64 column arriving where float32 is expected.
            "tenure_months": rng.gamma(2.0, 12.0, rows).astype("float32"),
            "monthly_charges": rng.normal(70, 20, rows).astype("float32"),
            "support_calls": rng.poisson(1.5, rows).astype("float32"),
            "plan": rng.choice(["basic", "standard", "premium"], rows),
            "region": rng.choice(["north", "south", "east", "west"], rows),
        }
    )
    risk = 0.04 * frame["support_calls"] - 0.03 * frame["tenure_months"] + 0.01 * frame["monthly_charges"]
    # Earlier data releases carry noisier labels, so each retraining is measurably better.
    label_noise = 0.4 + 0.3 * max(0, 2 - seed)
    churned = (risk + rng.normal(0, label_noise, rows) > 0).astype(int)
    return frame, churned


CHURN_TRAININGS = (
    # (git commit, C, data release)
    ("3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39", 0.1, "2026-08"),
    ("9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b07", 1.0, "2026-09"),
    ("c0ffee1234567890abcdef1234567890abcdef12", 3.0, "2026-10"),
    # v4: trained on the new warehouse export, where support_calls is an integer count. Its signature
    # says long where production sends float32: MLflow refuses every batch production sent, which
    # the gate's shadow evaluation shows before the alias moves (the pending v4 -> @champion request).
    ("5e1f0c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f", 1.0, "2026-11"),
)
INTEGER_CALLS_FROM = 3  # the index in CHURN_TRAININGS from which support_calls is an integer


def _churn(client: MlflowClient) -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    experiment_id = _experiment_id(client, CHURN_EXPERIMENT)
    client.set_experiment_tag(experiment_id, "team", "Growth")
    mlflow.set_experiment(experiment_id=experiment_id)
    for index, (commit, c_value, release) in enumerate(CHURN_TRAININGS):
        part = f"churn-{index + 1}"
        if _logged(client, experiment_id, part):
            continue
        frame, churned = _churn_table(seed=index)
        if index >= INTEGER_CALLS_FROM:
            frame["support_calls"] = frame["support_calls"].astype("int64")
        train, test = frame.iloc[:480], frame.iloc[480:]
        y_train, y_test = churned.iloc[:480], churned.iloc[480:]
        model = make_pipeline(
            make_column_transformer(
                (StandardScaler(), ["tenure_months", "monthly_charges", "support_calls"]),
                (OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
            ),
            LogisticRegression(C=c_value, max_iter=500),
        ).fit(train, y_train)
        scores = model.predict_proba(test)[:, 1]
        tags = {DEMO_TAG: part, "mlflow.source.git.commit": commit, "mlflow.source.type": "JOB"}
        tags["mlflow.source.name"] = "pipelines/train_churn.py"
        with mlflow.start_run(run_name=f"churn-lr-C{c_value}", tags=tags):
            mlflow.log_params({"C": c_value, "max_iter": 500, "data_release": release})
            for step in range(20):  # a loss curve for the history charts
                mlflow.log_metric("train_loss", 0.69 * np.exp(-0.15 * (step + 1) * (1 + index / 4)) + 0.3, step=step)
            mlflow.log_metrics(
                {
                    "accuracy": accuracy_score(y_test, scores > 0.5),
                    "auc": roc_auc_score(y_test, scores),
                    "f1": f1_score(y_test, scores > 0.5),
                }
            )
            dataset = mlflow.data.from_pandas(
                train.assign(churned=y_train.values),
                name=f"churn-train-{release}",
                source=f"s3://demo-bucket/churn/train-{release}.parquet",
                targets="churned",
            )
            mlflow.log_input(dataset, context="training")
            sklearn_model_log(
                model,
                name="model",
                signature=infer_signature(train, model.predict(train)),
                input_example=train.head(3),
                registered_model_name=CHURN_MODEL,
            )
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{CHURN_MODEL}'"))
    if len(versions) >= 3:
        model = client.get_registered_model(CHURN_MODEL)
        if "champion" not in model.aliases:
            client.set_registered_model_alias(CHURN_MODEL, "champion", str(versions[1]))
        if "challenger" not in model.aliases:
            client.set_registered_model_alias(CHURN_MODEL, "challenger", str(versions[2]))
        client.update_registered_model(CHURN_MODEL, description="Predicts subscriber churn in the next 30 days.")


def _notebooks(client: MlflowClient) -> None:
    experiment_id = _experiment_id(client, NOTEBOOK_EXPERIMENT)
    for index, (window, mape) in enumerate([(7, 0.182), (14, 0.164), (28, 0.171)]):
        part = f"notebook-{index + 1}"
        if _logged(client, experiment_id, part):
            continue
        tags = {
            DEMO_TAG: part,
            "mlflow.source.type": "NOTEBOOK",
            "mlflow.source.name": "/Users/erin/demand_forecast_exploration.ipynb",
            "mlflow.runName": f"notebook-window-{window}",
        }
        run = client.create_run(experiment_id, tags=tags, run_name=f"notebook-window-{window}")
        client.log_param(run.info.run_id, "window_days", str(window))
        client.log_param(run.info.run_id, "model", "moving-average")
        client.log_metric(run.info.run_id, "mape", mape)
        client.set_terminated(run.info.run_id)


def demo_mlflow_load(*, tracking_uri: str) -> None:
    """Log the demo runs and models to the MLflow server at `tracking_uri` (idempotent)."""
    with mlflow_fluent_at(tracking_uri):
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        _quickstart(client)
        _churn(client)
        _notebooks(client)


# Which demo project each mirrored object belongs to (project slugs from mlopsportal/demo/steps.py).
DEMO_LINKS = {
    "experiments": {CHURN_EXPERIMENT: "churn-prediction", NOTEBOOK_EXPERIMENT: "demand-forecasting"},
    "models": {CHURN_MODEL: "churn-prediction"},
}


def demo_mirror_load() -> None:
    """The demo step: log to the configured MLflow server, sync the mirror, link to demo projects."""
    from django.conf import settings

    from registry.errors import MlflowUnavailable
    from registry.mirror.sync import sync_execute
    from registry.mlflow_client import MlflowRestClient
    from registry.models import Experiment, Project, RegisteredModel, SyncRun

    try:  # MLflow's own client would retry an absent server for minutes
        MlflowRestClient().ping()
    except MlflowUnavailable as exc:
        logger.warning("Demo: skipping the MLflow runs and models: %s", exc)
        return
    demo_mlflow_load(tracking_uri=settings.MLFLOW_TRACKING_URI)
    sync = sync_execute(kind=SyncRun.Kind.FULL)
    if sync.status != SyncRun.Status.SUCCEEDED:
        logger.warning("Demo: the MLflow sync did not succeed (%s): %s", sync.status, sync.error)
    projects = {p.slug: p for p in Project.objects.filter(slug__in=[*DEMO_LINKS["experiments"].values()])}
    for name, slug in DEMO_LINKS["experiments"].items():
        if slug in projects:
            Experiment.objects.filter(name=name, project__isnull=True).update(project=projects[slug])
    for name, slug in DEMO_LINKS["models"].items():
        if slug in projects:
            RegisteredModel.objects.filter(name=name, project__isnull=True).update(project=projects[slug])
