"""The experiment page's runs table: which param and metric columns, which order, which filters.
Pure parsing of the query string into a plan the selector applies."""

from dataclasses import dataclass, field

from django.db.models import F, OrderBy, QuerySet
from django.db.models.fields.json import KeyTransform

from registry.models import Run

DEFAULT_COLUMNS = 4
FIXED_SORTS = {"start_time": "start_time", "name": "name", "status": "status", "user": "user"}


@dataclass(frozen=True)
class RunsTablePlan:
    params: list[str]
    metrics: list[str]
    sort: str  # "start_time", "-metrics.accuracy", ...
    status: str = ""
    search: str = ""
    available_params: list[str] = field(default_factory=list)
    available_metrics: list[str] = field(default_factory=list)

    def order_by(self) -> OrderBy:
        descending = self.sort.startswith("-")
        key = self.sort.lstrip("-")
        if key.startswith(("params.", "metrics.")):
            column, name = key.split(".", 1)
            expression = KeyTransform(name, column)
        else:
            expression = F(FIXED_SORTS.get(key, "start_time"))
        return expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)

    def apply(self, runs: QuerySet[Run]) -> QuerySet[Run]:
        if self.status:
            runs = runs.filter(status=self.status)
        if self.search:
            runs = runs.filter(name__icontains=self.search) | runs.filter(run_id__startswith=self.search)
        return runs.order_by(self.order_by(), "-pk")


def _keys(sample: list[tuple[dict, dict]], index: int) -> list[str]:
    keys: dict[str, None] = {}
    for row in sample:
        keys.update(dict.fromkeys(sorted(row[index])))
    return list(keys)


def runs_table_plan(*, query: dict[str, list[str]], sample: list[tuple[dict, dict]]) -> RunsTablePlan:
    """`sample` = (params, metrics) of the experiment's most recent runs: the keys offered as columns."""
    available_params, available_metrics = _keys(sample, 0), _keys(sample, 1)
    params = [p for p in query.get("param", []) if p in available_params] or available_params[:DEFAULT_COLUMNS]
    metrics = [m for m in query.get("metric", []) if m in available_metrics] or available_metrics[:DEFAULT_COLUMNS]
    sort = (query.get("sort") or ["-start_time"])[0]
    key = sort.lstrip("-")
    valid = (
        key in FIXED_SORTS
        or (key.startswith("params.") and key[7:] in available_params)
        or (key.startswith("metrics.") and key[8:] in available_metrics)
    )
    status = (query.get("status") or [""])[0]
    return RunsTablePlan(
        params=params,
        metrics=metrics,
        sort=sort if valid else "-start_time",
        status=status if status in Run.Status.values else "",
        search=(query.get("q") or [""])[0].strip(),
        available_params=available_params,
        available_metrics=available_metrics,
    )
