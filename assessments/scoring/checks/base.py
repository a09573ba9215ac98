"""What every automatic check shares: the registry of checks by key, the thresholds, and the helpers
that say "no evidence yet", pick the runs a claim is about and build evidence links."""

from collections.abc import Callable, Iterable
from datetime import timedelta

from assessments.evidence import Link, ProjectEvidence, RunFact, VersionFact
from assessments.scoring.results import CheckResult, Outcome

SHARE_REQUIRED = 0.9  # share of recent runs that must carry a fact (git commit, dataset, ...)
AUTOMATED_SHARE_REQUIRED = 0.8
MIN_AUTOMATED_RUNS = 3
MIN_JUDGED_RUNS = 3  # fewer runs that matter than this, and a share says nothing: "cannot tell"
MONITOR_DATA_MAX_AGE = timedelta(days=7)
MISMATCH_MAX_OPEN = timedelta(days=7)
AUTOMATED_SOURCE_TYPES = frozenset({"JOB", "PROJECT", "PIPELINE"})
AUTOMATED_TRIGGERS = frozenset({"schedule", "pipeline", "drift", "new_data", "ci"})
# Pipelines that train several times a day are not held to their sub-daily rhythm: a pause counts
# as a break only when it is over three times the usual interval and over three days.
CADENCE_FLOOR = timedelta(days=1)
MAX_LINKS = 10  # evidence links kept per criterion: enough to click through, small to store

Check = Callable[[ProjectEvidence], CheckResult]
CHECKS: dict[str, Check] = {}


def check(key: str) -> Callable[[Check], Check]:
    """Register the decorated function as the automatic check named `key` (a criterion's check_key)."""

    def register(fn: Check) -> Check:
        CHECKS[key] = fn
        return fn

    return register


def no_source(evidence: ProjectEvidence, source: str, what: str) -> CheckResult | None:
    if source not in evidence.sources:
        return CheckResult(Outcome.NO_EVIDENCE, f"No evidence yet: {what} is not available to the portal.")
    return None


def run_links(runs: Iterable[RunFact]) -> tuple[Link, ...]:
    return tuple(Link(f"run {r.name or r.run_id[:8]}", r.url) for r in list(runs)[:MAX_LINKS])


def version_links(versions: Iterable[VersionFact]) -> tuple[Link, ...]:
    return tuple(Link(f"{v.model} v{v.version}", v.url) for v in list(versions)[:MAX_LINKS])


def is_automated(run: RunFact) -> bool:
    return run.source_type.upper() in AUTOMATED_SOURCE_TYPES or run.trigger in AUTOMATED_TRIGGERS


JUDGED_RUNS = "runs behind registered versions and pipeline runs"


def judged_runs(evidence: ProjectEvidence) -> tuple[list[RunFact], int]:
    """The runs a reproducibility or automation claim is about: those behind the project's live
    registered versions and those its pipelines started (jobs, schedules, triggers). Scratch runs —
    a notebook experiment, three ad-hoc tries — are not what ships, and judging them would let
    them move a level within a minute. Returns (judged runs, how many other runs were left out)."""
    behind_versions = evidence.version_run_ids()
    judged = [r for r in evidence.runs if r.run_id in behind_versions or is_automated(r)]
    return judged, len(evidence.runs) - len(judged)
