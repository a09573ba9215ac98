"""Attested criteria: the result from the team's answer, its review and its age."""

from datetime import datetime, timedelta

from assessments.evidence import Link
from assessments.scoring.results import AnswerFact, CriterionResult, CriterionSpec, Outcome


def answer_result(
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
