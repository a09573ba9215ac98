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
from assessments.scoring.checks import CHECKS, run_check
from assessments.scoring.results import Outcome

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


# --- Evidence rules judge what the claim is about, so noise cannot move a level ---------------------


def _run(name, *, shipped, commit=True, dataset=True, days_ago=1):
    from assessments.evidence import RunFact

    return RunFact(
        run_id=name,
        name=name,
        url=f"/runs/{name}/",
        start_time=datetime(2026, 11, 1, tzinfo=UTC) - timedelta(days=days_ago),
        status="FINISHED",
        param_count=2,
        metric_count=1,
        git_commit="a" * 40 if commit else "",
        has_dataset=dataset,
        source_type="JOB" if shipped else "LOCAL",
        trigger="schedule" if shipped else "",
    )


def _evidence_with(runs, monitors=()):
    from assessments.evidence import SOURCE_MIRROR, SOURCE_MONITORING, ProjectEvidence, VersionFact

    now = datetime(2026, 11, 1, tzinfo=UTC)
    version = VersionFact("m", 1, "/m/1", now, True, True, ("champion",), run_id=runs[0].run_id)
    return ProjectEvidence(
        since=now - timedelta(days=90),
        until=now,
        runs=tuple(runs),
        versions=(version,),
        monitors=tuple(monitors),
        sources=frozenset({SOURCE_MIRROR, SOURCE_MONITORING}),
    )


def test_three_ad_hoc_runs_without_commit_or_dataset_do_not_move_reproducibility():
    from assessments.scoring.checks import run_check

    pipeline = [_run(f"weekly-{i}", shipped=True, days_ago=7 * i + 1) for i in range(10)]
    scratch = [_run(f"try-{i}", shipped=False, commit=False, dataset=False) for i in range(3)]
    evidence = _evidence_with(pipeline + scratch)
    for key in ("runs_git_commit", "runs_dataset", "runs_automated_cadence"):
        result = run_check(key, evidence)
        assert result.outcome == "met", (key, result.summary)
    commit = run_check("runs_git_commit", evidence)
    assert "10 of 10 runs behind registered versions and pipeline runs" in commit.summary
    assert "3 other run(s)" in commit.summary


def test_a_share_rule_names_the_runs_that_fail_it_and_says_cannot_tell_on_too_few():
    from assessments.scoring.checks import run_check

    runs = [_run(f"weekly-{i}", shipped=True, commit=i % 4 != 0) for i in range(8)]
    result = run_check("runs_git_commit", _evidence_with(runs))
    assert result.outcome == "not_met"
    assert "6 of 8" in result.summary and "Without: weekly-0, weekly-4." in result.summary
    assert [link.label for link in result.links[:2]] == ["run weekly-0", "run weekly-4"]
    too_few = run_check("runs_git_commit", _evidence_with(runs[:2]))
    assert too_few.outcome == "no_evidence" and "Cannot tell yet" in too_few.summary


def test_a_test_monitor_without_channels_off_the_serving_version_does_not_fail_alert_routing():
    from assessments.evidence import MonitorFact
    from assessments.scoring.checks import run_check

    production = MonitorFact("prod", "/m/1", True, True, datetime(2026, 11, 1, tzinfo=UTC), 1)
    colleagues_test = MonitorFact("test", "/m/2", True, False, None, 0)
    evidence = _evidence_with([_run("r", shipped=True)], monitors=[production, colleagues_test])
    result = run_check("alerts_routed", evidence)
    assert result.outcome == "met" and "1 other active monitor" in result.summary
