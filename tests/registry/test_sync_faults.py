"""Fault F2 (issue 15): MLflow stops in the middle of a full sync and comes back later.

On a real MLflow server of this module's own (stopping it does not disturb other tests): the
portal's REST client stops the server for real just before a chosen request of a full pass, the
pass fails, the server comes back on the same backend store, MLflow changes meanwhile, and the
next *incremental* pass must converge: the mirror equals MLflow object by object, without
duplicates, and one more pass writes nothing. The status shows the failure, then the recovery.
"""

import time
from collections import Counter
from collections.abc import Iterator

import pytest
from django.db.models import Count

from registry.mirror.sync import sync_execute
from registry.mlflow_client import MlflowRestClient
from registry.models import Experiment, ModelVersion, RegisteredModel, Run, SyncRun

from ..conftest import MlflowServer, mlflow_server_running
from .mlflow_helpers import log_run, register_version, unique

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def own_server() -> Iterator[MlflowServer]:
    with mlflow_server_running("portal-mlflow-faults-") as server:
        yield server


@pytest.fixture
def own(own_server, settings):
    """The portal and MLflow's own client pointed at this module's server (restarted if a test
    left it stopped)."""
    from mlflow import MlflowClient

    if own_server.process is None:
        own_server.start()
    settings.MLFLOW_TRACKING_URI = own_server.uri
    return own_server, MlflowClient(tracking_uri=own_server.uri, registry_uri=own_server.uri)


def _changes(sync: SyncRun) -> int:
    return sum(sum(kind.values()) for kind in sync.counts.values())


def _stop_server_before(monkeypatch, server: MlflowServer, path_part: str) -> list[str]:
    """Stop the server (the process really goes away) just before the portal's first request
    whose path contains `path_part`; returns the paths requested, for the failure message."""
    real_request = MlflowRestClient._request
    requested: list[str] = []

    def request(self, method, path, **kwargs):
        requested.append(path)
        if path_part in path and server.process is not None:
            server.stop()
        return real_request(self, method, path, **kwargs)

    monkeypatch.setattr(MlflowRestClient, "_request", request)
    return requested


# --- MLflow and the mirror, object by object ---------------------------------------------------


def _mlflow_state(client) -> dict[str, dict]:
    from mlflow.entities import ViewType

    experiments = client.search_experiments(view_type=ViewType.ALL, max_results=1000)
    runs = client.search_runs([e.experiment_id for e in experiments], run_view_type=ViewType.ALL, max_results=5000)
    models = client.search_registered_models(max_results=1000)
    aliases = {m.name: {alias: int(v) for alias, v in m.aliases.items()} for m in models}
    versions = client.search_model_versions(max_results=10_000)
    return {
        "experiments": {e.experiment_id: (e.name, e.lifecycle_stage, e.tags) for e in experiments},
        "runs": {
            r.info.run_id: (
                r.info.experiment_id,
                r.info.status,
                r.info.lifecycle_stage,
                r.data.params,
                r.data.metrics,
                r.data.tags,
            )
            for r in runs
        },
        "models": {m.name: (m.description or "", m.tags, aliases[m.name]) for m in models},
        "versions": {
            (v.name, int(v.version)): (
                v.run_id,
                v.run_id,  # the version links to its mirrored run
                v.status,
                v.tags,
                sorted(alias for alias, n in aliases[v.name].items() if n == int(v.version)),
            )
            for v in versions
        },
    }


def _mirror_state() -> dict[str, dict]:
    versions = ModelVersion.objects.filter(deleted_at__isnull=True, registered_model__deleted_at__isnull=True)
    return {
        "experiments": {e.mlflow_id: (e.name, e.lifecycle_stage, e.tags) for e in Experiment.objects.all()},
        "runs": {
            r.run_id: (r.experiment.mlflow_id, r.status, r.lifecycle_stage, r.params, r.metrics, r.tags)
            for r in Run.objects.select_related("experiment")
        },
        "models": {
            m.name: (m.description, m.tags, m.aliases) for m in RegisteredModel.objects.filter(deleted_at__isnull=True)
        },
        "versions": {
            (v.registered_model.name, v.version): (
                v.run_id,
                v.run.run_id if v.run else None,
                v.status,
                v.tags,
                v.aliases,
            )
            for v in versions.select_related("registered_model", "run")
        },
    }


def _differences(mlflow: dict[str, dict], mirror: dict[str, dict]) -> dict[str, Counter]:
    """Per kind: how many objects the mirror lacks, has in excess, or holds differently."""
    found = {}
    for kind in mlflow:
        theirs, ours = mlflow[kind], mirror[kind]
        found[kind] = Counter(
            missing=len(theirs.keys() - ours.keys()),
            extra=len(ours.keys() - theirs.keys()),
            different=sum(1 for key in theirs.keys() & ours.keys() if theirs[key] != ours[key]),
        )
        if kind == "versions":  # which part of a version differs: its aliases or anything else
            found["version aliases"] = Counter(
                stale=sum(1 for key in theirs.keys() & ours.keys() if theirs[key][4] != ours[key][4])
            )
    return {kind: +counts for kind, counts in found.items() if +counts}


def _duplicates() -> list:
    return [
        *Experiment.objects.values("mlflow_id").annotate(n=Count("pk")).filter(n__gt=1),
        *Run.objects.values("run_id").annotate(n=Count("pk")).filter(n__gt=1),
        *RegisteredModel.objects.values("name").annotate(n=Count("pk")).filter(n__gt=1),
        *ModelVersion.objects.values("registered_model", "version").annotate(n=Count("pk")).filter(n__gt=1),
    ]


# --- the scenario -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stop_before",
    [
        pytest.param("/model-versions/search", id="after-models-are-listed-before-their-versions"),
        pytest.param("/runs/search", id="after-experiments-are-listed-before-their-runs"),
    ],
)
def test_after_mlflow_stops_mid_full_sync_the_next_incremental_pass_converges(
    own, monkeypatch, client, engineer, stop_before
):
    server, mlflow = own
    began = time.monotonic()
    # Several models with versions and aliases, made with MLflow's own client.
    experiment_id = mlflow.create_experiment(unique("f2"))
    runs = [log_run(mlflow, experiment_id, params={"i": str(i)}, metrics={"auc": [0.5 + i / 10]}) for i in range(4)]
    names = [unique(f"f2-model-{i}") for i in range(4)]
    for name, run_id in zip(names, runs, strict=True):
        register_version(mlflow, name, run_id)
        register_version(mlflow, name, run_id)
    mlflow.set_registered_model_alias(names[0], "champion", "1")
    mlflow.set_registered_model_alias(names[1], "prod", "1")
    mlflow.set_registered_model_alias(names[2], "champion", "2")
    baseline = sync_execute(kind=SyncRun.Kind.INCREMENTAL)  # the first pass is a full one
    assert baseline.status == SyncRun.Status.SUCCEEDED, baseline.error

    # MLflow moves on before the next full reconcile.
    register_version(mlflow, names[0], runs[1])  # version 3
    mlflow.set_registered_model_alias(names[0], "champion", "3")
    register_version(mlflow, names[1], runs[2])  # version 3
    mlflow.set_registered_model_alias(names[1], "prod", "3")
    mlflow.set_registered_model_alias(names[1], "shadow", "1")
    mlflow.set_registered_model_alias(names[2], "champion", "1")  # an alias move only
    newcomer = unique("f2-new-model")
    register_version(mlflow, newcomer, runs[3])
    register_version(mlflow, newcomer, runs[3])
    mlflow.set_registered_model_alias(newcomer, "challenger", "2")
    imported = mlflow.create_experiment(unique("f2-imported"))  # a new experiment with an old run
    old = mlflow.create_run(imported, start_time=1_600_000_000_000)
    mlflow.set_terminated(old.info.run_id, end_time=1_600_000_100_000)
    fresh_run = log_run(mlflow, experiment_id, metrics={"auc": [0.95]})

    # The full reconcile: the server goes away part-way.
    requested = _stop_server_before(monkeypatch, server, stop_before)
    failed = sync_execute(kind=SyncRun.Kind.FULL)
    monkeypatch.undo()
    assert failed.status == SyncRun.Status.FAILED, f"the server was not stopped mid-sync: {requested}"
    assert "MlflowUnavailable" in failed.error and server.process is None
    client.force_login(engineer)
    assert client.get("/api/v1/sync/").json()["last_failure"]["id"] == failed.pk
    assert "field-error" in client.get("/mlflow/sync/").content.decode()

    # It comes back (same backend store); meanwhile more has changed.
    server.start()
    register_version(mlflow, names[2], runs[0])  # a new version (3)
    mlflow.set_registered_model_alias(names[3], "champion", "2")  # an alias moved

    recovered = sync_execute(kind=SyncRun.Kind.INCREMENTAL)

    assert recovered.kind == SyncRun.Kind.INCREMENTAL and recovered.status == SyncRun.Status.SUCCEEDED, recovered.error
    differences = _differences(_mlflow_state(mlflow), _mirror_state())
    assert differences == {}, f"the mirror differs from MLflow after the recovering pass: {differences}"
    assert _duplicates() == []
    assert Run.objects.filter(run_id__in=[old.info.run_id, fresh_run]).count() == 2

    # The full reconcile's failure is current until a full reconcile succeeds.
    assert client.get("/api/v1/sync/").json()["last_failure"]["id"] == failed.pk

    again = sync_execute(kind=SyncRun.Kind.INCREMENTAL)
    reconcile = sync_execute(kind=SyncRun.Kind.FULL)

    assert again.status == reconcile.status == SyncRun.Status.SUCCEEDED
    assert _changes(again) == 0, again.counts
    assert _changes(reconcile) == 0, reconcile.counts
    assert client.get("/api/v1/sync/").json()["last_failure"] is None  # made good: no longer current
    page = client.get("/mlflow/sync/").content.decode()
    assert "field-error" not in page and "Recovered" in page
    assert time.monotonic() - began < 90
