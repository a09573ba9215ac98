"""The gate's shadow check on the real stack: sklearn models registered in the session's MLflow
server, a monitor that stored what production sent, a real Celery worker running the replay, and
the review page and the approval reading the result.

The story: v1 holds @champion; v2 is a retrain that agrees with v1 on most rows; v3 was trained
with a column production does not send, so MLflow refuses every batch production sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import mlflow
import numpy as np
import pandas as pd
import pytest
from django.urls import reverse
from django.utils import timezone
from mlflow.models import infer_signature

from mlopsportal.demo.mlflow_content import sklearn_model_log
from monitoring.gate import shadow_outcome
from monitoring.models import ShadowEvaluation
from monitoring.services import batches, monitors, references
from monitoring.shadow import evaluations as shadow
from registry.mlflow_client import mlflow_fluent_at
from registry.promotions.checks import CheckStatus
from registry.promotions.checks_run import checks_now
from registry.promotions.decisions import promotion_approve
from registry.promotions.models import PromotionPolicy
from registry.promotions.requests import promotion_request_create
from registry.promotions.rules import ChecksFailed
from tests.factories import ModelVersionFactory, RegisteredModelFactory
from tests.monitoring.conftest import SCHEMA, reference_frame, to_parquet
from tests.waiting import wait_for

FEATURES = ["feature_a", "feature_b"]
INPUTS = [{"name": name, "type": "float", "required": True} for name in FEATURES]


def _labelled(rows: int, seed: int) -> pd.DataFrame:
    frame = reference_frame(rows, seed=seed)
    rng = np.random.default_rng(seed + 100)
    risk = frame["feature_a"] + 0.3 * (frame["feature_b"] - 5) + rng.normal(0, 0.8, rows)
    return frame.assign(churned=(risk > 0).astype(np.int64))


@dataclass(frozen=True)
class Registered:
    name: str


@pytest.fixture(scope="module")
def registered(mlflow_server) -> Registered:
    """v1 (the holder), v2 (a retrain on other data), v3 (needs a column production never sends)."""
    from sklearn.linear_model import LogisticRegression

    name = f"shadow-gate-{uuid.uuid4().hex[:8]}"
    with mlflow_fluent_at(mlflow_server.uri):
        mlflow.set_experiment(f"shadow-gate-{uuid.uuid4().hex[:8]}")
        for seed, c_value, extra in ((0, 1.0, False), (1, 0.05, False), (2, 1.0, True)):
            train = _labelled(2000, seed=seed)
            inputs = train[FEATURES].assign(feature_c=train["feature_a"] * 2) if extra else train[FEATURES]
            model = LogisticRegression(C=c_value).fit(inputs, train["churned"])
            with mlflow.start_run():
                sklearn_model_log(
                    model,
                    name="model",
                    signature=infer_signature(inputs, model.predict(inputs)),
                    registered_model_name=name,
                )
    return Registered(name)


@pytest.fixture
def watched(registered, project, engineer, mlflow_uri, settings):
    """The mirror's view of the model (v1 @champion) and a monitor with three days of labelled traffic."""
    settings.SHADOW_MAX_ROWS = 1500
    model = RegisteredModelFactory(name=registered.name, project=project, aliases={"champion": 1})
    for version in (1, 2, 3):
        ModelVersionFactory(registered_model=model, version=version, signature_inputs=INPUTS)
    monitor = monitors.monitor_create(
        actor=None,
        project=project,
        name="shadow-traffic",
        model_name=registered.name,
        alias="champion",
        expected_schema=SCHEMA,
        label_column="churned",
    )
    references.reference_upload(actor=None, monitor_id=monitor.pk, body=to_parquet(reference_frame()), fmt="parquet")
    now = timezone.now()
    for day in range(3):
        batches.batch_ingest(
            monitor=monitor,
            body=to_parquet(_labelled(800, seed=10 + day)),
            fmt="parquet",
            received_at=now - timedelta(days=day, hours=1),
            bin_in_background=False,
        )
    PromotionPolicy.objects.create(registered_model=model, signature_check=False, drift_check=False)
    return model


def _settled(model_name: str, version: int, seconds: float = 120) -> ShadowEvaluation:
    """Waits until the worker has finished the replay of `version` (whatever its outcome)."""

    def finished() -> ShadowEvaluation | None:
        evaluation = ShadowEvaluation.objects.filter(model_name=model_name, candidate_version=version).first()
        return evaluation if evaluation is not None and not evaluation.is_open else None

    wait_for(finished, timeout=seconds, message=f"the replay of v{version}")
    return finished()


def _check(promotion) -> dict:
    return {c["check"]: c for c in checks_now(promotion=promotion)}["shadow"]


@pytest.mark.django_db(transaction=True)
def test_a_request_is_replayed_on_production_traffic_and_the_gate_reads_the_result(
    watched, celery_worker, engineer, reviewer, client
):
    promotion = promotion_request_create(
        requester=engineer, model_name=watched.name, version=2, target_alias="champion", justification="Retrain."
    )
    # Before the replay has finished, the gate cannot tell, and says so.
    assert {c["check"]: c for c in promotion.checks}["shadow"]["status"] == CheckStatus.CANNOT_TELL

    evaluation = _settled(watched.name, 2)
    assert evaluation.status == ShadowEvaluation.Status.DONE, evaluation.error
    assert evaluation.holder_version == 1 and evaluation.request_id == promotion.pk
    sample, results = evaluation.sample, evaluation.results
    assert sample["rows"] == 1500 and sample["batches"] == 3 and sample["days"] == 3
    assert results["candidate"]["rejected_rows"] == 0 and results["holder"]["rejected_rows"] == 0
    assert results["kind"] == "classes" and results["rows_compared"] == 1500
    share = results["agreement"]["share"]
    assert 0 < share < 0.1, share  # a retrain that mostly agrees
    assert results["metric"]["metric"] == "accuracy" and results["metric"]["rows"] == 1500
    assert results["disagreements"] and all(r["holder"] != r["candidate"] for r in results["disagreements"])

    check = _check(promotion)
    assert check["status"] == CheckStatus.PASSED, check["summary"]
    assert f"{(1 - share) * 100:.1f} %" in check["summary"] and "rejects none" in check["summary"]

    client.force_login(reviewer)
    page = client.get(promotion.get_absolute_url()).content.decode()
    assert f"{(1 - share) * 100:.1f} %" in page and evaluation.get_absolute_url() in page
    detail = client.get(evaluation.get_absolute_url())
    assert detail.status_code == 200
    assert "Rows where they differ most" in detail.content.decode()

    approved = promotion_approve(request_id=promotion.pk, reviewer=reviewer)
    assert approved.decisions.get().checks_passed is True


@pytest.mark.django_db(transaction=True)
def test_a_candidate_that_rejects_what_production_sends_is_blocked(watched, celery_worker, engineer, reviewer):
    promotion = promotion_request_create(
        requester=engineer, model_name=watched.name, version=3, target_alias="champion", justification="New input."
    )
    evaluation = _settled(watched.name, 3)
    candidate = evaluation.results["candidate"]
    assert candidate["rejected_batches"] == 3 and candidate["accepted_rows"] == 0
    rejection = candidate["rejections"][0]
    assert "feature_c" in rejection["error"]  # MLflow's own words: the input it misses
    assert {c["name"] for c in rejection["expected"]} == {"feature_a", "feature_b", "feature_c"}
    assert "feature_c" not in {c["name"] for c in rejection["received"]}

    check = _check(promotion)
    assert check["status"] == CheckStatus.FAILED
    assert "rejects 3 of 3 production batches" in check["summary"]
    with pytest.raises(ChecksFailed):
        promotion_approve(request_id=promotion.pk, reviewer=reviewer)


@pytest.mark.django_db(transaction=True)
def test_the_check_says_cannot_tell_when_the_holder_moved_since_the_replay(watched, celery_worker, engineer):
    promotion = promotion_request_create(
        requester=engineer, model_name=watched.name, version=2, target_alias="champion", justification="Retrain."
    )
    _settled(watched.name, 2)
    watched.aliases = {"champion": 3}  # someone moved the alias: the replay compared with v1
    watched.save(update_fields=["aliases"])
    promotion.refresh_from_db()
    promotion.registered_model.refresh_from_db()
    check = _check(promotion)
    assert check["status"] == CheckStatus.CANNOT_TELL and "against v3" in check["summary"], check["summary"]


def test_a_model_no_monitor_watches_is_not_applicable(db, project, engineer):
    model = RegisteredModelFactory(name="unwatched", project=project, aliases={"champion": 1})
    ModelVersionFactory(registered_model=model, version=1, signature_inputs=INPUTS)
    ModelVersionFactory(registered_model=model, version=2, signature_inputs=INPUTS)
    promotion = promotion_request_create(
        requester=engineer, model_name="unwatched", version=2, target_alias="champion", justification="Try."
    )
    shadow_check = {c["check"]: c for c in promotion.checks}["shadow"]
    assert shadow_check["status"] == CheckStatus.NOT_APPLICABLE
    assert "no production traffic recorded" in shadow_check["summary"]
    assert not ShadowEvaluation.objects.exists()


def test_an_old_replay_no_longer_speaks_for_the_traffic(watched, engineer, settings):
    promotion = promotion_request_create(
        requester=engineer, model_name=watched.name, version=2, target_alias="champion", justification="Retrain."
    )
    evaluation = shadow.shadow_evaluation_queue(
        model_name=watched.name, alias="champion", candidate_version=2, holder_version=1, request=promotion
    )
    ShadowEvaluation.objects.filter(pk=evaluation.pk).update(
        status=ShadowEvaluation.Status.DONE,
        finished_at=timezone.now() - timedelta(hours=settings.SHADOW_MAX_AGE_HOURS + 1),
        results={"candidate": {}},
    )
    check = _check(promotion)
    assert check["status"] == CheckStatus.CANNOT_TELL and "run it again" in check["summary"]


def test_the_sample_spreads_over_the_days_and_keeps_what_production_sent(watched):
    monitor = watched_monitor(watched)
    drawn = shadow.shadow_sample(monitor=monitor, now=timezone.now(), days=7, max_rows=600, seed=1)
    assert [len(s.frame) for s in drawn.batches] == [200, 200, 200]
    assert len({s.day for s in drawn.batches}) == 3
    for s in drawn.batches:
        assert list(s.frame.columns) == ["feature_a", "feature_b", "segment"]  # the label is not an input
        assert s.frame["feature_a"].dtype == np.float32  # as Parquet carried it
    assert drawn.labels.notna().all() and len(drawn.labels) == 600
    assert drawn.facts["rows"] == 600 and drawn.facts["traffic_rows"] == 2400
    again = shadow.shadow_sample(monitor=monitor, now=timezone.now(), days=7, max_rows=600, seed=1)
    assert all(a.frame.equals(b.frame) for a, b in zip(drawn.batches, again.batches, strict=True))
    # Never more than asked for, however the day's batches divide it.
    batches.batch_ingest(
        monitor=monitor,
        body=to_parquet(_labelled(7, seed=3)),
        fmt="parquet",
        received_at=timezone.now() - timedelta(minutes=1),
        bin_in_background=False,
    )
    assert shadow.shadow_sample(monitor=monitor, now=timezone.now(), days=7, max_rows=601, seed=1).facts["rows"] <= 601


def watched_monitor(model):
    from monitoring.models import Monitor

    return Monitor.objects.get(model_name=model.name)


def test_run_again_queues_one_replay_and_answers_outsiders_as_if_the_model_did_not_exist(
    watched, reviewer, outsider, client
):
    url = reverse("monitoring:shadow_run")
    fields = {"model": watched.name, "version": 2, "alias": "champion"}
    client.force_login(outsider)
    refused = client.post(url, fields, HTTP_ACCEPT="application/json")  # sees the internal project, not a member
    assert refused.status_code == 403 and "the engineers of the model's project" in refused.json()["error"]["message"]
    client.force_login(reviewer)
    first = client.post(url, fields, HTTP_ACCEPT="application/json")
    second = client.post(url, fields, HTTP_ACCEPT="application/json")
    assert first.status_code == second.status_code == 202
    assert ShadowEvaluation.objects.filter(model_name=watched.name).count() == 1  # the second joined the first
    bad = client.post(url, {**fields, "version": "x"}, HTTP_ACCEPT="application/json")
    assert bad.status_code == 400 and bad.json()["error"]["message"]
    evaluation = ShadowEvaluation.objects.get()
    client.force_login(outsider)
    assert client.get(evaluation.get_absolute_url()).status_code == 200  # internal: everyone may look
    watched.project.visibility = "private"
    watched.project.save(update_fields=["visibility"])
    assert client.get(evaluation.get_absolute_url()).status_code == 404
    assert client.post(url, fields, HTTP_ACCEPT="application/json").status_code == 404


@pytest.mark.parametrize(
    ("results", "status", "words"),
    [
        (
            {
                "candidate": {
                    "error": "",
                    "accepted_rows": 90,
                    "rejected_rows": 10,
                    "rejected_batches": 1,
                    "rejections": [{"error": "Model is missing inputs ['x']"}],
                }
            },
            CheckStatus.FAILED,
            "rejects 1 of 4 production batches (10.0 % of 100 rows",
        ),
        (
            {"candidate": {"error": "", "accepted_rows": 100, "rejected_rows": 0}, "holder": {"error": "boom"}},
            CheckStatus.CANNOT_TELL,
            "could not run here: boom",
        ),
        (
            {
                "candidate": {"error": "", "accepted_rows": 100, "rejected_rows": 0},
                "holder": {"error": ""},
                "kind": "classes",
                "rows_compared": 100,
                "agreement": {"share": 0.25},
            },
            CheckStatus.FAILED,
            "another class than v1 on 25.0 %",
        ),
        (
            {
                "candidate": {"error": "", "accepted_rows": 100, "rejected_rows": 0},
                "holder": {"error": ""},
                "kind": "classes",
                "rows_compared": 100,
                "agreement": {"share": 0.02},
                "metric": {
                    "metric": "accuracy",
                    "direction": "higher",
                    "difference": -0.05,
                    "candidate": 0.80,
                    "holder": 0.85,
                    "from_policy": True,
                },
            },
            CheckStatus.FAILED,
            "accuracy is 0.8 against 0.85",
        ),
        (
            {"candidate": {"error": "load failed: ImportError", "accepted_rows": 0, "rejected_rows": 0}},
            CheckStatus.FAILED,
            "could not run: load failed",
        ),
        (
            {
                "candidate": {
                    "error": "Building the model's uv environment failed (exit code 1)",
                    "environment_failed": True,
                    "accepted_rows": 0,
                    "rejected_rows": 0,
                }
            },
            CheckStatus.CANNOT_TELL,
            "the candidate's environment could not be built: Building",
        ),
    ],
)
def test_the_verdict_follows_the_policys_limits(results, status, words):
    outcome = shadow_outcome(
        results=results,
        sample={"rows": 100, "batches": 4, "days": 2, "from": "2026-11-01", "to": "2026-11-02", "monitor_name": "m"},
        holder_version=1,
        alias="champion",
        max_rejected_share=0.0,
        max_disagreement=0.1,
        metric_tolerance=0.01,
        details={},
    )
    assert outcome.status == status
    assert words in outcome.summary


def test_another_projects_monitor_of_a_model_with_the_same_name_is_not_its_traffic(watched, engineer):
    from monitoring.models import Monitor

    from ..factories import ProjectFactory

    other = ProjectFactory(name="Other team", visibility="private")
    Monitor.objects.filter(model_name=watched.name).update(project=other)
    assert shadow.shadow_monitor(model_name=watched.name, alias="champion") is None


def test_the_replay_has_a_queue_of_its_own_bound_under_its_own_name(settings):
    """As configured (the test worker fixture re-routes the task to a queue of the session's own)."""
    route = settings.CELERY_TASK_ROUTES["monitoring.tasks.shadow_evaluation_execute"]
    assert route["queue"] == settings.SHADOW_QUEUE != settings.CELERY_TASK_DEFAULT_QUEUE
    queues = {queue.name: queue for queue in settings.CELERY_TASK_QUEUES}
    assert set(queues) == {settings.CELERY_TASK_DEFAULT_QUEUE, settings.SHADOW_QUEUE}
    # Each under its own routing key: under the default one, the shadow queue got every task.
    assert {name: queue.routing_key for name, queue in queues.items()} == {name: name for name in queues}


def test_the_lost_work_sweep_sends_stuck_replays_again_and_closes_dead_ones(watched, settings):
    from monitoring.models import Monitor

    monitor = Monitor.objects.get(model_name=watched.name)
    now = timezone.now()
    queued = ShadowEvaluation.objects.create(
        model_name=watched.name, alias="champion", candidate_version=2, holder_version=1, monitor=monitor
    )
    dead = ShadowEvaluation.objects.create(
        model_name=watched.name,
        alias="champion",
        candidate_version=3,
        holder_version=1,
        monitor=monitor,
        status=ShadowEvaluation.Status.RUNNING,
        started_at=now - timedelta(hours=2),
    )
    fresh = ShadowEvaluation.objects.create(
        model_name=watched.name, alias="champion", candidate_version=2, holder_version=None, monitor=monitor
    )
    ShadowEvaluation.objects.filter(pk__in=[queued.pk, dead.pk]).update(created_at=now - timedelta(minutes=10))

    assert shadow.shadow_evaluations_lost(now=now) == [queued.pk]  # the fresh one is still on its way
    dead.refresh_from_db()
    assert dead.status == ShadowEvaluation.Status.FAILED and "stopped before it finished" in dead.error
    assert fresh.status == ShadowEvaluation.Status.QUEUED


def _run_now(model_name: str, version: int, holder: int | None) -> ShadowEvaluation:
    """The job itself, in this process (the worker's part is covered above)."""
    evaluation = shadow.shadow_evaluation_queue(
        model_name=model_name, alias="champion", candidate_version=version, holder_version=holder
    )
    assert shadow.shadow_evaluation_claim(evaluation_id=evaluation.pk)
    return shadow.shadow_evaluation_run(evaluation_id=evaluation.pk)


def test_json_numbers_are_read_at_the_signatures_type_as_the_scoring_server_reads_them(watched):
    """A JSON batch's numbers are not float64 that a float32 signature refuses: MLflow's scoring
    server reads them at the declared type, so the replay does too."""
    monitor = watched_monitor(watched)
    batches.batch_ingest(
        monitor=monitor,
        body=_labelled(50, seed=99).to_json(orient="records").encode(),
        fmt="json",
        received_at=timezone.now() - timedelta(minutes=5),
        bin_in_background=False,
    )
    evaluation = _run_now(watched.name, 2, 1)
    assert evaluation.status == ShadowEvaluation.Status.DONE, evaluation.error
    assert evaluation.sample["batches"] == 4
    assert evaluation.results["candidate"]["rejected_rows"] == 0, evaluation.results["candidate"]["rejections"]


@pytest.fixture(scope="module")
def thresholds(mlflow_server) -> str:
    """Two real sklearn models whose disagreement is known: v1 predicts 1 when feature_a > 0, v2 when
    feature_a > 0.2; on feature_a ~ N(0, 1) they differ with probability Phi(0.2) - 0.5 = 0.0793."""
    from sklearn.linear_model import LogisticRegression

    name = f"shadow-known-{uuid.uuid4().hex[:8]}"
    inputs = reference_frame(200, seed=5)[FEATURES]
    with mlflow_fluent_at(mlflow_server.uri):
        mlflow.set_experiment(name)
        for cut in (0.0, 0.2):
            model = LogisticRegression().fit(inputs, (inputs["feature_a"] > 0).astype(int))
            model.coef_ = np.array([[50.0, 0.0]])  # a step at feature_a = cut
            model.intercept_ = np.array([-50.0 * cut])
            with mlflow.start_run():
                sklearn_model_log(
                    model,
                    name="model",
                    signature=infer_signature(inputs, model.predict(inputs)),
                    registered_model_name=name,
                )
    return name


def test_a_known_disagreement_rate_is_measured_within_its_interval(thresholds, project, mlflow_uri, settings):
    settings.SHADOW_MAX_ROWS = 10_000  # every row of the traffic: the sample does not depend on a seed
    model = RegisteredModelFactory(name=thresholds, project=project, aliases={"champion": 1})
    for version in (1, 2):
        ModelVersionFactory(registered_model=model, version=version, signature_inputs=INPUTS)
    monitor = monitors.monitor_create(
        actor=None, project=project, name="known", model_name=thresholds, alias="champion", expected_schema=SCHEMA
    )
    references.reference_upload(actor=None, monitor_id=monitor.pk, body=to_parquet(reference_frame()), fmt="parquet")
    frames = [reference_frame(2000, seed=20 + day) for day in range(3)]
    for day, frame in enumerate(frames):
        batches.batch_ingest(
            monitor=monitor,
            body=to_parquet(frame),
            fmt="parquet",
            received_at=timezone.now() - timedelta(days=day, hours=1),
            bin_in_background=False,
        )
    evaluation = _run_now(thresholds, 2, 1)
    agreement = evaluation.results["agreement"]
    rows = pd.concat(frames)["feature_a"]
    assert agreement["rows"] == 6000
    assert agreement["disagreeing"] == int(((rows > 0) & (rows <= 0.2)).sum())  # exactly the rows between the cuts
    low, high = agreement["interval"]
    assert low <= 0.0793 <= high, (low, high)  # the truth lies in the bootstrap interval
    # No label column on this monitor: nothing claimed about production performance.
    assert evaluation.results["metric"] is None
    assert "No labels" in evaluation.results["metric_note"]
