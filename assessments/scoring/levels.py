"""The level rule, and progress toward each level."""

from collections.abc import Sequence

from assessments.scoring.results import CriterionResult, percent_met

MAX_LEVEL = 2

PROGRESS_RULE = (
    "Progress toward a level counts every applicable criterion of that level and below: met counts 1; "
    "partly met, or met but stale or challenged, counts ½; anything else 0."
)


def level_reached(results: Sequence[CriterionResult]) -> int:
    """The highest level N such that every applicable criterion of level <= N is met."""
    level = 0
    for n in range(1, MAX_LEVEL + 1):
        if all(r.counts_as_met for r in results if r.spec.level <= n and r.applicable):
            level = n
        else:
            break
    return level


def level_percents(results: Sequence[CriterionResult]) -> dict[int, float]:
    """One definition of progress, for the bars, the "of the way" line, the portfolio and the CSV:
    toward level n counts every applicable criterion of level n and below (PROGRESS_RULE)."""
    return {n: percent_met(r for r in results if r.spec.level <= n) for n in range(1, MAX_LEVEL + 1)}


def progress_to_next(level: int, percents: dict[int, float]) -> float:
    """How far toward the next level, from `level_percents`; 100 at the top level."""
    return 100.0 if level == MAX_LEVEL else percents[min(level + 1, MAX_LEVEL)]
