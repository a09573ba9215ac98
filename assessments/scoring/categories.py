"""The score per category (experimentation, reproducibility, deployment, ...)."""

from collections import defaultdict
from collections.abc import Iterable

from assessments.scoring.results import CriterionResult, percent_met


def category_percents(results: Iterable[CriterionResult]) -> dict[str, float]:
    """Each category's weighted share of met criteria, in the order categories first appear."""
    by_category: dict[str, list[CriterionResult]] = defaultdict(list)
    for r in results:
        by_category[r.spec.category].append(r)
    return {c: percent_met(rs) for c, rs in by_category.items()}
