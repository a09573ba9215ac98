"""The scorecard: every criterion's result, the level, the percentages and the gaps in order."""

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from assessments.evidence import ProjectEvidence
from assessments.scoring.answers import answer_result
from assessments.scoring.categories import category_percents
from assessments.scoring.checks import run_check
from assessments.scoring.gaps import gaps_in_order
from assessments.scoring.levels import MAX_LEVEL, level_percents, level_reached, progress_to_next
from assessments.scoring.results import AnswerFact, CriterionResult, CriterionSpec, percent_met


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


def criterion_results(
    *,
    criteria: Iterable[CriterionSpec],
    evidence: ProjectEvidence,
    answers: Mapping[str, AnswerFact],
    now: datetime,
    stale_after: timedelta,
) -> list[CriterionResult]:
    """Each criterion judged, in rubric order: automatic ones by their check, attested ones by the answer."""
    results: list[CriterionResult] = []
    for spec in sorted(criteria, key=lambda c: (c.level, c.position, c.code)):
        if spec.kind == "automatic":
            outcome = run_check(spec.check_key, evidence)
            results.append(CriterionResult(spec, outcome.outcome, outcome.summary, outcome.links))
        else:
            results.append(answer_result(spec, answers.get(spec.code), now, stale_after))
    return results


def score(
    *,
    criteria: Iterable[CriterionSpec],
    evidence: ProjectEvidence,
    answers: Mapping[str, AnswerFact],
    now: datetime,
    stale_after: timedelta,
) -> Scorecard:
    results = criterion_results(criteria=criteria, evidence=evidence, answers=answers, now=now, stale_after=stale_after)
    level = level_reached(results)
    percents = level_percents(results)
    return Scorecard(
        level=level,
        level_percents=percents,
        category_percents=category_percents(results),
        overall_percent=percent_met(results),
        progress_to_next=progress_to_next(level, percents),
        results=tuple(results),
        gaps=tuple(gaps_in_order(results)),
        since=evidence.since,
        until=evidence.until,
        stale=tuple(r for r in results if r.stale),
    )
