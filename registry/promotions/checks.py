"""The promotion gate's automatic checks that need only numbers and signatures: pure functions.

A check compares the candidate version with the version the alias points at now (the holder). Each
returns a CheckOutcome that says passed / failed / not applicable and why, in words a reviewer reads.
Checks that need other apps (drift, maturity) are registered by those apps; see the gate service.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_APPLICABLE = "not_applicable"  # e.g. no current holder: nothing to compare with
    NOT_CONFIGURED = "not_configured"  # the app that would answer is not there yet
    # The facts to decide on are not there (yet): e.g. the shadow replay is still running or could
    # not run. It blocks like a failure: a gate that guessed "passed" here would approve blind.
    CANNOT_TELL = "cannot_tell"


BLOCKING_STATUSES = frozenset({CheckStatus.FAILED, CheckStatus.CANNOT_TELL})


def status_blocks(status: str) -> bool:
    """Whether a check with this status (a CheckStatus or its stored string) stops an approval."""
    return status in BLOCKING_STATUSES


@dataclass(frozen=True)
class SchemaDiffRow:
    column: str
    expected: str  # what callers send today (the holder's signature); "" when the column is new
    received: str  # what the candidate declares; "" when the column is gone
    finding: str  # "removed", "type changed", "new required input", "new optional input"
    breaking: bool


@dataclass(frozen=True)
class CheckOutcome:
    check: str
    status: CheckStatus
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def blocks(self) -> bool:
        return status_blocks(self.status)

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status.value, "summary": self.summary, "details": self.details}


class MetricDirection(StrEnum):
    HIGHER_IS_BETTER = "higher"
    LOWER_IS_BETTER = "lower"

    @property
    def label(self) -> str:
        return "Higher is better" if self is MetricDirection.HIGHER_IS_BETTER else "Lower is better"


# For the policy's model field and form (the checks themselves import no Django).
METRIC_DIRECTION_CHOICES = [(direction.value, direction.label) for direction in MetricDirection]


def metric_check(
    *,
    metric: str,
    direction: MetricDirection,
    tolerance: float,
    candidate_metrics: Mapping[str, float],
    holder_metrics: Mapping[str, float] | None,
) -> CheckOutcome:
    """The candidate may be worse than the holder by at most `tolerance` (in the metric's own units)."""
    candidate = candidate_metrics.get(metric)
    if candidate is None:
        return CheckOutcome(
            "metric", CheckStatus.FAILED, f"The candidate's run did not log {metric!r}.", {"metric": metric}
        )
    if holder_metrics is None:
        return CheckOutcome(
            "metric",
            CheckStatus.NOT_APPLICABLE,
            f"No version holds the alias yet; candidate {metric} = {candidate:.4g}.",
            {"metric": metric, "candidate": candidate},
        )
    holder = holder_metrics.get(metric)
    if holder is None:
        return CheckOutcome(
            "metric",
            CheckStatus.NOT_APPLICABLE,
            f"The current version's run did not log {metric!r}; candidate {metric} = {candidate:.4g}.",
            {"metric": metric, "candidate": candidate},
        )
    # Positive = the candidate is better, whatever the direction.
    improvement = candidate - holder if direction == MetricDirection.HIGHER_IS_BETTER else holder - candidate
    details = {
        "metric": metric,
        "candidate": candidate,
        "holder": holder,
        "improvement": improvement,
        "direction": direction.value,
        "tolerance": tolerance,
    }
    comparison = f"{metric}: candidate {candidate:.4g} vs current {holder:.4g} ({direction.label.lower()})"
    if improvement < -tolerance:
        return CheckOutcome(
            "metric",
            CheckStatus.FAILED,
            f"{comparison}; worse by {-improvement:.4g} > tolerance {tolerance:.4g}.",
            details,
        )
    return CheckOutcome("metric", CheckStatus.PASSED, f"{comparison}; within tolerance {tolerance:.4g}.", details)


# Types a caller may keep sending when the candidate declares the wider type: MLflow's schema
# enforcement converts these without loss. Anything else (narrowing, number <-> string) breaks.
SAFE_WIDENINGS: dict[str, frozenset[str]] = {
    "integer": frozenset({"long", "float", "double"}),
    "long": frozenset({"double"}),
    "float": frozenset({"double"}),
}

SignatureColumns = Sequence[Mapping[str, Any]]  # [{"name": str | None, "type": str, "required": bool}]


def _columns_by_name(columns: SignatureColumns) -> dict[str, Mapping[str, Any]]:
    # Tensor signatures have unnamed inputs; their position is their name.
    return {str(column.get("name") or f"#{index}"): column for index, column in enumerate(columns)}


def signature_diff(*, expected: SignatureColumns, received: SignatureColumns) -> list[SchemaDiffRow]:
    """Rows for every difference between what callers send (expected) and what the candidate declares."""
    before, after = _columns_by_name(expected), _columns_by_name(received)
    rows: list[SchemaDiffRow] = []
    for name, column in before.items():
        old_type = str(column.get("type", ""))
        if name not in after:
            rows.append(SchemaDiffRow(name, old_type, "", "removed", breaking=True))
            continue
        new_type = str(after[name].get("type", ""))
        if new_type != old_type:
            safe = new_type in SAFE_WIDENINGS.get(old_type, frozenset())
            rows.append(SchemaDiffRow(name, old_type, new_type, "type widened" if safe else "type changed", not safe))
    for name, column in after.items():
        if name in before:
            continue
        required = bool(column.get("required", True))
        finding = "new required input" if required else "new optional input"
        rows.append(SchemaDiffRow(name, "", str(column.get("type", "")), finding, breaking=required))
    return rows


def _named_types(columns: SignatureColumns) -> list[dict[str, str]]:
    return [{"name": name, "type": str(column.get("type", ""))} for name, column in _columns_by_name(columns).items()]


def signature_check(
    *, candidate_inputs: SignatureColumns | None, holder_inputs: SignatureColumns | None
) -> CheckOutcome:
    if candidate_inputs is None:
        return CheckOutcome("signature", CheckStatus.FAILED, "The candidate has no input signature.")
    if holder_inputs is None:
        return CheckOutcome(
            "signature",
            CheckStatus.NOT_APPLICABLE,
            "No current version with a signature to compare with.",
            {"inputs": len(candidate_inputs), "candidate_inputs": _named_types(candidate_inputs)},
        )
    rows = signature_diff(expected=holder_inputs, received=candidate_inputs)
    details = {
        "diff": [row.__dict__ for row in rows],
        "candidate_inputs": _named_types(candidate_inputs),
        "holder_inputs": _named_types(holder_inputs),
    }
    breaking = [row for row in rows if row.breaking]
    if breaking:
        listed = "; ".join(
            f"{row.column}: {row.finding}"
            + (f" ({row.expected} -> {row.received})" if row.expected and row.received else "")
            for row in breaking
        )
        return CheckOutcome("signature", CheckStatus.FAILED, f"Incompatible inputs: {listed}.", details)
    if rows:
        return CheckOutcome(
            "signature", CheckStatus.PASSED, f"Compatible; {len(rows)} non-breaking difference(s).", details
        )
    return CheckOutcome("signature", CheckStatus.PASSED, "Same inputs as the current version.", details)


@dataclass(frozen=True)
class CheckChange:
    """A check whose verdict differs between two evaluations (at request time and now)."""

    check: str
    before: str  # status then; "" when the check did not run then
    after: str  # status now; "" when it no longer runs
    summary: str  # what it says now (or said then, when it no longer runs)


def checks_compare(*, before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]) -> list[CheckChange]:
    """The checks whose status changed from `before` to `after` (CheckOutcome.as_dict() lists)."""
    then = {str(c["check"]): c for c in before}
    now = {str(c["check"]): c for c in after}
    changes = []
    for name in [*now, *(name for name in then if name not in now)]:
        old, new = then.get(name), now.get(name)
        old_status, new_status = (old or {}).get("status", ""), (new or {}).get("status", "")
        if old_status != new_status:
            changes.append(CheckChange(name, old_status, new_status, str((new or old or {}).get("summary", ""))))
    return changes


def checks_newly_failing(*, before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]) -> list[str]:
    """Checks that block in `after` and did not in `before`: what an approval did not decide on."""
    blocking_then = {str(c["check"]) for c in before if status_blocks(str(c.get("status")))}
    return [str(c["check"]) for c in after if status_blocks(str(c.get("status"))) and c["check"] not in blocking_then]


@dataclass(frozen=True)
class CheckRow:
    """One line of the review page: a check as it stands now (or at the decision) beside the
    request-time snapshot."""

    check: str
    current: Mapping[str, Any] | None
    snapshot: Mapping[str, Any] | None

    @property
    def changed(self) -> bool:
        return (self.current or {}).get("status") != (self.snapshot or {}).get("status")


def check_rows(*, snapshot: Sequence[Mapping[str, Any]], current: Sequence[Mapping[str, Any]]) -> list[CheckRow]:
    then = {str(c["check"]): c for c in snapshot}
    now = {str(c["check"]): c for c in current}
    names = [*now, *(name for name in then if name not in now)]
    return [CheckRow(name, now.get(name), then.get(name)) for name in names]
