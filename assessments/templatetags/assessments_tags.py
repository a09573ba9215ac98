from typing import Any

from django import template

from assessments.scoring.results import CriterionResult

register = template.Library()


@register.filter
def get_item(mapping: dict[str, Any] | None, key: str) -> Any:
    return (mapping or {}).get(key)


@register.filter
def outcome_class(result: CriterionResult) -> str:
    """Badge colour for a criterion result: met, nearly (partly, stale, challenged), not met, neutral."""
    if result.counts_as_met:
        return "badge-ok"
    if result.outcome in ("partly", "met"):
        return "badge-warn"
    if result.outcome == "not_met":
        return "badge-bad"
    return "badge-neutral"
