"""The sync against the real MLflow server: the mirror equals what MLflow says, and follows it."""

import pytest

from registry.errors import MlflowUnavailable
from registry.mirror.sync import sync_execute
from registry.mirror.sync_fields import signature_from_mlmodel
from registry.mlflow_client import MlflowRestClient
from registry.models import Experiment, MetricHistory, ModelVersion, RegisteredModel, Run, SyncRun
from registry.signals import model_aliases_changed

from .mlflow_helpers import log_run, log_sklearn_model_run, register_version, unique

pytestmark = pytest.mark.django_db


def _changes(sync: SyncRun) -> int:
    return sum(sum(kind.values()) for kind in sync.counts.values())


def test_a_full_sync_mirrors_experiments_runs_models_versions_and_signatures(mlflow_uri, mlflow_client):
    experiment_name, model_name = unique("quickstart"), unique("iris")
    run_id = log_sklearn_model_run(experiment_name=experiment_name, model_name=model_name)
    mlflow_client.set_experiment_tag(mlflow_client.get_experiment_by_name(experiment_name).experiment_id, "team", "a")
    mlflow_client.set_registered_model_alias(model_name, "champion", "1")

    sync = sync_execute(kind=SyncRun.Kind.FULL)

    assert sync.status == SyncRun.Status.SUCCEEDED, sync.error
    experiment = Experiment.objects.get(name=experiment_name)
    assert experiment.tags["team"] == "a" and experiment.lifecycle_stage == "active" and experiment.deleted_at is None
    run = Run.objects.get(run_id=run_id)
    assert run.experiment == experiment
    assert run.status == "FINISHED" and run.end_time is not None
    assert run.params == {"C": "1.0"}
    assert run.metrics == {"accuracy": 0.9}  # the latest value, not the first
    assert run.git_commit == "0123456789abcdef0123456789abcdef01234567"
    assert run.source_type == "LOCAL"
    assert run.datasets == [
        {
            "name": "train",
            "digest": run.datasets[0]["digest"],
            "source": "s3://bucket/train.csv",
            "source_type": "s3",
            "context": "training",
        }
    ]
    assert run.datasets[0]["digest"]
    assert run.logged_models and run.logged_models[0]["model_id"].startswith("m-")
    model = RegisteredModel.objects.get(name=model_name)
    assert model.aliases == {"champion": 1}
    version = model.versions.get()
    assert version.version == 1 and version.run == run and version.run_id == run_id
    assert version.status == "READY" and version.aliases == ["champion"]
    assert version.model_id == run.logged_models[0]["model_id"]
    assert version.signature_inputs == [
        {"name": "age", "type": "double", "required": True},
        {"name": "income", "type": "double", "required": True},
    ]
    assert version.signature_outputs == [{"name": None, "type": "tensor<int64>[-1]", "required": True}]


def test_a_second_sync_with_nothing_changed_in_mlflow_changes_nothing(mlflow_uri, mlflow_client):
    experiment_id = mlflow_client.create_experiment(unique("steady"))
    run_id = log_run(mlflow_client, experiment_id, params={"lr": "0.1"}, metrics={"loss": [0.5]})
    register_version(mlflow_client, unique("steady-model"), run_id)
    sync_execute(kind=SyncRun.Kind.FULL)
    rows = (Experiment.objects.count(), Run.objects.count(), ModelVersion.objects.count())

    again_full = sync_execute(kind=SyncRun.Kind.FULL)
    again_incremental = sync_execute(kind=SyncRun.Kind.INCREMENTAL)

    assert again_full.status == again_incremental.status == SyncRun.Status.SUCCEEDED
    assert _changes(again_full) == 0 and _changes(again_incremental) == 0
    assert (Experiment.objects.count(), Run.objects.count(), ModelVersion.objects.count()) == rows


def test_the_incremental_sync_picks_up_new_runs_moved_aliases_deleted_versions_and_experiments(
    mlflow_uri, mlflow_client
):
    experiment_id = mlflow_client.create_experiment(unique("moving"))
    first = log_run(mlflow_client, experiment_id, metrics={"auc": [0.7]})
    model_name = unique("moving-model")
    register_version(mlflow_client, model_name, first)
    register_version(mlflow_client, model_name, first)
    mlflow_client.set_registered_model_alias(model_name, "champion", "1")
    sync_execute(kind=SyncRun.Kind.FULL)
    moves = []

    def listen(sender, registered_model, old, new, **kwargs):
        moves.append((registered_model.name, old, new))

    model_aliases_changed.connect(listen)
    try:
        second = log_run(mlflow_client, experiment_id, metrics={"auc": [0.8]})
        running = log_run(mlflow_client, experiment_id, finish=False)
        mlflow_client.set_registered_model_alias(model_name, "champion", "2")
        mlflow_client.delete_model_version(model_name, "1")
        sync = sync_execute(kind=SyncRun.Kind.INCREMENTAL)
    finally:
        model_aliases_changed.disconnect(listen)

    assert sync.kind == SyncRun.Kind.INCREMENTAL and sync.status == SyncRun.Status.SUCCEEDED, sync.error
    assert Run.objects.get(run_id=second).metrics == {"auc": 0.8}
    assert Run.objects.get(run_id=running).status == "RUNNING"
    model = RegisteredModel.objects.get(name=model_name)
    assert model.aliases == {"champion": 2}
    assert moves == [(model_name, {"champion": 1}, {"champion": 2})]
    assert model.versions.get(version=2).aliases == ["champion"]
    assert model.versions.get(version=1).deleted_at is not None  # marked, not dropped
    assert sync.counts["runs"]["created"] == 2 and sync.counts["versions"]["deleted"] == 1

    mlflow_client.set_terminated(running, status="FAILED")
    mlflow_client.delete_experiment(experiment_id)
    sync = sync_execute(kind=SyncRun.Kind.INCREMENTAL)

    experiment = Experiment.objects.get(mlflow_id=experiment_id)
    assert experiment.lifecycle_stage == "deleted" and experiment.deleted_at is not None
    assert experiment.runs.count() == 3  # the runs stay in the mirror
    assert sync.counts["experiments"]["deleted"] == 1


def test_a_run_stamped_in_the_future_does_not_hide_the_runs_logged_after_it(mlflow_uri, mlflow_client):
    import time

    experiment_id = mlflow_client.create_experiment(unique("clock-ahead"))
    ten_days_ahead = int(time.time() * 1000) + 10 * 86_400_000
    ahead = mlflow_client.create_run(experiment_id, start_time=ten_days_ahead)  # a client whose clock is off
    mlflow_client.set_terminated(ahead.info.run_id, end_time=ten_days_ahead + 1000)
    full = sync_execute(kind=SyncRun.Kind.FULL)
    assert full.runs_watermark_ms <= int(full.started_at.timestamp() * 1000)

    now = log_run(mlflow_client, experiment_id, metrics={"auc": [0.9]})
    sync_execute(kind=SyncRun.Kind.INCREMENTAL)

    assert Run.objects.filter(run_id=now).exists()


def test_the_full_reconcile_picks_up_late_metrics_tags_and_deleted_runs(mlflow_uri, mlflow_client):
    experiment_id = mlflow_client.create_experiment(unique("late"))
    run_id = log_run(mlflow_client, experiment_id, metrics={"loss": [0.5, 0.4]})
    doomed = log_run(mlflow_client, experiment_id)
    model_name = unique("late-model")
    register_version(mlflow_client, model_name, run_id)
    sync_execute(kind=SyncRun.Kind.FULL)
    run = Run.objects.get(run_id=run_id)
    MetricHistory.objects.create(run=run, key="loss", points=[[0, 0, 0.5], [1, 0, 0.4]])

    # None of these moves a timestamp MLflow lets us filter on.
    mlflow_client.log_metric(run_id, "loss", 0.3, step=2)
    mlflow_client.set_tag(run_id, "reviewed", "yes")
    mlflow_client.set_model_version_tag(model_name, "1", "validated", "true")
    mlflow_client.delete_run(doomed)
    sync = sync_execute(kind=SyncRun.Kind.FULL)

    assert sync.status == SyncRun.Status.SUCCEEDED, sync.error
    run.refresh_from_db()
    assert run.metrics == {"loss": 0.3} and run.tags["reviewed"] == "yes"
    assert not MetricHistory.objects.filter(run=run).exists()  # the cached history was stale
    assert ModelVersion.objects.get(registered_model__name=model_name).tags == {"validated": "true"}
    assert Run.objects.get(run_id=doomed).deleted_at is not None


def test_a_model_sync_reads_only_that_model(mlflow_uri, mlflow_client):
    experiment_id = mlflow_client.create_experiment(unique("targeted"))
    run_id = log_run(mlflow_client, experiment_id)
    sync_execute(kind=SyncRun.Kind.FULL)
    wanted, other = unique("wanted"), unique("other")
    register_version(mlflow_client, wanted, run_id)
    register_version(mlflow_client, other, run_id)

    sync = sync_execute(kind=SyncRun.Kind.MODEL, model_name=wanted)

    assert sync.status == SyncRun.Status.SUCCEEDED and sync.target == wanted
    assert ModelVersion.objects.get(registered_model__name=wanted).run.run_id == run_id
    assert not RegisteredModel.objects.filter(name=other).exists()


def test_two_syncs_never_run_at_once_and_a_crashed_one_releases_the_lock(mlflow_uri, settings):
    from django.utils import timezone

    holder = SyncRun.objects.create(kind=SyncRun.Kind.FULL, started_at=timezone.now())

    skipped = sync_execute(kind=SyncRun.Kind.FULL)

    assert skipped.status == SyncRun.Status.SKIPPED
    assert SyncRun.objects.filter(status=SyncRun.Status.RUNNING).get() == holder

    SyncRun.objects.filter(pk=holder.pk).update(started_at=timezone.now() - settings.PORTAL_SYNC_STALE_AFTER * 2)
    recovered = sync_execute(kind=SyncRun.Kind.FULL)

    assert recovered.status == SyncRun.Status.SUCCEEDED
    holder.refresh_from_db()
    assert holder.status == SyncRun.Status.FAILED and "Abandoned" in holder.error


def test_a_server_stopped_mid_sync_is_a_recorded_failure_and_the_next_sync_recovers(
    mlflow_uri, mlflow_client, mlflow_server, monkeypatch
):
    experiment_id = mlflow_client.create_experiment(unique("outage"))
    run_id = log_run(mlflow_client, experiment_id, metrics={"f1": [0.6]})
    model_name = unique("outage-model")
    register_version(mlflow_client, model_name, run_id)
    real_listing = MlflowRestClient.registered_models

    def stop_then_list(self):
        mlflow_server.stop()  # experiments and runs are read; the server dies before the models
        return real_listing(self)

    monkeypatch.setattr(MlflowRestClient, "registered_models", stop_then_list)
    try:
        failed = sync_execute(kind=SyncRun.Kind.FULL)
        with pytest.raises(MlflowUnavailable):
            sync_execute(kind=SyncRun.Kind.FULL, raise_errors=True)
    finally:
        monkeypatch.undo()
        mlflow_server.start()

    assert failed.status == SyncRun.Status.FAILED
    assert "MlflowUnavailable" in failed.error and mlflow_server.uri in failed.error
    assert failed.finished_at is not None and failed.runs_watermark_ms is None
    assert not SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists()  # the lock is released

    recovered = sync_execute(kind=SyncRun.Kind.INCREMENTAL)

    assert recovered.status == SyncRun.Status.SUCCEEDED, recovered.error
    assert Run.objects.filter(run_id=run_id).count() == 1
    assert ModelVersion.objects.filter(registered_model__name=model_name).count() == 1


def test_signatures_are_read_from_the_mlmodel_file():
    text = """
signature:
  inputs: '[{"type": "long", "name": "age", "required": true}, {"type": "string", "name": "plan", "required": false}]'
  outputs: '[{"type": "double", "name": "churn", "required": true}]'
"""
    assert signature_from_mlmodel(text) == (
        [{"name": "age", "type": "long", "required": True}, {"name": "plan", "type": "string", "required": False}],
        [{"name": "churn", "type": "double", "required": True}],
    )
    assert signature_from_mlmodel("flavors: {}\n") == (None, None)


def test_the_incremental_sync_reads_old_runs_of_a_new_experiment_and_new_versions_of_a_known_model(
    mlflow_uri, mlflow_client
):
    first_experiment = mlflow_client.create_experiment(unique("known"))
    run_id = log_run(mlflow_client, first_experiment)
    model_name = unique("growing")
    register_version(mlflow_client, model_name, run_id)
    sync_execute(kind=SyncRun.Kind.FULL)

    imported = mlflow_client.create_experiment(unique("imported"))
    old = mlflow_client.create_run(imported, start_time=1_600_000_000_000)  # a run from 2020
    mlflow_client.set_terminated(old.info.run_id, end_time=1_600_000_100_000)
    register_version(mlflow_client, model_name, run_id)
    sync = sync_execute(kind=SyncRun.Kind.INCREMENTAL)

    assert sync.kind == SyncRun.Kind.INCREMENTAL
    assert Run.objects.filter(run_id=old.info.run_id, experiment__mlflow_id=imported).exists()
    assert list(ModelVersion.objects.filter(registered_model__name=model_name).values_list("version", flat=True)) == [
        2,
        1,
    ]
