"""Checks over the mirrored runs: tracking habits, reproducibility and the training cadence."""

import statistics
from collections.abc import Callable
from itertools import pairwise

from assessments.evidence import SOURCE_MIRROR, ProjectEvidence, RunFact
from assessments.scoring.checks.base import (
    AUTOMATED_SHARE_REQUIRED,
    CADENCE_FLOOR,
    JUDGED_RUNS,
    MAX_LINKS,
    MIN_AUTOMATED_RUNS,
    MIN_JUDGED_RUNS,
    SHARE_REQUIRED,
    check,
    is_automated,
    judged_runs,
    no_source,
    run_links,
)
from assessments.scoring.results import CheckResult, Outcome


def _share_check(
    evidence: ProjectEvidence, has: Callable[[RunFact], bool], what: str, *, shipped_only: bool = True
) -> CheckResult:
    """Met when SHARE_REQUIRED of the judged runs of the window have `has`, judged over at least
    MIN_JUDGED_RUNS runs (fewer: "cannot tell"). `shipped_only` judges the runs behind versions and
    pipelines (a reproducibility claim); otherwise every run (a tracking habit)."""
    missing = no_source(evidence, SOURCE_MIRROR, "the MLflow mirror")
    if missing:
        return missing
    runs, left_out = judged_runs(evidence) if shipped_only else (list(evidence.runs), 0)
    kind = JUDGED_RUNS if shipped_only else "runs"
    window = f"the last {(evidence.until - evidence.since).days} days"
    not_judged = f" {left_out} other run(s) (notebooks, ad-hoc tries) not judged." if left_out else ""
    if not runs:
        return CheckResult(Outcome.NOT_MET, f"No {kind} in {window}: nothing to judge.{not_judged}")
    if len(runs) < MIN_JUDGED_RUNS:
        return CheckResult(
            Outcome.NO_EVIDENCE,
            f"Cannot tell yet: {len(runs)} {kind} in {window}; {MIN_JUDGED_RUNS} needed to judge." + not_judged,
            run_links(runs),
        )
    good = [r for r in runs if has(r)]
    bad = [r for r in runs if not has(r)]
    share = len(good) / len(runs)
    without = ""
    if bad:
        names = ", ".join(r.name or r.run_id[:8] for r in bad[:5])
        without = f" Without: {names}{'…' if len(bad) > 5 else ''}."
    summary = f"{len(good)} of {len(runs)} {kind} in {window} ({share:.0%}) {what}; {SHARE_REQUIRED:.0%} needed."
    summary += without + not_judged
    # Show the offenders first: they are what to fix.
    links = run_links(bad) + run_links(good[: max(0, MAX_LINKS - len(bad))])
    return CheckResult(Outcome.MET if share >= SHARE_REQUIRED else Outcome.NOT_MET, summary, links[:MAX_LINKS])


@check("runs_params_metrics")
def runs_params_metrics(evidence: ProjectEvidence) -> CheckResult:
    return _share_check(
        evidence, lambda r: r.param_count > 0 and r.metric_count > 0, "log params and metrics", shipped_only=False
    )


@check("runs_git_commit")
def runs_git_commit(evidence: ProjectEvidence) -> CheckResult:
    return _share_check(evidence, lambda r: bool(r.git_commit), "carry a git commit")


@check("runs_dataset")
def runs_dataset(evidence: ProjectEvidence) -> CheckResult:
    return _share_check(evidence, lambda r: r.has_dataset, "record a dataset with name and digest")


@check("runs_automated_cadence")
def runs_automated_cadence(evidence: ProjectEvidence) -> CheckResult:
    missing = no_source(evidence, SOURCE_MIRROR, "the MLflow mirror")
    if missing:
        return missing
    runs, _ = judged_runs(evidence)
    if not runs:
        return CheckResult(Outcome.NOT_MET, f"No {JUDGED_RUNS} in the window.")
    automated = sorted((r for r in runs if is_automated(r)), key=lambda r: r.start_time)
    share = len(automated) / len(runs)
    summary = f"{len(automated)} of {len(runs)} {JUDGED_RUNS} ({share:.0%}) started by a job, pipeline or schedule"
    links = run_links(automated[-MAX_LINKS:])
    if share < AUTOMATED_SHARE_REQUIRED or len(automated) < MIN_AUTOMATED_RUNS:
        manual = [r for r in runs if r not in automated]
        return CheckResult(
            Outcome.NOT_MET,
            f"{summary}; at least {AUTOMATED_SHARE_REQUIRED:.0%} and {MIN_AUTOMATED_RUNS} runs needed.",
            run_links(manual) or links,
        )
    gaps = [(b.start_time - a.start_time).total_seconds() for a, b in pairwise(automated)]
    usual = statistics.median(gaps)
    longest = max(gaps)
    # A cadence is regular when no pause is much longer than the usual interval; the trailing
    # pause since the last run counts too, so a pipeline that stopped is noticed.
    since_last = (evidence.until - automated[-1].start_time).total_seconds()
    worst = max(longest, since_last)
    if worst > 3 * max(usual, CADENCE_FLOOR.total_seconds()):
        return CheckResult(
            Outcome.NOT_MET,
            f"{summary}, but the longest pause ({worst / 86400:.1f} days) is over three times "
            f"the usual interval ({usual / 86400:.1f} days).",
            links,
        )
    return CheckResult(Outcome.MET, f"{summary}, about every {usual / 86400:.1f} days.", links)
