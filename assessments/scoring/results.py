"""The vocabulary of scoring: outcomes, criteria, answers and a criterion's result."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from assessments.evidence import Link


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


def percent_met(results: Iterable[CriterionResult]) -> float:
    """The weighted share of the applicable results that are met (100 when none applies)."""
    applicable = [r for r in results if r.applicable]
    if not applicable:
        return 100.0
    return round(100 * sum(r.weight for r in applicable) / len(applicable), 1)
