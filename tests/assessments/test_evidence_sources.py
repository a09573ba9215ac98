"""Automatic criteria on real mirrored MLflow data: runs and models logged with MLflow's own client
to the session's server, mirrored by the registry sync, linked to projects, then judged."""

import time

import pytest
from mlflow.entities import Dataset, DatasetInput, InputTag

from assessments import services
from assessments.evidence import SOURCE_GATE, SOURCE_MIRROR, SOURCE_MONITORING
from assessments.evidence_sources import project_evidence
from assessments.scoring.checks import run_check
from assessments.scoring.results import Outcome
from registry.mirror.sync import sync_execute
from registry.models import Experiment, RegisteredModel
from tests.factories import ProjectFactory
from tests.registry.mlflow_helpers import log_run, log_sklearn_model_run, register_version, unique

pytestmark = pytest.mark.django_db

DAY_MS = 86_400_000
COMMIT = "0123456789abcdef0123456789abcdef01234567"
# check -> the project that fails it
MIRROR_CHECKS = {
    "runs_params_metrics": "bad",
    "runs_git_commit": "bad",
    "runs_dataset": "bad",
    "runs_automated_cadence": "bad",
    "registry_in_use": "bad",
    "serving_alias": "bad",
    "rollback_ready": "bad",
    "versions_linked_to_runs": "handoff",
    "versions_signature": "handoff",
}


def pipeline_run(client, experiment_id: str, *, days_ago: float, commit: str = COMMIT) -> str:
    run = client.create_run(
        experiment_id,
        start_time=int(time.time() * 1000 - days_ago * DAY_MS),
        tags={"mlflow.source.type": "JOB", **({"mlflow.source.git.commit": commit} if commit else {})},
    )
    run_id = run.info.run_id
    client.log_param(run_id, "C", "1.0")
    client.log_metric(run_id, "auc", 0.8)
    dataset = Dataset(name="train", digest="d41d8cd9", source_type="s3", source="s3://bucket/train.parquet")
    client.log_inputs(run_id, [DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])])
    client.set_terminated(run_id)
    return run_id


@pytest.fixture(scope="module")
def logged(mlflow_client):
    """What the teams logged to MLflow, once for this module (the server lives for the session): a
    pipeline-driven experiment and model, notebook runs without a registry, and hand-off versions
    (no signature, no run)."""
    good_exp, bad_exp = unique("pipeline"), unique("notebooks")
    good_id, bad_id = mlflow_client.create_experiment(good_exp), mlflow_client.create_experiment(bad_exp)
    for week in range(6):  # weekly training runs started by a job
        pipeline_run(mlflow_client, good_id, days_ago=7 * week + 1)
    pipeline_run(mlflow_client, good_id, days_ago=200, commit="")  # outside the 90-day window: not judged
    model = unique("churn")
    for _ in range(2):  # two registered versions with signatures, trained by the pipeline
        run_id = log_sklearn_model_run(experiment_name=good_exp, model_name=model)
        mlflow_client.set_tag(run_id, "mlflow.source.type", "JOB")
    mlflow_client.set_registered_model_alias(model, "champion", "2")

    notebook_runs = [
        log_run(mlflow_client, bad_id, params={"lr": "0.1"}, tags={"mlflow.source.type": "NOTEBOOK"}),
        log_run(mlflow_client, bad_id, metrics={"auc": [0.7]}, tags={"mlflow.source.type": "NOTEBOOK"}),
        log_run(mlflow_client, bad_id, tags={"mlflow.source.type": "LOCAL"}),
    ]
    handoff_model = unique("handoff")
    register_version(mlflow_client, handoff_model, notebook_runs[0])  # no model files, so no signature
    mlflow_client.create_model_version(handoff_model, source="s3://shared-drive/model.pkl")  # no run at all
    return {"good_exp": good_exp, "bad_exp": bad_exp, "model": model, "handoff_model": handoff_model}


@pytest.fixture
def mirrored(mlflow_uri, logged):
    """The registry sync mirrors it; the teams link their experiments and models to projects."""
    good, bad = ProjectFactory(name=unique("Pipelines")), ProjectFactory(name=unique("Notebooks"))
    handoff = ProjectFactory(name=unique("Handoff"))
    sync = sync_execute(kind="full")
    assert sync.status == "succeeded", sync.error
    Experiment.objects.filter(name=logged["good_exp"]).update(project=good)
    Experiment.objects.filter(name=logged["bad_exp"]).update(project=bad)
    RegisteredModel.objects.filter(name=logged["model"]).update(project=good)
    RegisteredModel.objects.filter(name=logged["handoff_model"]).update(project=handoff)
    return {"good": good, "bad": bad, "handoff": handoff, "model": logged["model"]}


def _evidence(project):
    from datetime import timedelta

    from django.utils import timezone

    return project_evidence(project=project, now=timezone.now(), window=timedelta(days=90))


def test_each_mirror_criterion_is_met_by_the_pipeline_project_and_not_by_the_others(mirrored):
    good = _evidence(mirrored["good"])
    others = {name: _evidence(mirrored[name]) for name in ("bad", "handoff")}
    assert SOURCE_MIRROR in good.sources
    assert len(good.runs) == 8  # six pipeline runs and two model-training runs; the old one is outside the window
    for key, failing in MIRROR_CHECKS.items():
        met, not_met = run_check(key, good), run_check(key, others[failing])
        assert met.outcome is Outcome.MET, f"{key}: {met.summary}"
        assert not_met.outcome is Outcome.NOT_MET, f"{key}: {not_met.summary}"


def test_the_evidence_links_point_at_the_mirrored_runs_and_versions(mirrored):
    bad = _evidence(mirrored["bad"])
    tracking = run_check("runs_params_metrics", bad)
    assert "0 of 3 runs" in tracking.summary
    assert all(link.url for link in tracking.links) and len(tracking.links) == 3
    # Reproducibility is judged on what ships: three notebook runs and no version say nothing.
    commit = run_check("runs_git_commit", bad)
    assert commit.outcome is Outcome.NOT_MET and "3 other run(s)" in commit.summary
    signature = run_check("versions_signature", _evidence(mirrored["handoff"]))
    assert "2 of 2 live versions have no input signature" in signature.summary
    good = run_check("serving_alias", _evidence(mirrored["good"]))
    assert f"{mirrored['model']}@champion → v2" in good.summary


def test_the_evidence_always_reads_the_mirror_the_gate_and_the_monitors(mirrored):
    # The three apps are always installed: no criterion reads "no evidence yet" for want of a source.
    evidence = _evidence(mirrored["good"])
    assert evidence.sources == {SOURCE_MIRROR, SOURCE_GATE, SOURCE_MONITORING}
    for key in ("alias_via_gate", "promotion_metric_check", "monitor_receiving_data", "alerts_routed"):
        assert run_check(key, evidence).outcome is not Outcome.NO_EVIDENCE, key


def test_the_stored_scorecard_keeps_the_evidence_it_used(mirrored):
    snapshot = services.scorecard_recompute(project_id=mirrored["good"].pk)
    assert snapshot.outcomes["REP-1"]["outcome"] == "met"
    assert snapshot.outcomes["REP-1"]["links"]
    assert snapshot.outcomes["REL-2"]["outcome"] == "met"  # version 1 is ready for rollback
    assert services.scorecard_recompute(project_id=mirrored["good"].pk) is None
