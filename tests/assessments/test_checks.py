"""Each automatic check, met and not met, over hand-made facts (the gatherers are tested on real
mirrored MLflow data in test_evidence_sources.py)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from assessments.evidence import (
    SOURCE_GATE,
    SOURCE_MIRROR,
    SOURCE_MONITORING,
    AliasMoveFact,
    GatePolicyFact,
    MonitorFact,
    ProjectEvidence,
    RetrainFact,
    RunFact,
    SchemaMismatchFact,
    VersionFact,
)
from assessments.scoring import CHECKS, Outcome, run_check

NOW = datetime(2026, 11, 1, tzinfo=UTC)
ALL = frozenset({SOURCE_MIRROR, SOURCE_GATE, SOURCE_MONITORING})


def run(i: int, **changes) -> RunFact:
    fact = RunFact(
        run_id=f"r{i}",
        name=f"run-{i}",
        url=f"/runs/r{i}",
        start_time=NOW - timedelta(days=7 * i + 1),
        status="FINISHED",
        param_count=3,
        metric_count=2,
        git_commit="abc123",
        has_dataset=True,
        source_type="JOB",
    )
    return replace(fact, **changes)


def version(n: int, **changes) -> VersionFact:
    fact = VersionFact(model="churn", version=n, url=f"/v{n}", created_at=NOW, has_input_signature=True, has_run=True)
    return replace(fact, **changes)


def evidence(**fields) -> ProjectEvidence:
    return ProjectEvidence(since=NOW - timedelta(days=90), until=NOW, sources=fields.pop("sources", ALL), **fields)


GOOD_RUNS = tuple(run(i) for i in range(10))
SERVING = (version(1), version(2, aliases=("champion",)))
MONITOR = MonitorFact(
    name="churn monitor",
    url="/m/1",
    active=True,
    watches_serving_version=True,
    last_data_at=NOW - timedelta(days=1),
    channel_count=1,
)

CASES = {
    "runs_params_metrics": (
        evidence(runs=GOOD_RUNS),
        evidence(runs=(*GOOD_RUNS[:8], run(8, param_count=0), run(9, metric_count=0))),
    ),
    "runs_git_commit": (
        evidence(runs=(*GOOD_RUNS[:9], run(9, git_commit=""))),  # 90 % is enough
        evidence(runs=(*GOOD_RUNS[:8], run(8, git_commit=""), run(9, git_commit=""))),
    ),
    "runs_dataset": (
        evidence(runs=GOOD_RUNS),
        evidence(runs=tuple(run(i, has_dataset=False) for i in range(3))),
    ),
    "registry_in_use": (evidence(versions=(version(1),), registered_model_count=1), evidence(registered_model_count=1)),
    "versions_signature": (
        evidence(versions=SERVING),
        evidence(versions=(version(1), version(2, has_input_signature=False))),
    ),
    "versions_linked_to_runs": (evidence(versions=SERVING), evidence(versions=(version(1, has_run=False),))),
    "serving_alias": (evidence(versions=SERVING), evidence(versions=(version(1, aliases=("staging",)),))),
    "runs_automated_cadence": (
        evidence(runs=GOOD_RUNS),
        evidence(runs=tuple(run(i, source_type="NOTEBOOK") for i in range(10))),
    ),
    "monitor_receiving_data": (
        evidence(monitors=(MONITOR,)),
        evidence(monitors=(replace(MONITOR, last_data_at=NOW - timedelta(days=8)),)),
    ),
    "alerts_routed": (evidence(monitors=(MONITOR,)), evidence(monitors=(replace(MONITOR, channel_count=0),))),
    "schema_mismatches_handled": (
        evidence(
            monitors=(MONITOR,),
            schema_mismatches=(SchemaMismatchFact("/s/1", NOW - timedelta(days=10), NOW - timedelta(days=8)),),
        ),
        evidence(monitors=(MONITOR,), schema_mismatches=(SchemaMismatchFact("/s/1", NOW - timedelta(days=10), None),)),
    ),
    "retrain_from_drift": (
        evidence(retrains=(RetrainFact("/t/1", NOW - timedelta(days=3), "drift"),)),
        evidence(retrains=(RetrainFact("/t/1", NOW - timedelta(days=3), "manual"),)),
    ),
    "alias_via_gate": (
        evidence(versions=SERVING, alias_moves=(AliasMoveFact("churn", "champion", NOW - timedelta(days=5), True),)),
        evidence(
            versions=SERVING,
            alias_moves=(
                AliasMoveFact("churn", "champion", NOW - timedelta(days=9), True),
                AliasMoveFact("churn", "champion", NOW - timedelta(days=5), False),
            ),
        ),
    ),
    "rollback_ready": (evidence(versions=SERVING), evidence(versions=(version(2, aliases=("champion",)),))),
    "promotion_metric_check": (
        evidence(versions=SERVING, gate_policies=(GatePolicyFact("churn", True),)),
        evidence(versions=SERVING, gate_policies=(GatePolicyFact("churn", False),)),
    ),
}


def test_every_check_has_a_case():
    assert set(CASES) == set(CHECKS)


@pytest.mark.parametrize("key", sorted(CASES))
def test_each_check_is_met_on_good_evidence_and_not_met_on_bad(key):
    good, bad = CASES[key]
    met = run_check(key, good)
    assert met.outcome is Outcome.MET, met.summary
    not_met = run_check(key, bad)
    assert not_met.outcome is Outcome.NOT_MET, not_met.summary
    assert met.summary and not_met.summary


@pytest.mark.parametrize("key", sorted(CASES))
def test_a_check_whose_source_is_missing_reports_no_evidence_yet(key):
    good, _ = CASES[key]
    result = run_check(key, replace(good, sources=frozenset()))
    assert result.outcome is Outcome.NO_EVIDENCE
    assert "No evidence yet" in result.summary


def test_runs_that_stopped_coming_break_the_cadence():
    stopped = tuple(run(i, start_time=NOW - timedelta(days=60 + 7 * i)) for i in range(5))
    result = run_check("runs_automated_cadence", evidence(runs=stopped))
    assert result.outcome is Outcome.NOT_MET and "pause" in result.summary


def test_evidence_links_point_at_the_runs_to_fix_first():
    bad = evidence(runs=(*GOOD_RUNS[:5], run(5, git_commit="")))
    assert run_check("runs_git_commit", bad).links[0].url == "/runs/r5"
