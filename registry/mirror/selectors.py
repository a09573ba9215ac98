"""Reads of the MLflow mirror. Every list hides the objects of private projects from non-members and
carries the joins its page needs, so pages do a fixed number of queries whatever the row count."""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Exists, Max, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Greatest

from registry.access import model_name_usable, projects_joined_by, visible_through_project
from registry.models import Experiment, ModelVersion, Project, RegisteredModel, Run, SyncRun


def _visible(user: AbstractBaseUser | AnonymousUser, project_path: str = "project") -> Q:
    return visible_through_project(user=user, project_path=project_path)


def experiments_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Experiment]:
    if not user.is_authenticated:
        return Experiment.objects.none()
    return Experiment.objects.filter(_visible(user)).select_related("project")


def experiment_list_for(
    *, user: AbstractBaseUser | AnonymousUser, search: str = "", include_deleted: bool = False
) -> QuerySet[Experiment]:
    """Experiments with their run count and last activity (newest run start or end), newest first."""
    runs = Run.objects.filter(experiment=OuterRef("pk"), deleted_at__isnull=True).order_by().values("experiment")
    experiments = experiments_visible_to(user=user)
    if not include_deleted:
        experiments = experiments.filter(deleted_at__isnull=True)
    if search:
        experiments = experiments.filter(name__icontains=search)
    return experiments.annotate(
        run_count=Subquery(runs.annotate(n=Count("*")).values("n")[:1]),
        last_run_activity=Subquery(runs.annotate(t=Max(Greatest("start_time", "end_time"))).values("t")[:1]),
    ).order_by("name")


def runs_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Run]:
    if not user.is_authenticated:
        return Run.objects.none()
    return Run.objects.filter(_visible(user, "experiment__project")).select_related("experiment__project")


def registered_models_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[RegisteredModel]:
    if not user.is_authenticated:
        return RegisteredModel.objects.none()
    return RegisteredModel.objects.filter(_visible(user)).select_related("project")


def model_list_for(*, user: AbstractBaseUser | AnonymousUser, search: str = "") -> QuerySet[RegisteredModel]:
    versions = (
        ModelVersion.objects.filter(registered_model=OuterRef("pk"), deleted_at__isnull=True)
        .order_by()
        .values("registered_model")
        .annotate(n=Count("*"))
        .values("n")[:1]
    )
    models = registered_models_visible_to(user=user).filter(deleted_at__isnull=True)
    if search:
        models = models.filter(name__icontains=search)
    return models.annotate(version_count=Subquery(versions)).order_by("name")


def model_detail_for(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[RegisteredModel]:
    versions = ModelVersion.objects.select_related("run__experiment").order_by("-version")
    return registered_models_visible_to(user=user).prefetch_related(Prefetch("versions", queryset=versions))


def versions_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[ModelVersion]:
    if not user.is_authenticated:
        return ModelVersion.objects.none()
    return ModelVersion.objects.filter(_visible(user, "registered_model__project")).select_related(
        "registered_model", "run__experiment"
    )


def projects_linkable_by(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Project]:
    """Projects a user may link experiments and models to: admins any, engineers their own."""
    return projects_joined_by(user=user)


@dataclass(frozen=True)
class ProjectMirror:
    experiments: list[Experiment]
    models: list[RegisteredModel]
    # What the user may link here (None: they may not link): unlinked experiments and models.
    linkable_experiments: list[Experiment] | None
    linkable_models: list[RegisteredModel] | None


def project_mirror(*, project: Project, user: AbstractBaseUser | AnonymousUser) -> ProjectMirror:
    """The project's experiments and models, and for engineers of the project the mirror's unlinked
    ones to choose from."""
    may_link = projects_linkable_by(user=user).filter(pk=project.pk).exists()
    experiments = Experiment.objects.filter(deleted_at__isnull=True).order_by("name")
    models = RegisteredModel.objects.filter(deleted_at__isnull=True).order_by("name")
    return ProjectMirror(
        experiments=list(experiments.filter(project=project)),
        models=list(models.filter(project=project)),
        linkable_experiments=list(experiments.filter(project__isnull=True)[:500])
        if may_link and user.has_perm("registry.change_experiment")
        else None,
        linkable_models=list(models.filter(project__isnull=True)[:500])
        if may_link and user.has_perm("registry.change_registeredmodel")
        else None,
    )


@dataclass(frozen=True)
class SyncStatus:
    mlflow_uri: str
    running: SyncRun | None
    last_incremental: SyncRun | None
    last_full: SyncRun | None
    # A current error: the newest failed pass that no later pass of the same scope has made good
    # (None once one has). Failures made good show as recovered_failure, with the pass that did it.
    last_failure: SyncRun | None
    recent: list[SyncRun]
    recovered_failure: SyncRun | None = None
    recovered_by: SyncRun | None = None

    @property
    def latest_id(self) -> int:
        return self.recent[0].pk if self.recent else 0


PRIVATE_TARGET = "a model you cannot see"


def _hide_private_target(sync: SyncRun | None, *, user: AbstractBaseUser | AnonymousUser) -> SyncRun | None:
    """A targeted sync names its model (and its error may too): a model of a private project the
    user is not in is not named to them."""
    if sync is not None and sync.target and not model_name_usable(user=user, name=sync.target):
        sync.error = sync.error.replace(sync.target, PRIVATE_TARGET)
        sync.target = PRIVATE_TARGET
    return sync


# A failed pass of this kind is made good by a later successful pass of one of these kinds (a
# model's pass also by a later pass of the same model): a full reconcile covers everything, an
# incremental pass what an incremental or a one-model pass reads.
_COVERED_BY = {
    SyncRun.Kind.FULL: (SyncRun.Kind.FULL,),
    SyncRun.Kind.INCREMENTAL: (SyncRun.Kind.INCREMENTAL, SyncRun.Kind.FULL),
    SyncRun.Kind.MODEL: (SyncRun.Kind.INCREMENTAL, SyncRun.Kind.FULL),
}


def _made_good_by(failure: SyncRun) -> QuerySet[SyncRun]:
    """The successful passes, started after `failure`, that cover its scope (oldest first)."""
    scope = Q(kind__in=_COVERED_BY[failure.kind])
    if failure.kind == SyncRun.Kind.MODEL:
        scope |= Q(kind=SyncRun.Kind.MODEL, target=failure.target)
    return SyncRun.objects.filter(scope, status=SyncRun.Status.SUCCEEDED, started_at__gt=failure.started_at).order_by(
        "started_at", "pk"
    )


def _current_failure() -> SyncRun | None:
    """The newest failed pass no later pass of its scope succeeded after, in a fixed number of
    queries however many failures an outage left."""
    ok = SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED)
    last_ok_full = ok.filter(kind=SyncRun.Kind.FULL).order_by("-started_at").values_list("started_at", flat=True)
    last_ok = ok.filter(kind__in=[SyncRun.Kind.INCREMENTAL, SyncRun.Kind.FULL]).order_by("-started_at")
    full_at, any_at = last_ok_full.first(), last_ok.values_list("started_at", flat=True).first()
    model_ok_since = ok.filter(
        kind=SyncRun.Kind.MODEL, target=OuterRef("target"), started_at__gt=OuterRef("started_at")
    )

    def after(moment: object) -> Q:
        return Q(started_at__gt=moment) if moment is not None else Q()

    current = (
        Q(kind=SyncRun.Kind.FULL) & after(full_at)
        | Q(kind=SyncRun.Kind.INCREMENTAL) & after(any_at)
        | Q(kind=SyncRun.Kind.MODEL) & after(any_at) & ~Q(Exists(model_ok_since))
    )
    return SyncRun.objects.filter(current, status=SyncRun.Status.FAILED).order_by("-started_at", "-pk").first()


def sync_status(*, mlflow_uri: str, user: AbstractBaseUser | AnonymousUser) -> SyncStatus:
    recent = list(SyncRun.objects.select_related("requested_by").order_by("-started_at", "-pk")[:10])
    finished = [SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED]

    def last(**filters: object) -> SyncRun | None:
        found = SyncRun.objects.filter(**filters).order_by("-started_at", "-pk").first()
        return _hide_private_target(found, user=user)

    current = _current_failure()
    # No current error: the newest failure, if any, was made good; say by which pass.
    recovered = recovered_by = None
    if current is None:
        recovered = SyncRun.objects.filter(status=SyncRun.Status.FAILED).order_by("-started_at", "-pk").first()
        recovered_by = _made_good_by(recovered).first() if recovered is not None else None
    return SyncStatus(
        mlflow_uri=mlflow_uri,
        running=next((s for s in recent if s.status == SyncRun.Status.RUNNING), None),
        last_incremental=last(kind=SyncRun.Kind.INCREMENTAL, status__in=finished),
        last_full=last(kind=SyncRun.Kind.FULL, status__in=finished),
        last_failure=_hide_private_target(current, user=user),
        recent=[_hide_private_target(sync, user=user) for sync in recent],
        recovered_failure=_hide_private_target(recovered, user=user),
        recovered_by=_hide_private_target(recovered_by, user=user),
    )
