"""The facts automatic criteria look at, as plain frozen dataclasses.

assessments/evidence_sources.py builds a ProjectEvidence from the registry mirror, the gate and the monitors;
assessments/scoring/ judges it. Keeping the facts free of the ORM lets every check be tested in
milliseconds and keeps the scorecard honest about what it looked at (links and the time span).
"""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class RunFact:
    run_id: str
    name: str
    url: str
    start_time: datetime
    status: str
    param_count: int
    metric_count: int
    git_commit: str
    has_dataset: bool  # an input dataset with both a name and a digest
    source_type: str  # MLflow's mlflow.source.type: NOTEBOOK, JOB, PROJECT, LOCAL, ...
    trigger: str = ""  # the run's portal.trigger tag, if any: "schedule", "pipeline", "drift", ...


@dataclass(frozen=True)
class VersionFact:
    model: str
    version: int
    url: str
    created_at: datetime
    has_input_signature: bool
    has_run: bool  # linked to a run the mirror knows
    aliases: tuple[str, ...] = ()
    run_id: str = ""  # the run that trained it


@dataclass(frozen=True)
class AliasMoveFact:
    """A move of a serving alias seen in the audit log: through the gate, or bypassing it."""

    model: str
    alias: str
    at: datetime
    via_gate: bool
    url: str = ""


@dataclass(frozen=True)
class GatePolicyFact:
    model: str
    requires_metric_check: bool
    url: str = ""


@dataclass(frozen=True)
class MonitorFact:
    name: str
    url: str
    active: bool
    watches_serving_version: bool
    last_data_at: datetime | None
    channel_count: int


@dataclass(frozen=True)
class SchemaMismatchFact:
    url: str
    opened_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class RetrainFact:
    url: str
    at: datetime
    reason: str  # "drift", "schedule", "manual", ...


@dataclass(frozen=True)
class ProjectEvidence:
    """What the portal knows about one project, for the time span [since, until]."""

    since: datetime
    until: datetime
    runs: tuple[RunFact, ...] = ()
    versions: tuple[VersionFact, ...] = ()  # live versions of the project's registered models
    registered_model_count: int = 0
    serving_aliases: tuple[str, ...] = ("champion", "production", "prod")
    alias_moves: tuple[AliasMoveFact, ...] = ()
    gate_policies: tuple[GatePolicyFact, ...] = ()
    monitors: tuple[MonitorFact, ...] = ()
    schema_mismatches: tuple[SchemaMismatchFact, ...] = ()
    retrains: tuple[RetrainFact, ...] = ()
    # Which sources the facts come from. assessments/evidence_sources.py always reads all three (the
    # apps are always installed; a source that breaks raises); facts built without a source (a test of
    # one check) score the criteria that need it "no evidence yet", not "not met".
    sources: frozenset[str] = field(default_factory=frozenset)

    def serving_versions(self) -> tuple[VersionFact, ...]:
        return tuple(v for v in self.versions if set(v.aliases) & set(self.serving_aliases))

    def version_run_ids(self) -> frozenset[str]:
        return frozenset(v.run_id for v in self.versions if v.run_id)


SOURCE_MIRROR = "mirror"
SOURCE_GATE = "gate"
SOURCE_MONITORING = "monitoring"
