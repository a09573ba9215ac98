from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from registry import selectors, services
from registry.errors import PermissionDenied, PortalError
from registry.forms import ProjectForm
from registry.health import health_report
from registry.live import action_refused
from registry.mirror import selectors as mirror_selectors
from registry.models import ApiToken, Project, ProjectMembership
from registry.project_sections import project_sections_for
from registry.promotions.models import PromotionState
from registry.promotions.selectors import promotions_visible_to
from registry.roles import ROLE_DEFINITIONS, home_url_name_for, roles_of


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Public on purpose: load balancers and `make run` poll it without credentials. It names the
    parts and their state, nothing about users or data."""
    checks = health_report()
    healthy = all(check.ok for check in checks if check.critical)
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": {c.name: c.as_dict() for c in checks}},
        status=200 if healthy else 503,
    )


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return redirect(home_url_name_for(request.user))


@login_required
@permission_required("registry.view_project", raise_exception=True)
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    projects = selectors.project_list_for(user=request.user)
    team = request.GET.get("team", "")
    if team:
        projects = projects.filter(team=team)
    page = Paginator(projects, 25).get_page(request.GET.get("page"))
    teams = selectors.projects_visible_to(user=request.user).exclude(team="").values_list("team", flat=True).distinct()
    return render(
        request,
        "registry/project_list.html",
        {
            "page": page,
            "teams": sorted(set(teams)),
            "team": team,
            "can_add": request.user.has_perm("registry.add_project"),
        },
    )


# How many pending promotions the project page names before linking to the queue.
PENDING_SHOWN = 5


@login_required
@permission_required("registry.view_project", raise_exception=True)
@require_GET
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_object_or_404(selectors.project_list_for(user=request.user), slug=slug)
    pending = promotions_visible_to(user=request.user).filter(
        registered_model__project=project, state=PromotionState.PENDING
    )
    pending_shown = list(pending.order_by("created_at", "pk")[:PENDING_SHOWN])
    return render(
        request,
        "registry/project_detail.html",
        {
            "project": project,
            "can_edit": selectors.project_editable_by(project=project, user=request.user),
            "mirror": mirror_selectors.project_mirror(project=project, user=request.user),
            # What the other apps show here (maturity, monitors and alerts): see project_sections.py.
            "sections": project_sections_for(project=project, user=request.user),
            "pending_promotions": pending_shown,
            "pending_count": pending.count() if len(pending_shown) == PENDING_SHOWN else len(pending_shown),
        },
    )


def _form_initial(project: Project) -> dict[str, object]:
    by_role = {role: [m.user for m in project.memberships.all() if m.role == role] for role in ProjectMembership.Role}
    return {
        "name": project.name,
        "description": project.description,
        "team": project.team,
        "visibility": project.visibility,
        "leads": by_role[ProjectMembership.Role.LEAD],
        "members": by_role[ProjectMembership.Role.MEMBER],
    }


def _apply_errors(form: ProjectForm, error: PortalError) -> None:
    for field, problems in error.fields.items():
        for problem in problems:
            form.add_error(field if field in form.fields else None, problem)
    if not error.fields:
        form.add_error(None, error.message)


@login_required
@permission_required("registry.add_project", raise_exception=True)
@require_http_methods(["GET", "POST"])
def project_create(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(creator=request.user, **form.cleaned_data)
        except PermissionDenied as error:
            return action_refused(request, error=error)
        except PortalError as error:  # shown on the form, with what was typed, to correct
            _apply_errors(form, error)
        else:
            messages.success(request, f"Project “{project.name}” created.")
            return redirect(project)
    return render(
        request, "registry/project_form.html", {"form": form, "project": None}, status=400 if form.errors else 200
    )


@login_required
@permission_required("registry.change_project", raise_exception=True)
@require_http_methods(["GET", "POST"])
def project_edit(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_object_or_404(selectors.project_list_for(user=request.user), slug=slug)
    if not selectors.project_editable_by(project=project, user=request.user):
        return action_refused(request, error=PermissionDenied("Only the project's members can edit it."))
    form = ProjectForm(request.POST or None, initial=_form_initial(project))
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_update(project_id=project.pk, editor=request.user, **form.cleaned_data)
        except PermissionDenied as error:
            return action_refused(request, error=error)
        except PortalError as error:  # shown on the form, with what was typed, to correct
            _apply_errors(form, error)
        else:
            messages.success(request, "Project saved.")
            return redirect(project)
    return render(
        request, "registry/project_form.html", {"form": form, "project": project}, status=400 if form.errors else 200
    )


def _render_profile(request: HttpRequest, *, new_token: str | None) -> HttpResponse:
    return render(
        request,
        "registry/profile.html",
        {
            "roles": [ROLE_DEFINITIONS[role] for role in roles_of(request.user)],
            "token": ApiToken.objects.filter(user=request.user).first(),
            "new_token": new_token,
            "memberships": ProjectMembership.objects.filter(user=request.user).select_related("project"),
        },
    )


@login_required
@require_GET
def profile(request: HttpRequest) -> HttpResponse:
    """Every signed-in user: who they are, their roles, and their API token."""
    return _render_profile(request, new_token=None)


@login_required
@require_POST
def api_token_rotate(request: HttpRequest) -> HttpResponse:
    """Every signed-in user may mint their own token; the old one stops working at once."""
    key = services.api_token_rotate(user=request.user)
    messages.success(request, "New API token created. Copy it now: it is stored hashed and shown only this once.")
    return _render_profile(request, new_token=key)
