"""The gaps (unmet criteria) in the order to tackle them: the next level first, the nearly done first
(partly, stale, challenged), then the categories with the fewest gaps left, then rubric order."""

from collections import defaultdict
from collections.abc import Iterable

from assessments.scoring.results import CriterionResult, Outcome


def gap_rank(result: CriterionResult) -> int:
    if result.outcome is Outcome.PARTLY or result.stale or result.challenged:
        return 0  # nearly there: confirm or finish
    return 1


def gaps_in_order(results: Iterable[CriterionResult]) -> list[CriterionResult]:
    unmet = [r for r in results if r.applicable and not r.counts_as_met]
    left_in_category: dict[str, int] = defaultdict(int)
    for r in unmet:
        left_in_category[r.spec.category] += 1
    return sorted(
        unmet,
        key=lambda r: (r.spec.level, gap_rank(r), left_in_category[r.spec.category], r.spec.position, r.spec.code),
    )
