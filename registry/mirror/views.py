"""Pages of the MLflow mirror: sync status, experiments, runs, registered models."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from registry import selectors
from registry.errors import MlflowUnavailable, PortalError
from registry.forms import ProjectLinkForm
from registry.live import action_queued, action_refused
from registry.mirror import selectors as mirror_selectors
from registry.mirror import services as mirror_services
from registry.mirror.charts import metric_history_figure
from registry.mirror.runs_table import RunsTablePlan, runs_table_plan
from registry.mlflow_client import MlflowRestClient
from registry.models import Experiment, RegisteredModel, Run


@login_required
@permission_required("registry.view_syncrun", raise_exception=True)
@require_GET
def sync_status(request: HttpRequest) -> HttpResponse:
    status = mirror_selectors.sync_status(mlflow_uri=settings.MLFLOW_TRACKING_URI, user=request.user)
    template = "registry/partials/sync_status.html" if request.GET.get("fragment") else "registry/sync_status.html"
    return render(
        request,
        template,
        {"status": status, "can_sync": request.user.has_perm("registry.sync_mlflow")},
    )


@login_required
@permission_required("registry.sync_mlflow", raise_exception=True)
@require_POST
def sync_now(request: HttpRequest) -> HttpResponse:
    mirror_services.sync_request(user=request.user, full=request.POST.get("full") == "1")
    return action_queued(
        request, message="Sync queued: this page shows its result when it finishes.", redirect_to="registry:sync_status"
    )


def _mlflow_ui(path: str) -> str:
    return f"{settings.MLFLOW_UI_URL}/#/{path}"


@login_required
@permission_required("registry.view_experiment", raise_exception=True)
@require_GET
def experiment_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    show_deleted = request.GET.get("deleted") == "1"
    experiments = mirror_selectors.experiment_list_for(user=request.user, search=search, include_deleted=show_deleted)
    page = Paginator(experiments, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "registry/experiment_list.html",
        {"page": page, "q": search, "show_deleted": show_deleted},
    )


@login_required
@permission_required("registry.view_experiment", raise_exception=True)
@require_GET
def experiment_detail(request: HttpRequest, mlflow_id: str) -> HttpResponse:
    experiment = get_object_or_404(mirror_selectors.experiments_visible_to(user=request.user), mlflow_id=mlflow_id)
    runs = experiment.runs.filter(deleted_at__isnull=True)
    sample = list(runs.order_by("-start_time").values_list("params", "metrics")[:200])
    plan = runs_table_plan(query=dict(request.GET.lists()), sample=sample)
    page = Paginator(plan.apply(runs).only(*RUN_ROW_FIELDS), 50).get_page(request.GET.get("page"))
    rows = [
        {
            "run": run,
            "params": [run.params.get(key, "") for key in plan.params],
            "metrics": [run.metrics.get(key) for key in plan.metrics],
        }
        for run in page
    ]
    sort_links = _sort_links(request, plan)
    return render(
        request,
        "registry/experiment_detail.html",
        {
            "experiment": experiment,
            "page": page,
            "rows": rows,
            "plan": plan,
            "statuses": Run.Status.values,
            "sort_links": sort_links,
            "param_columns": [(key, sort_links[f"params.{key}"]) for key in plan.params],
            "metric_columns": [(key, sort_links[f"metrics.{key}"]) for key in plan.metrics],
            "mlflow_url": _mlflow_ui(f"experiments/{experiment.mlflow_id}"),
            "link_form": _link_form(request, experiment),
            # What the runs API counts now; the page says when the mirror has more (newer-data.js).
            "run_count": mirror_selectors.runs_visible_to(user=request.user).filter(experiment=experiment).count(),
        },
    )


RUN_ROW_FIELDS = ("pk", "run_id", "name", "status", "start_time", "end_time", "user", "params", "metrics", "experiment")


def _sort_links(request: HttpRequest, plan: RunsTablePlan) -> dict[str, dict[str, str]]:
    """For each sortable column: the URL that sorts by it (toggling direction) and the current arrow."""
    links: dict[str, dict[str, str]] = {}
    columns = ["name", "status", "start_time", "user"]
    columns += [f"params.{p}" for p in plan.params] + [f"metrics.{m}" for m in plan.metrics]
    for column in columns:
        query = request.GET.copy()
        current = plan.sort.lstrip("-") == column
        descending = plan.sort.startswith("-")
        query["sort"] = column if current and descending else f"-{column}"
        query.pop("page", None)
        links[column] = {
            "url": f"?{query.urlencode()}",
            "arrow": ("↓" if descending else "↑") if current else "",
            "aria": ("descending" if descending else "ascending") if current else "none",
        }
    return links


def _link_form(request: HttpRequest, obj: Experiment | RegisteredModel) -> ProjectLinkForm | None:
    permission = "registry.change_experiment" if isinstance(obj, Experiment) else "registry.change_registeredmodel"
    if not request.user.has_perm(permission):
        return None
    return ProjectLinkForm(
        projects=mirror_selectors.projects_linkable_by(user=request.user), initial={"project": obj.project_id}
    )


@login_required
@require_POST
def experiment_link(request: HttpRequest, mlflow_id: str) -> HttpResponse:
    experiment = get_object_or_404(mirror_selectors.experiments_visible_to(user=request.user), mlflow_id=mlflow_id)
    return _link(request, experiment)


@login_required
@require_POST
def model_link(request: HttpRequest, name: str) -> HttpResponse:
    model = get_object_or_404(mirror_selectors.registered_models_visible_to(user=request.user), name=name)
    return _link(request, model)


def _link(request: HttpRequest, obj: Experiment | RegisteredModel) -> HttpResponse:
    form = ProjectLinkForm(request.POST, projects=mirror_selectors.projects_linkable_by(user=request.user))
    if not form.is_valid():
        messages.error(request, "Choose one of your projects.")
        return redirect(obj)
    try:
        mirror_services.mirror_object_link(obj=obj, project=form.cleaned_data["project"], user=request.user)
    except PortalError as exc:
        return action_refused(request, error=exc, redirect_to=obj)
    project = form.cleaned_data["project"]
    messages.success(request, f"{obj} is now linked to {project}." if project else f"{obj} is no longer linked.")
    return redirect(obj)


@login_required
@permission_required("registry.view_run", raise_exception=True)
@require_GET
def run_compare(request: HttpRequest) -> HttpResponse:
    run_ids = request.GET.getlist("run")[:10]
    runs = list(mirror_selectors.runs_visible_to(user=request.user).filter(run_id__in=run_ids).order_by("start_time"))
    if len(runs) < 2:
        messages.warning(request, "Select two or more runs to compare.")
        # Back to the experiment the selection was made on (the form says which), where the runs are.
        came_from = mirror_selectors.experiments_visible_to(user=request.user).filter(
            mlflow_id=request.GET.get("experiment", "")
        )
        experiment = runs[0].experiment if runs else came_from.first()
        if experiment is None:
            return redirect("registry:experiment_list")
        return redirect(experiment.get_absolute_url() + "#compare-runs")
    params = sorted({key for run in runs for key in run.params})
    metrics = sorted({key for run in runs for key in run.metrics})
    param_rows = [
        {
            "key": key,
            "values": [run.params.get(key) for run in runs],
            "differs": len({run.params.get(key) for run in runs}) > 1,
        }
        for key in params
    ]
    metric_rows = [
        {
            "key": key,
            "values": [run.metrics.get(key) for run in runs],
            "differs": len({run.metrics.get(key) for run in runs}) > 1,
        }
        for key in metrics
    ]
    charts, chart_error = [], ""
    try:
        histories = {
            run.pk: mirror_services.metric_histories(run=run, keys=[k for k in metrics if k in run.metrics])
            for run in runs
        }
        for key in metrics[:MAX_CHARTS]:
            series = [(str(run), histories[run.pk][key]) for run in runs if key in histories[run.pk]]
            if all(len(points) < 2 for _, points in series):
                continue  # single values are in the table above; a chart of dots adds nothing
            charts.append({"id": f"chart-{len(charts)}", "figure": metric_history_figure(metric=key, series=series)})
    except MlflowUnavailable as exc:
        chart_error = f"Metric histories are not available right now: {exc}"
    return render(
        request,
        "registry/run_compare.html",
        {
            "runs": runs,
            "experiment": runs[0].experiment,
            "param_rows": param_rows,
            "metric_rows": metric_rows,
            "charts": charts,
            "chart_error": chart_error,
        },
    )


MAX_CHARTS = 12


def _page_client() -> MlflowRestClient:
    # A page says "not available" at once rather than retrying: the retries are for the sync.
    return MlflowRestClient(retries=0)


@login_required
@permission_required("registry.view_run", raise_exception=True)
@require_GET
def run_detail(request: HttpRequest, run_id: str) -> HttpResponse:
    run = get_object_or_404(mirror_selectors.runs_visible_to(user=request.user), run_id=run_id)
    versions = run.model_versions.select_related("registered_model").order_by("registered_model__name", "version")
    charts, chart_error = [], ""
    keys = sorted(run.metrics)[:MAX_CHARTS]
    try:
        histories = mirror_services.metric_histories(run=run, keys=keys, client=_page_client())
        for key in keys:
            if len(histories[key]) > 1:  # one point is already in the metrics table
                charts.append(
                    {
                        "id": f"chart-{len(charts)}",
                        "figure": metric_history_figure(metric=key, series=[(str(run), histories[key])]),
                    }
                )
    except MlflowUnavailable as exc:
        chart_error = f"Metric histories are not available right now: {exc}"
    return render(
        request,
        "registry/run_detail.html",
        {
            "run": run,
            "versions": versions,
            "charts": charts,
            "chart_error": chart_error,
            "user_tags": {k: v for k, v in sorted(run.tags.items()) if not k.startswith("mlflow.")},
            "system_tags": {k: v for k, v in sorted(run.tags.items()) if k.startswith("mlflow.")},
            "mlflow_url": _mlflow_ui(f"experiments/{run.experiment.mlflow_id}/runs/{run.run_id}"),
        },
    )


@login_required
@permission_required("registry.view_registeredmodel", raise_exception=True)
@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    page = Paginator(mirror_selectors.model_list_for(user=request.user, search=search), 50).get_page(
        request.GET.get("page")
    )
    return render(request, "registry/model_list.html", {"page": page, "q": search})


@login_required
@permission_required("registry.view_registeredmodel", raise_exception=True)
@require_GET
def model_detail(request: HttpRequest, name: str) -> HttpResponse:
    model = get_object_or_404(mirror_selectors.model_detail_for(user=request.user), name=name)
    versions = list(model.versions.all())
    return render(
        request,
        "registry/model_detail.html",
        {
            "model": model,
            "versions": versions,
            "aliases": sorted(model.aliases.items()),
            "link_form": _link_form(request, model),
            "mlflow_url": _mlflow_ui(f"models/{model.name}"),
        },
    )


@login_required
@require_POST
def project_mirror_link(request: HttpRequest, slug: str) -> HttpResponse:
    """From the project page: link an experiment or a model chosen from the mirror to this project."""
    project = get_object_or_404(selectors.projects_visible_to(user=request.user), slug=slug)
    if mlflow_id := request.POST.get("experiment"):
        obj: Experiment | RegisteredModel = get_object_or_404(
            mirror_selectors.experiments_visible_to(user=request.user), mlflow_id=mlflow_id
        )
    else:
        obj = get_object_or_404(
            mirror_selectors.registered_models_visible_to(user=request.user), name=request.POST.get("model", "")
        )
    try:
        mirror_services.mirror_object_link(obj=obj, project=project, user=request.user)
    except PortalError as exc:
        return action_refused(request, error=exc, redirect_to=project)
    messages.success(request, f"{obj} is now part of {project}.")
    return redirect(project)
