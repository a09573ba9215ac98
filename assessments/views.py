from collections import defaultdict
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from assessments import charts, exports, selectors, services
from assessments.errors import PortalError
from assessments.forms import AnswerForm, PortfolioFilterForm, ReviewForm
from assessments.models import AttestedAnswer, Category
from assessments.scoring.levels import MAX_LEVEL, PROGRESS_RULE
from registry.live import action_refused
from registry.models import Project
from registry.selectors import projects_visible_to

VIEW = "assessments.view_scorecardsnapshot"


def _portfolio_rows(request: HttpRequest, filters: PortfolioFilterForm) -> list[selectors.PortfolioRow]:
    return selectors.portfolio_for(
        user=request.user, team=filters.cleaned_data["team"], level=filters.cleaned_data["level"]
    )


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def portfolio(request: HttpRequest) -> HttpResponse:
    filters = PortfolioFilterForm(request.GET)
    # A refused filter lists nothing and says why, with a 400: the page never guesses what was meant.
    rows = _portfolio_rows(request, filters) if filters.is_valid() else []
    counts = {n: sum(1 for r in rows if r.level == n) for n in range(MAX_LEVEL + 1)}
    unscored = sum(1 for r in rows if r.snapshot is None)
    scored = [r for r in rows if r.snapshot is not None]
    heatmap = charts.portfolio_heatmap(
        [
            (r.project.name, reverse("assessments:scorecard", args=[r.project.slug]), r.snapshot.category_percents)
            for r in scored
        ]
    )
    return render(
        request,
        "assessments/portfolio.html",
        {
            "rows": rows,
            "progress_rule": PROGRESS_RULE,
            "counts": counts,
            "unscored": unscored,
            "heatmap": heatmap,
            "has_scores": bool(scored),
            "categories": [(c.value, c.label) for c in Category],
            "teams": selectors.teams_visible_to(user=request.user),
            "team": filters.cleaned_data.get("team", ""),
            "level": filters.cleaned_data.get("level"),
            "levels": range(MAX_LEVEL + 1),
            "query": request.GET.urlencode(),
            "filter_errors": filters.error_lines(),
        },
        status=400 if filters.errors else 200,
    )


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def portfolio_csv(request: HttpRequest) -> HttpResponse:
    filters = PortfolioFilterForm(request.GET)
    if not filters.is_valid():
        return action_refused(request, error=PortalError(" ".join(filters.error_lines())))
    body = exports.portfolio_csv(_portfolio_rows(request, filters), list(Category.values))
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="portfolio-{timezone.now():%Y-%m-%d}.csv"'
    return response


def _visible_project(request: HttpRequest, slug: str) -> Project:
    # Private projects the user does not belong to are not found, not forbidden: no existence leak.
    return get_object_or_404(projects_visible_to(user=request.user), slug=slug)


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def scorecard(request: HttpRequest, slug: str) -> HttpResponse:
    project = _visible_project(request, slug)
    card = selectors.scorecard_compute(project=project)
    history = list(selectors.snapshot_history(project=project, since=timezone.now() - timedelta(days=365)))
    by_category = defaultdict(list)
    for result in card.results:
        by_category[result.spec.category].append(result)
    category_rows = [
        {
            "label": c.label,
            "percent": card.category_percents[c.value],
            "met": sum(1 for r in by_category[c.value] if r.counts_as_met),
            "half": sum(1 for r in by_category[c.value] if r.applicable and r.weight == 0.5),
            "applicable": sum(1 for r in by_category[c.value] if r.applicable),
            "results": by_category[c.value],
        }
        for c in Category
        if c.value in card.category_percents
    ]
    answers = {a.criterion.code: a for a in AttestedAnswer.objects.filter(project=project).select_related("criterion")}
    return render(
        request,
        "assessments/scorecard.html",
        {
            "project": project,
            "card": card,
            "category_rows": category_rows,
            "category_chart": charts.category_bars(card.category_percents),
            "history_chart": charts.history_lines([(s.computed_at, s.level, s.overall_percent) for s in history])
            if len(history) > 1
            else None,
            "history": history[-10:][::-1],
            "level_changes": list(project.level_changes.all()[:10]),
            "level_bars": [(n, card.level_percents[n]) for n in range(1, MAX_LEVEL + 1)],
            "progress_rule": PROGRESS_RULE,
            "answers": answers,
            "can_answer": selectors.can_answer(user=request.user, project=project),
            "can_review": selectors.can_review(user=request.user, project=project),
            "answer_form": AnswerForm(),
            "review_form": ReviewForm(),
        },
    )


@login_required
@permission_required(VIEW, raise_exception=True)
@require_GET
def scorecard_export(request: HttpRequest, slug: str, fmt: str) -> HttpResponse:
    project = _visible_project(request, slug)
    card = selectors.scorecard_compute(project=project)
    stamp = f"{project.slug}-scorecard-{timezone.now():%Y-%m-%d}"
    if fmt == "csv":
        response = HttpResponse(exports.scorecard_csv(card), content_type="text/csv; charset=utf-8")
    else:
        history = selectors.snapshot_history(project=project)
        response = JsonResponse(exports.scorecard_as_dict(project=project, card=card, history=history))
    response["Content-Disposition"] = f'attachment; filename="{stamp}.{fmt}"'
    return response


def _criterion_url(project: Project, code: str) -> str:
    return f"{reverse('assessments:scorecard', args=[project.slug])}#criterion-{code}"


def _back(project: Project, code: str) -> HttpResponse:
    return redirect(_criterion_url(project, code))


@login_required
@permission_required("assessments.change_attestedanswer", raise_exception=True)
@require_POST
def answer(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    project = _visible_project(request, slug)
    form = AnswerForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return _back(project, code)
    try:
        services.answer_set(project=project, criterion_code=code, user=request.user, **form.cleaned_data)
    except PortalError as error:
        return action_refused(request, error=error, redirect_to=_criterion_url(project, code))
    messages.success(request, f"Answer to {code} saved; it awaits review.")
    return _back(project, code)


@login_required
@permission_required("assessments.review_attestedanswer", raise_exception=True)
@require_POST
def review(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    project = _visible_project(request, slug)
    answer_obj = get_object_or_404(AttestedAnswer, project=project, criterion__code=code)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose accept or challenge.")
        return _back(project, code)
    try:
        services.answer_review(answer_id=answer_obj.pk, reviewer=request.user, **form.cleaned_data)
    except PortalError as error:
        return action_refused(request, error=error, redirect_to=_criterion_url(project, code))
    messages.success(request, f"Answer to {code} {form.cleaned_data['decision']}.")
    return _back(project, code)
