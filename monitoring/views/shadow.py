"""Shadow evaluation pages: one evaluation in full, and "Run again" from a request's review page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from monitoring import selectors
from monitoring.shadow import evaluations as shadow
from monitoring.shadow.charts import shadow_figures
from registry.access import member_may, model_named
from registry.errors import PermissionDenied, PortalError
from registry.live import action_queued, action_refused, wants_json


@login_required
@permission_required("monitoring.view_monitor", raise_exception=True)
@require_GET
def shadow_detail(request: HttpRequest, pk: int) -> HttpResponse:
    evaluation = get_object_or_404(selectors.shadow_evaluations_visible_to(user=request.user), pk=pk)
    results = evaluation.results or {}
    figures = shadow_figures(results)
    feature_names = sorted({name for row in results.get("disagreements", []) for name in row["inputs"]})
    return render(
        request,
        "monitoring/shadow_detail.html",
        {
            "evaluation": evaluation,
            "results": results,
            "candidate": results.get("candidate") or {},
            "holder": results.get("holder") or {},
            "figures": figures,
            "figure_scripts": [(f"fig-{name}", figure) for name, figure in figures.items()],
            "comparison": shadow.comparison_words(results, evaluation=evaluation),
            "feature_names": feature_names,
            "disagreements": [
                {**row, "values": [row["inputs"].get(name) for name in feature_names]}
                for row in results.get("disagreements", [])
            ],
            "request_url": reverse("registry:promotion_detail", kwargs={"pk": evaluation.request_id})
            if evaluation.request_id
            else "",
        },
    )


@login_required
@require_POST
def shadow_run(request: HttpRequest) -> HttpResponse:
    """Replays a candidate against the alias's holder now, on the model's production traffic."""
    name = request.POST.get("model", "")
    registered_model = model_named(user=request.user, name=name)
    if registered_model is None:
        raise Http404
    back = request.POST.get("next") or reverse("registry:promotion_queue")
    back = back if back.startswith("/") and not back.startswith("//") else reverse("registry:promotion_queue")
    try:
        version, alias = int(request.POST.get("version", "")), request.POST.get("alias", "").strip()
        if not alias:
            raise ValueError("no alias")
        # Whoever may decide the model's requests (reviewers who can see it) or make them (its engineers).
        allowed = request.user.has_perm(shadow.DECIDE_PERMISSION) or member_may(
            user=request.user, project=registered_model.project, permission=shadow.REQUEST_PERMISSION
        )
        if not allowed:
            refusal = PermissionDenied(
                "Only reviewers and the engineers of the model's project run shadow evaluations."
            )
            if wants_json(request):  # the review page's script shows the message in place
                return action_refused(request, error=refusal, redirect_to=back)
            raise DjangoPermissionDenied(refusal.message)
        if not registered_model.versions.filter(version=version, deleted_at__isnull=True).exists():
            raise PortalError(f"{name} has no version {version}.", fields={"version": ["Unknown version."]})
        holder = (registered_model.aliases or {}).get(alias)
        evaluation = shadow.shadow_evaluation_queue(
            model_name=registered_model.name,
            alias=alias,
            candidate_version=version,
            holder_version=int(holder) if holder is not None else None,
            requested_by=request.user,
        )
    except ValueError:
        return action_refused(request, error=PortalError("Name a version number and an alias."), redirect_to=back)
    except PortalError as error:
        return action_refused(request, error=error, redirect_to=back)
    if evaluation is None:
        return action_refused(
            request,
            error=PortalError(f"No monitor of {name} recorded production traffic to replay."),
            redirect_to=back,
        )
    return action_queued(
        request, message=f"Replaying v{version} on “{evaluation.monitor.name}”'s traffic.", redirect_to=back
    )
