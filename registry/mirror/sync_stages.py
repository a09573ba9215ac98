"""The stages of one sync pass (registry/mirror/sync.py runs them): experiments with their runs, models
with their versions and aliases, the run links of versions, and signatures. Each stage reads
everything it needs from MLflow first, then writes in one transaction, as upserts that leave
unchanged rows alone."""

import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from registry.mirror.sync_fields import (
    experiment_fields,
    registered_model_fields,
    run_fields,
    run_watermark_ms,
    signature_from_mlmodel,
    version_fields,
)
from registry.mlflow_client import MlflowRestClient
from registry.models import Experiment, MetricHistory, ModelVersion, RegisteredModel, Run
from registry.signals import model_aliases_changed

logger = logging.getLogger(__name__)

KINDS = ("experiments", "runs", "models", "versions")
BATCH = 500
# Experiment ids per runs/search request: keeps the request body and the server's query small.
EXPERIMENTS_PER_SEARCH = 100
# Concurrent MLmodel reads: MLflow's server answers several at once even with one worker.
SIGNATURE_READERS = 4


@dataclass
class SyncCounts:
    by_kind: dict[str, dict[str, int]] = field(
        default_factory=lambda: {kind: {"created": 0, "updated": 0, "deleted": 0} for kind in KINDS}
    )

    def add(self, kind: str, what: str, n: int = 1) -> None:
        self.by_kind[kind][what] += n

    def total_changes(self) -> int:
        return sum(sum(changes.values()) for changes in self.by_kind.values())


# --- upserts ----------------------------------------------------------------------------------


def _apply(obj: models.Model, fields: dict[str, Any]) -> bool:
    """Set the fields that differ and remember their names for _save_changed."""
    changed: set[str] = getattr(obj, "_sync_changed", set())
    for name, value in fields.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed.add(name)
    obj._sync_changed = changed
    return bool(changed)


def _save_changed(model: type[models.Model], objs: list[models.Model], *, now: datetime) -> None:
    """One UPDATE per changed row, of its changed fields only. A sync changes few rows of many; an
    UPDATE by primary key is cheaper than bulk_update's CASE over every field of every row."""
    with transaction.atomic():
        for obj in objs:
            fields = {name: getattr(obj, name) for name in getattr(obj, "_sync_changed", ())}
            if fields:
                model.objects.filter(pk=obj.pk).update(synced_at=now, **fields)


def _deleted_at(current: datetime | None, *, deleted: bool, now: datetime) -> datetime | None:
    if deleted:
        return current or now
    return None


class SyncPass:
    """One sync pass: holds the client, the counts and the time the pass treats as "now"."""

    def __init__(self, client: MlflowRestClient, counts: SyncCounts) -> None:
        self.client = client
        self.counts = counts
        self.now = timezone.now()
        self.watermark_ms = 0

    # experiments and runs: everything is read from MLflow first, then written in one transaction.
    # A pass that fails while reading writes nothing, so the next pass still sees as new what this
    # one did not finish (an experiment written before its runs were read would not be "new" then,
    # and its old runs would wait for the full reconcile).

    def tracking(self, *, full: bool, since_ms: int | None) -> None:
        listed: dict[str, dict[str, Any]] = {
            e["experiment_id"]: experiment_fields(e) for e in self.client.experiments()
        }
        existing = {e.mlflow_id: e for e in Experiment.objects.all()}
        alive = sorted(
            mlflow_id
            for mlflow_id, fields in listed.items()
            if fields["lifecycle_stage"] != Experiment.Lifecycle.DELETED
        )
        alive_set = set(alive)
        fetched, gone = self._runs_read(
            alive,
            new=[mlflow_id for mlflow_id in alive if mlflow_id not in existing],
            leaving=[e for mlflow_id, e in existing.items() if e.deleted_at is None and mlflow_id not in alive_set],
            full=full,
            since_ms=since_ms,
        )
        with transaction.atomic():
            self._experiments_write(listed, existing)
            experiments = dict(Experiment.objects.filter(deleted_at__isnull=True).values_list("mlflow_id", "pk"))
            self._runs_upsert(fetched, experiments)
            if gone:
                marked = Run.objects.filter(run_id__in=gone, deleted_at__isnull=True).update(
                    deleted_at=self.now, lifecycle_stage="deleted"
                )
                self.counts.add("runs", "deleted", marked)
        if fetched:
            self.watermark_ms = max(run_watermark_ms(d) for d in fetched.values())

    def _experiments_write(self, seen: dict[str, dict[str, Any]], existing: dict[str, Experiment]) -> None:
        created, changed = [], []
        for mlflow_id, fields in seen.items():
            obj = existing.get(mlflow_id)
            deleted = fields["lifecycle_stage"] == Experiment.Lifecycle.DELETED
            if obj is None:
                created.append(Experiment(mlflow_id=mlflow_id, deleted_at=self.now if deleted else None, **fields))
                continue
            was_deleted = obj.deleted_at is not None
            fields["deleted_at"] = _deleted_at(obj.deleted_at, deleted=deleted, now=self.now)
            if _apply(obj, fields):
                changed.append(obj)
                self.counts.add("experiments", "deleted" if deleted and not was_deleted else "updated")
        # The experiment listing is one page (up to 50,000): one missing from it was purged.
        for mlflow_id, obj in existing.items():
            if mlflow_id not in seen and obj.deleted_at is None:
                _apply(obj, {"lifecycle_stage": Experiment.Lifecycle.DELETED, "deleted_at": self.now})
                changed.append(obj)
                self.counts.add("experiments", "deleted")
        Experiment.objects.bulk_create(created, batch_size=BATCH)
        self.counts.add("experiments", "created", len(created))
        _save_changed(Experiment, changed, now=self.now)

    def _search_runs(self, experiment_ids: list[str], filter_string: str = "") -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(experiment_ids), EXPERIMENTS_PER_SEARCH):
            chunk = experiment_ids[start : start + EXPERIMENTS_PER_SEARCH]
            for data in self.client.runs(experiment_ids=chunk, filter_string=filter_string):
                found[data["info"]["run_id"]] = data
        return found

    def _runs_read(
        self, ids: list[str], *, new: list[str], leaving: list[Experiment], full: bool, since_ms: int | None
    ) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """The runs to upsert, and the ids of mirrored runs MLflow no longer has. `ids` are the
        alive experiments in MLflow's listing, `new` those of them the mirror does not hold yet,
        `leaving` the mirrored experiments this pass will mark deleted (their runs are not asked for)."""
        if full or since_ms is None:
            fetched = self._search_runs(ids)
        else:
            # A new experiment may bring runs of any age (imported, or created while we were down).
            fetched = self._search_runs(new)
            fetched.update(self._search_runs(ids, f"attributes.start_time >= {since_ms}"))
            fetched.update(self._search_runs(ids, f"attributes.end_time >= {since_ms}"))
            fetched.update(self._search_runs(ids, "attributes.status = 'RUNNING'"))
        # Runs the mirror thinks are running but no search returned (killed without an end time,
        # deleted): ask for each. On a full pass, every alive run the listing missed.
        alive = Run.objects.filter(deleted_at__isnull=True, experiment__deleted_at__isnull=True).exclude(
            experiment__in=leaving
        )
        if not full:
            alive = alive.filter(status__in=[Run.Status.RUNNING, Run.Status.SCHEDULED])
        missing = set(alive.values_list("run_id", flat=True)) - set(fetched)
        gone: set[str] = set()
        for run_id in missing:
            data = self.client.run(run_id)
            if data is None:
                gone.add(run_id)
            else:
                fetched[run_id] = data
        return fetched, gone

    def _runs_upsert(self, fetched: dict[str, dict[str, Any]], experiments: dict[str, int]) -> None:
        existing: dict[str, Run] = {}
        ids = list(fetched)
        for start in range(0, len(ids), 5000):
            existing.update({r.run_id: r for r in Run.objects.filter(run_id__in=ids[start : start + 5000])})
        created, changed, metrics_moved = [], [], []
        for run_id, data in fetched.items():
            experiment_pk = experiments.get(data["info"].get("experiment_id"))
            if experiment_pk is None:  # run of an experiment the mirror does not hold (yet)
                continue
            fields = run_fields(data)
            deleted = fields["lifecycle_stage"] == "deleted"
            obj = existing.get(run_id)
            if obj is None:
                created.append(
                    Run(run_id=run_id, experiment_id=experiment_pk, deleted_at=self.now if deleted else None, **fields)
                )
                continue
            was_deleted = obj.deleted_at is not None
            old_metrics = obj.metrics
            fields["deleted_at"] = _deleted_at(obj.deleted_at, deleted=deleted, now=self.now)
            fields["experiment_id"] = experiment_pk
            if _apply(obj, fields):
                changed.append(obj)
                self.counts.add("runs", "deleted" if deleted and not was_deleted else "updated")
                if obj.metrics != old_metrics:
                    metrics_moved.append(obj.pk)
        Run.objects.bulk_create(created, batch_size=BATCH)
        self.counts.add("runs", "created", len(created))
        _save_changed(Run, changed, now=self.now)
        if metrics_moved:  # cached histories of these runs are stale
            MetricHistory.objects.filter(run_id__in=metrics_moved).delete()

    # registered models and versions

    def models(self, *, full: bool, only: str | None = None) -> None:
        """Read the models, then the versions of those that changed, then write it all in one
        transaction. A model's row (its update time and aliases, which the next incremental pass
        compares with MLflow's) is never written before its versions were read: a pass that fails
        part-way leaves the models as they were, and the next pass re-reads what this one missed."""
        if only is not None:
            one = self.client.registered_model(only)
            listed = {only: one} if one is not None else {}
            existing = {m.name: m for m in RegisteredModel.objects.filter(name=only)}
        else:
            listed = {m["name"]: m for m in self.client.registered_models()}
            existing = {m.name: m for m in RegisteredModel.objects.all()}
        created, changed, need_versions = [], [], set()
        alias_moves: list[tuple[RegisteredModel, dict[str, int], dict[str, int]]] = []
        for name, data in listed.items():
            fields = registered_model_fields(data)
            obj = existing.get(name)
            if obj is None:
                created.append(RegisteredModel(name=name, **fields))
                need_versions.add(name)
                continue
            old_aliases, old_updated, was_deleted = dict(obj.aliases), obj.updated_at, obj.deleted_at is not None
            fields["deleted_at"] = None
            if _apply(obj, fields):  # in memory: written below, with the versions
                changed.append(obj)
                self.counts.add("models", "updated")
                if obj.aliases != old_aliases:
                    alias_moves.append((obj, old_aliases, obj.aliases))
                if obj.updated_at != old_updated or was_deleted:
                    need_versions.add(name)
        # Missing from the listing: confirm with MLflow before marking deleted (offset paging).
        gone = [
            obj
            for name, obj in existing.items()
            if name not in listed
            and obj.deleted_at is None
            and (only is not None or self.client.registered_model(name) is None)
        ]
        if full:
            by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for version in self.client.model_versions():
                by_model[version["name"]].append(version)
            need_versions = set(listed)
        else:
            # Versions still being created may change status without moving their model's time.
            pending = ModelVersion.objects.filter(
                registered_model__name__in=list(listed), deleted_at__isnull=True
            ).exclude(status="READY")
            need_versions |= set(pending.values_list("registered_model__name", flat=True))
            by_model = {name: list(self.client.model_versions(name=name)) for name in sorted(need_versions)}
        with transaction.atomic():
            for obj in gone:
                _apply(obj, {"deleted_at": self.now})
                changed.append(obj)
                self.counts.add("models", "deleted")
                marked = obj.versions.filter(deleted_at__isnull=True).update(deleted_at=self.now)
                self.counts.add("versions", "deleted", marked)
            RegisteredModel.objects.bulk_create(created, batch_size=BATCH)
            self.counts.add("models", "created", len(created))
            _save_changed(RegisteredModel, changed, now=self.now)
            mirror = {m.name: m for m in RegisteredModel.objects.filter(name__in=list(listed))}
            # The mirrored versions of every model to compare, in one query rather than one per model.
            mirrored: dict[int, dict[int, ModelVersion]] = defaultdict(dict)
            wanted = [mirror[name].pk for name in need_versions if name in mirror]
            for version in ModelVersion.objects.filter(registered_model_id__in=wanted):
                mirrored[version.registered_model_id][version.version] = version
            for name in need_versions:
                if name in mirror:
                    self._versions_upsert(mirror[name], by_model.get(name, []), existing=mirrored[mirror[name].pk])
            # Aliases moved on a model whose versions were not re-read: derive them from the model's.
            for model, _old, _new in alias_moves:
                if model.name not in need_versions:
                    self._version_aliases_refresh(model)
        for model, old, new in alias_moves:
            model_aliases_changed.send(sender=RegisteredModel, registered_model=model, old=old, new=new)

    def _versions_upsert(
        self, model: RegisteredModel, listed: list[dict[str, Any]], *, existing: dict[int, ModelVersion]
    ) -> None:
        seen: set[int] = set()
        created, changed = [], []
        for data in listed:
            number = int(data["version"])
            seen.add(number)
            fields = version_fields(data, aliases=model.aliases)
            obj = existing.get(number)
            if obj is None:
                created.append(ModelVersion(registered_model=model, version=number, **fields))
                continue
            was_deleted = obj.deleted_at is not None
            fields["deleted_at"] = None
            if _apply(obj, fields):
                changed.append(obj)
                self.counts.add("versions", "updated" if not was_deleted else "created")
        for number, obj in existing.items():
            if number not in seen and obj.deleted_at is None:
                _apply(obj, {"deleted_at": self.now})
                changed.append(obj)
                self.counts.add("versions", "deleted")
        ModelVersion.objects.bulk_create(created, batch_size=BATCH)
        self.counts.add("versions", "created", len(created))
        _save_changed(ModelVersion, changed, now=self.now)

    def _version_aliases_refresh(self, model: RegisteredModel) -> None:
        changed = []
        for version in model.versions.filter(deleted_at__isnull=True):
            aliases = sorted(alias for alias, v in model.aliases.items() if v == version.version)
            if _apply(version, {"aliases": aliases}):
                changed.append(version)
        _save_changed(ModelVersion, changed, now=self.now)
        self.counts.add("versions", "updated", len(changed))

    def links(self) -> None:
        """Point versions at their mirrored run (the run may arrive after the version)."""
        ModelVersion.objects.filter(run__isnull=True).exclude(run_id="").update(
            run=Subquery(Run.objects.filter(run_id=OuterRef("run_id")).values("pk")[:1])
        )

    def signatures(self, *, only: str | None = None) -> None:
        """Read each version's signature from its MLmodel file, once: a version's files never change.
        Two requests per version, made a few at a time (they wait on the network, not on us)."""
        todo = ModelVersion.objects.filter(signature_read=False, status="READY", deleted_at__isnull=True)
        if only is not None:
            todo = todo.filter(registered_model__name=only)
        versions = list(todo.select_related("registered_model"))
        if not versions:
            return
        uri, timeout, retries = self.client.tracking_uri, self.client.timeout, self.client.retries

        def read(version: ModelVersion) -> tuple[int, Any, Any]:
            client = MlflowRestClient(uri, timeout=timeout, retries=retries)  # a session per thread
            location = client.model_version_download_uri(name=version.registered_model.name, version=version.version)
            text = client.artifact_text(f"{location.rstrip('/')}/MLmodel") if location else None
            inputs, outputs = signature_from_mlmodel(text) if text else (None, None)
            return version.pk, inputs, outputs

        with ThreadPoolExecutor(max_workers=SIGNATURE_READERS) as pool:
            results = list(pool.map(read, versions))
        with transaction.atomic():
            for pk, inputs, outputs in results:
                ModelVersion.objects.filter(pk=pk).update(
                    signature_inputs=inputs, signature_outputs=outputs, signature_read=True
                )
