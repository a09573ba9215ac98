"""Pure scoring: automatic checks over ProjectEvidence, and the scorecard from all outcomes.

No ORM and no request here. Rules:
- A project is at level N when every active criterion of level <= N is met; not-applicable answers
  are left out. Partly met, unanswered, challenged, stale and "no evidence yet" all count as not met.
- Percentages weigh met as 1 and partly as 1/2 over the applicable criteria.
- Gaps are the unmet criteria, in the order to tackle them: the next level first, the nearly done
  first (partly, stale, challenged), then the categories with the fewest gaps left, then rubric order.
"""

import hashlib
import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise

from assessments.evidence import SOURCE_GATE, SOURCE_MIRROR, SOURCE_MONITORING, Link, ProjectEvidence, VersionFact

MAX_LEVEL = 2
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


class Outcome(StrEnum):
    MET = "met"
    PARTLY = "partly"
    NOT_MET = "not_met"
    NOT_APPLICABLE = "na"
    NO_EVIDENCE = "no_evidence"  # automatic: the source of the facts is not available (yet)
    UNANSWERED = "unanswered"  # attested: nobody answered yet


OUTCOME_LABELS = {
    Outcome.MET: "Met",
    Outcome.PARTLY: "Partly met",
    Outcome.NOT_MET: "Not met",
    Outcome.NOT_APPLICABLE: "Not applicable",
    Outcome.NO_EVIDENCE: "No evidence yet",
    Outcome.UNANSWERED: "Not answered",
}


@dataclass(frozen=True)
class CheckResult:
    outcome: Outcome
    summary: str
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class CriterionSpec:
    code: str
    level: int
    category: str
    title: str
    kind: str  # "automatic" | "attested"
    check_key: str = ""
    guidance: str = ""
    position: int = 0


@dataclass(frozen=True)
class AnswerFact:
    status: str  # "met" | "partly" | "not_met" | "na"
    answered_at: datetime
    review_state: str = "pending"  # "pending" | "accepted" | "challenged"
    evidence_url: str = ""
    note: str = ""
    answered_by: str = ""
    review_comment: str = ""
    reviewed_by: str = ""


@dataclass(frozen=True)
class CriterionResult:
    spec: CriterionSpec
    outcome: Outcome
    summary: str
    links: tuple[Link, ...] = ()
    stale: bool = False
    challenged: bool = False
    answer: AnswerFact | None = None

    @property
    def counts_as_met(self) -> bool:
        return self.outcome is Outcome.MET and not self.stale and not self.challenged

    @property
    def applicable(self) -> bool:
        return self.outcome is not Outcome.NOT_APPLICABLE

    @property
    def weight(self) -> float:
        if self.counts_as_met:
            return 1.0
        if self.outcome is Outcome.PARTLY or (self.outcome is Outcome.MET and (self.stale or self.challenged)):
            return 0.5
        return 0.0

    @property
    def label(self) -> str:
        if self.outcome is Outcome.MET and self.challenged:
            return "Met, but challenged"
        if self.stale:
            return f"{OUTCOME_LABELS[self.outcome]} (stale)"
        return OUTCOME_LABELS[self.outcome]


@dataclass(frozen=True)
class Scorecard:
    level: int
    level_percents: dict[int, float]
    category_percents: dict[str, float]
    overall_percent: float
    progress_to_next: float
    results: tuple[CriterionResult, ...]
    gaps: tuple[CriterionResult, ...]
    since: datetime
    until: datetime
    stale: tuple[CriterionResult, ...] = field(default=())

    @property
    def next_level(self) -> int | None:
        return self.level + 1 if self.level < MAX_LEVEL else None

    @property
    def blocking(self) -> tuple[CriterionResult, ...]:
        """The gaps that keep the project from the next level."""
        return tuple(g for g in self.gaps if g.spec.level == self.level + 1)

    def fingerprint(self) -> str:
        """Equal fingerprints mean an unchanged scorecard (outcomes, not wording of summaries)."""
        key = {r.spec.code: [r.outcome.value, r.stale, r.challenged] for r in self.results}
        return hashlib.sha256(json.dumps([self.level, key], sort_keys=True).encode()).hexdigest()

    def outcomes_json(self) -> dict[str, dict[str, object]]:
        return {
            r.spec.code: {
                "outcome": r.outcome.value,
                "stale": r.stale,
                "challenged": r.challenged,
                "summary": r.summary,
                "links": [asdict(link) for link in r.links],
            }
            for r in self.results
        }


# --- Automatic checks ----------------------------------------------------------------------------

Check = Callable[[ProjectEvidence], CheckResult]
CHECKS: dict[str, Check] = {}


def check(key: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS[key] = fn
        return fn

    return register


def _no_source(evidence: ProjectEvidence, source: str, what: str) -> CheckResult | None:
    if source not in evidence.sources:
        return CheckResult(Outcome.NO_EVIDENCE, f"No evidence yet: {what} is not available to the portal.")
    return None


def _run_links(runs: Iterable) -> tuple[Link, ...]:
    return tuple(Link(f"run {r.name or r.run_id[:8]}", r.url) for r in list(runs)[:MAX_LINKS])


def _is_automated(run: object) -> bool:
    return run.source_type.upper() in AUTOMATED_SOURCE_TYPES or run.trigger in AUTOMATED_TRIGGERS


def _judged_runs(evidence: ProjectEvidence) -> tuple[list, int]:
    """The runs a reproducibility or automation claim is about: those behind the project's live
    registered versions and those its pipelines started (jobs, schedules, triggers). Scratch runs —
    a notebook experiment, three ad-hoc tries — are not what ships, and judging them would let
    them move a level within a minute. Returns (judged runs, how many other runs were left out)."""
    behind_versions = evidence.version_run_ids()
    judged = [r for r in evidence.runs if r.run_id in behind_versions or _is_automated(r)]
    return judged, len(evidence.runs) - len(judged)


JUDGED_RUNS = "runs behind registered versions and pipeline runs"


def _share_check(evidence: ProjectEvidence, has: Callable, what: str, *, shipped_only: bool = True) -> CheckResult:
    """Met when SHARE_REQUIRED of the judged runs of the window have `has`, judged over at least
    MIN_JUDGED_RUNS runs (fewer: "cannot tell"). `shipped_only` judges the runs behind versions and
    pipelines (a reproducibility claim); otherwise every run (a tracking habit)."""
    missing = _no_source(evidence, SOURCE_MIRROR, "the MLflow mirror")
    if missing:
        return missing
    runs, left_out = _judged_runs(evidence) if shipped_only else (list(evidence.runs), 0)
    kind = JUDGED_RUNS if shipped_only else "runs"
    window = f"the last {(evidence.until - evidence.since).days} days"
    not_judged = f" {left_out} other run(s) (notebooks, ad-hoc tries) not judged." if left_out else ""
    if not runs:
        return CheckResult(Outcome.NOT_MET, f"No {kind} in {window}: nothing to judge.{not_judged}")
    if len(runs) < MIN_JUDGED_RUNS:
        return CheckResult(
            Outcome.NO_EVIDENCE,
            f"Cannot tell yet: {len(runs)} {kind} in {window}; {MIN_JUDGED_RUNS} needed to judge." + not_judged,
            _run_links(runs),
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
    links = _run_links(bad) + _run_links(good[: max(0, MAX_LINKS - len(bad))])
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


def _version_links(versions: Iterable) -> tuple[Link, ...]:
    return tuple(Link(f"{v.model} v{v.version}", v.url) for v in list(versions)[:MAX_LINKS])


@check("registry_in_use")
def registry_in_use(evidence: ProjectEvidence) -> CheckResult:
    missing = _no_source(evidence, SOURCE_MIRROR, "the MLflow mirror")
    if missing:
        return missing
    if not evidence.versions:
        return CheckResult(Outcome.NOT_MET, f"{evidence.registered_model_count} registered model(s), no live version.")
    models = {v.model for v in evidence.versions}
    return CheckResult(
        Outcome.MET,
        f"{len(models)} registered model(s) with {len(evidence.versions)} live version(s).",
        _version_links(evidence.versions),
    )


def _every_live_version(
    evidence: ProjectEvidence, *, holds: Callable[[VersionFact], bool], failing: str, passing: str
) -> CheckResult:
    """Met when every live version passes `holds`; otherwise names the versions that do not."""
    missing = _no_source(evidence, SOURCE_MIRROR, "the MLflow mirror")
    if missing:
        return missing
    if not evidence.versions:
        return CheckResult(Outcome.NOT_MET, "No registered model version to check.")
    offenders = [v for v in evidence.versions if not holds(v)]
    if offenders:
        return CheckResult(
            Outcome.NOT_MET,
            f"{len(offenders)} of {len(evidence.versions)} live versions {failing}.",
            _version_links(offenders),
        )
    return CheckResult(
        Outcome.MET, f"All {len(evidence.versions)} live versions {passing}.", _version_links(evidence.versions)
    )


@check("versions_signature")
def versions_signature(evidence: ProjectEvidence) -> CheckResult:
    return _every_live_version(
        evidence,
        holds=lambda version: version.has_input_signature,
        failing="have no input signature",
        passing="declare inputs",
    )


@check("versions_linked_to_runs")
def versions_linked_to_runs(evidence: ProjectEvidence) -> CheckResult:
    return _every_live_version(
        evidence,
        holds=lambda version: version.has_run,
        failing="do not point to a known run",
        passing="link to their run",
    )


@check("serving_alias")
def serving_alias(evidence: ProjectEvidence) -> CheckResult:
    missing = _no_source(evidence, SOURCE_MIRROR, "the MLflow mirror")
    if missing:
        return missing
    serving = evidence.serving_versions()
    names = "/".join(evidence.serving_aliases)
    if not serving:
        return CheckResult(Outcome.NOT_MET, f"No live version carries a serving alias ({names}).")
    return CheckResult(
        Outcome.MET,
        "Serving: " + ", ".join(f"{v.model}@{'/'.join(v.aliases)} → v{v.version}" for v in serving) + ".",
        _version_links(serving),
    )


@check("runs_automated_cadence")
def runs_automated_cadence(evidence: ProjectEvidence) -> CheckResult:
    missing = _no_source(evidence, SOURCE_MIRROR, "the MLflow mirror")
    if missing:
        return missing
    runs, _ = _judged_runs(evidence)
    if not runs:
        return CheckResult(Outcome.NOT_MET, f"No {JUDGED_RUNS} in the window.")
    automated = sorted((r for r in runs if _is_automated(r)), key=lambda r: r.start_time)
    share = len(automated) / len(runs)
    summary = f"{len(automated)} of {len(runs)} {JUDGED_RUNS} ({share:.0%}) started by a job, pipeline or schedule"
    links = _run_links(automated[-MAX_LINKS:])
    if share < AUTOMATED_SHARE_REQUIRED or len(automated) < MIN_AUTOMATED_RUNS:
        manual = [r for r in runs if r not in automated]
        return CheckResult(
            Outcome.NOT_MET,
            f"{summary}; at least {AUTOMATED_SHARE_REQUIRED:.0%} and {MIN_AUTOMATED_RUNS} runs needed.",
            _run_links(manual) or links,
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


@check("monitor_receiving_data")
def monitor_receiving_data(evidence: ProjectEvidence) -> CheckResult:
    missing = _no_source(evidence, SOURCE_MONITORING, "monitoring")
    if missing:
        return missing
    fresh_after = evidence.until - MONITOR_DATA_MAX_AGE
    good = [
        m
        for m in evidence.monitors
        if m.active and m.watches_serving_version and m.last_data_at and m.last_data_at >= fresh_after
    ]
    if good:
        return CheckResult(
            Outcome.MET,
            f"{len(good)} active monitor(s) on the serving version received data in the last 7 days.",
            tuple(Link(m.name, m.url) for m in good[:MAX_LINKS]),
        )
    if not evidence.monitors:
        return CheckResult(Outcome.NOT_MET, "The project has no monitor.")
    return CheckResult(
        Outcome.NOT_MET,
        "No active monitor on the serving version received data in the last 7 days.",
        tuple(Link(m.name, m.url) for m in evidence.monitors[:MAX_LINKS]),
    )


@check("alerts_routed")
def alerts_routed(evidence: ProjectEvidence) -> CheckResult:
    """Judged on the monitors that watch what serves: a colleague's test monitor on another version
    says nothing about whether production's alerts reach anyone."""
    missing = _no_source(evidence, SOURCE_MONITORING, "monitoring")
    if missing:
        return missing
    active = [m for m in evidence.monitors if m.active]
    serving = [m for m in active if m.watches_serving_version]
    others = len(active) - len(serving)
    not_judged = f" {others} other active monitor(s), not on the serving version, not judged." if others else ""
    if not serving:
        return CheckResult(
            Outcome.NOT_MET, "No active monitor watches the serving version, so no alert can reach anyone." + not_judged
        )
    silent = [m for m in serving if m.channel_count == 0]
    if silent:
        return CheckResult(
            Outcome.NOT_MET,
            f"{len(silent)} of {len(serving)} active monitors on the serving version send their alerts nowhere."
            + not_judged,
            tuple(Link(m.name, m.url) for m in silent[:MAX_LINKS]),
        )
    return CheckResult(
        Outcome.MET,
        f"All {len(serving)} active monitors on the serving version have a notification channel." + not_judged,
        tuple(Link(m.name, m.url) for m in serving[:MAX_LINKS]),
    )


@check("schema_mismatches_handled")
def schema_mismatches_handled(evidence: ProjectEvidence) -> CheckResult:
    missing = _no_source(evidence, SOURCE_MONITORING, "monitoring")
    if missing:
        return missing
    if not [m for m in evidence.monitors if m.active]:
        # Nothing watches production data, so "no mismatch" would be no evidence at all.
        return CheckResult(Outcome.NOT_MET, "No active monitor checks production data against the signature.")
    late = [
        m
        for m in evidence.schema_mismatches
        if (m.resolved_at or evidence.until) - m.opened_at > MISMATCH_MAX_OPEN
        and (m.resolved_at is None or m.resolved_at >= evidence.since)
    ]
    if late:
        return CheckResult(
            Outcome.NOT_MET,
            f"{len(late)} schema mismatch(es) stayed open more than 7 days in the window.",
            tuple(Link(f"mismatch opened {m.opened_at:%Y-%m-%d}", m.url) for m in late[:MAX_LINKS]),
        )
    return CheckResult(
        Outcome.MET,
        f"{len(evidence.schema_mismatches)} schema mismatch(es) seen, none open more than 7 days.",
        tuple(Link(f"mismatch opened {m.opened_at:%Y-%m-%d}", m.url) for m in evidence.schema_mismatches[:MAX_LINKS]),
    )


@check("retrain_from_drift")
def retrain_from_drift(evidence: ProjectEvidence) -> CheckResult:
    missing = _no_source(evidence, SOURCE_MONITORING, "monitoring")
    if missing:
        return missing
    from_drift = [r for r in evidence.retrains if r.reason == "drift" and r.at >= evidence.since]
    if from_drift:
        return CheckResult(
            Outcome.MET,
            f"{len(from_drift)} retraining(s) triggered by drift in the window.",
            tuple(Link(f"retrain {r.at:%Y-%m-%d}", r.url) for r in from_drift[:MAX_LINKS]),
        )
    return CheckResult(
        Outcome.NOT_MET,
        f"No retraining triggered by drift in the window ({len(evidence.retrains)} trigger(s) of other kinds).",
    )


@check("alias_via_gate")
def alias_via_gate(evidence: ProjectEvidence) -> CheckResult:
    missing = _no_source(evidence, SOURCE_GATE, "the promotion gate")
    if missing:
        return missing
    serving_models = {v.model for v in evidence.serving_versions()}
    moves = sorted(
        (m for m in evidence.alias_moves if m.alias in evidence.serving_aliases and m.model in serving_models),
        key=lambda m: m.at,
    )
    if not serving_models:
        return CheckResult(Outcome.NOT_MET, "No serving alias to check.")
    if not moves:
        return CheckResult(Outcome.NOT_MET, "The serving alias was never moved through the portal's gate.")
    bypasses = [m for m in moves if not m.via_gate and m.at >= evidence.since]
    links = tuple(Link(f"{m.model}@{m.alias} {m.at:%Y-%m-%d}", m.url) for m in moves[-MAX_LINKS:] if m.url)
    last_by_model = {m.model: m for m in moves}
    if bypasses or not all(m.via_gate for m in last_by_model.values()):
        return CheckResult(
            Outcome.NOT_MET, f"The serving alias was set outside the gate ({len(bypasses)} bypass(es)).", links
        )
    return CheckResult(Outcome.MET, "The serving alias was last moved by an approved promotion.", links)


@check("rollback_ready")
def rollback_ready(evidence: ProjectEvidence) -> CheckResult:
    missing = _no_source(evidence, SOURCE_MIRROR, "the MLflow mirror")
    if missing:
        return missing
    serving = evidence.serving_versions()
    if not serving:
        return CheckResult(Outcome.NOT_MET, "No serving version, so nothing to roll back from.")
    ready = [
        (s, v)
        for s in serving
        for v in evidence.versions
        if v.model == s.model and v.version < s.version and v.has_input_signature
    ]
    if not {s.model for s, _ in ready} >= {s.model for s in serving}:
        return CheckResult(
            Outcome.NOT_MET, "No earlier live version with a signature to roll back to.", _version_links(serving)
        )
    previous = {}
    for s, v in ready:
        if s.model not in previous or v.version > previous[s.model].version:
            previous[s.model] = v
    return CheckResult(
        Outcome.MET,
        "Rollback target(s): " + ", ".join(f"{v.model} v{v.version}" for v in previous.values()) + ".",
        _version_links(previous.values()),
    )


@check("promotion_metric_check")
def promotion_metric_check(evidence: ProjectEvidence) -> CheckResult:
    missing = _no_source(evidence, SOURCE_GATE, "the promotion gate")
    if missing:
        return missing
    serving_models = {v.model for v in evidence.serving_versions()} or {v.model for v in evidence.versions}
    policies = {p.model: p for p in evidence.gate_policies if p.model in serving_models}
    if not serving_models:
        return CheckResult(Outcome.NOT_MET, "No registered model to hold a gate policy.")
    lacking = sorted(m for m in serving_models if m not in policies or not policies[m].requires_metric_check)
    links = tuple(Link(f"gate policy of {p.model}", p.url) for p in policies.values() if p.url)
    if lacking:
        return CheckResult(Outcome.NOT_MET, f"No metric check in the gate policy of {', '.join(lacking)}.", links)
    return CheckResult(Outcome.MET, "Every serving model's gate policy requires a metric check.", links)


def run_check(check_key: str, evidence: ProjectEvidence) -> CheckResult:
    fn = CHECKS.get(check_key)
    if fn is None:
        return CheckResult(Outcome.NO_EVIDENCE, f"No evidence yet: the portal has no check named “{check_key}”.")
    return fn(evidence)


# --- The scorecard --------------------------------------------------------------------------------


def _answer_result(
    spec: CriterionSpec, answer: AnswerFact | None, now: datetime, stale_after: timedelta
) -> CriterionResult:
    if answer is None:
        return CriterionResult(spec, Outcome.UNANSWERED, "Not answered yet.")
    outcome = Outcome(answer.status)
    stale = outcome is not Outcome.NOT_APPLICABLE and now - answer.answered_at > stale_after
    challenged = answer.review_state == "challenged"
    parts = [f"Answered by {answer.answered_by or 'someone'} on {answer.answered_at:%Y-%m-%d}"]
    if answer.review_state == "accepted":
        parts.append(f"accepted by {answer.reviewed_by or 'a reviewer'}")
    elif challenged:
        parts.append(f"challenged by {answer.reviewed_by or 'a reviewer'}")
    if stale:
        parts.append(f"older than {stale_after.days} days: confirm it again")
    links = (Link("evidence", answer.evidence_url),) if answer.evidence_url else ()
    return CriterionResult(
        spec, outcome, "; ".join(parts) + ".", links, stale=stale, challenged=challenged, answer=answer
    )


PROGRESS_RULE = (
    "Progress toward a level counts every applicable criterion of that level and below: met counts 1; "
    "partly met, or met but stale or challenged, counts ½; anything else 0."
)


def _percent(results: Iterable[CriterionResult]) -> float:
    applicable = [r for r in results if r.applicable]
    if not applicable:
        return 100.0
    return round(100 * sum(r.weight for r in applicable) / len(applicable), 1)


def _gap_rank(result: CriterionResult) -> int:
    if result.outcome is Outcome.PARTLY or result.stale or result.challenged:
        return 0  # nearly there: confirm or finish
    return 1


def score(
    *,
    criteria: Iterable[CriterionSpec],
    evidence: ProjectEvidence,
    answers: Mapping[str, AnswerFact],
    now: datetime,
    stale_after: timedelta,
) -> Scorecard:
    specs = sorted(criteria, key=lambda c: (c.level, c.position, c.code))
    results: list[CriterionResult] = []
    for spec in specs:
        if spec.kind == "automatic":
            outcome = run_check(spec.check_key, evidence)
            results.append(CriterionResult(spec, outcome.outcome, outcome.summary, outcome.links))
        else:
            results.append(_answer_result(spec, answers.get(spec.code), now, stale_after))

    level = 0
    for n in range(1, MAX_LEVEL + 1):
        if all(r.counts_as_met for r in results if r.spec.level <= n and r.applicable):
            level = n
        else:
            break

    by_level: dict[int, list[CriterionResult]] = defaultdict(list)
    by_category: dict[str, list[CriterionResult]] = defaultdict(list)
    for r in results:
        by_level[r.spec.level].append(r)
        by_category[r.spec.category].append(r)
    # One definition of progress, for the bars, the "of the way" line, the portfolio and the CSV:
    # toward level n counts every applicable criterion of level n and below (PROGRESS_RULE).
    level_percents = {n: _percent(r for r in results if r.spec.level <= n) for n in range(1, MAX_LEVEL + 1)}
    category_percents = {c: _percent(rs) for c, rs in by_category.items()}
    next_level = min(level + 1, MAX_LEVEL)
    progress = 100.0 if level == MAX_LEVEL else level_percents[next_level]

    unmet = [r for r in results if r.applicable and not r.counts_as_met]
    left_in_category = defaultdict(int)
    for r in unmet:
        left_in_category[r.spec.category] += 1
    gaps = sorted(
        unmet,
        key=lambda r: (r.spec.level, _gap_rank(r), left_in_category[r.spec.category], r.spec.position, r.spec.code),
    )
    return Scorecard(
        level=level,
        level_percents=level_percents,
        category_percents=category_percents,
        overall_percent=_percent(results),
        progress_to_next=progress,
        results=tuple(results),
        gaps=tuple(gaps),
        since=evidence.since,
        until=evidence.until,
        stale=tuple(r for r in results if r.stale),
    )
