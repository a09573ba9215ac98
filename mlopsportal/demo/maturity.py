"""Demo maturity data: the teams' answers to the attested criteria, reviews, a backdated history for
the trend, then a scorecard for every project. Idempotent: a second run changes nothing.

The automatic criteria are not faked: they are scored from what the registry, gate and monitoring
demos put in MLflow and the portal. The answers are chosen so that, with that evidence, Demand
forecasting stays at level 0, Fraud detection reaches level 1 and Churn prediction level 2.
"""

import logging
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from assessments import services
from assessments.errors import PermissionDenied
from assessments.models import AttestedAnswer, Criterion, ScorecardSnapshot
from registry.models import Project

logger = logging.getLogger(__name__)

# project slug -> the level its answers support (the evidence decides the rest)
DEMO_TARGETS = {"churn-prediction": 2, "fraud-detection": 1, "demand-forecasting": 0}
# Answers above the target level: a realistic mix of work in progress.
ABOVE_TARGET = ["partly", "not_met", None, "partly", None, "not_met"]
HISTORY_DAYS = (120, 75, 40, 12)
HISTORY_MARK = "demo-history"


def _answers_load(project: Project, target: int) -> None:
    User = get_user_model()
    engineer = User.objects.filter(username="engineer").first()
    reviewers = list(User.objects.filter(username__in=["reviewer", "manager"]).order_by("-username"))
    if engineer is None:
        return
    answered = set(AttestedAnswer.objects.filter(project=project).values_list("criterion__code", flat=True))
    criteria = Criterion.objects.filter(kind=Criterion.Kind.ATTESTED, active=True).order_by("level", "position")
    for i, criterion in enumerate(criteria):
        if criterion.code in answered:
            continue  # the team's answer stands; a second demo run must not reset its review
        status = "met" if criterion.level <= target else ABOVE_TARGET[i % len(ABOVE_TARGET)]
        if status is None:
            continue
        answer = services.answer_set(
            project=project,
            criterion_code=criterion.code,
            user=engineer,
            status=status,
            evidence_url=f"https://wiki.example.com/{project.slug}/{criterion.code.lower()}",
            note="Demo answer." if status == "met" else "Work in progress, see the linked plan.",
        )
        if status != "met":
            continue
        for reviewer in reviewers:
            try:
                services.answer_review(answer_id=answer.pk, reviewer=reviewer, decision="accepted")
                break
            except PermissionDenied:
                continue  # this reviewer cannot see the (private) project; try the next


def _history_load(project: Project) -> None:
    if ScorecardSnapshot.objects.filter(project=project, fingerprint__startswith=HISTORY_MARK).exists():
        return
    from assessments import selectors

    card = selectors.scorecard_compute(project=project)
    now = timezone.now()
    for step, days in enumerate(HISTORY_DAYS):
        share = (step + 1) / (len(HISTORY_DAYS) + 1)
        snapshot = services.snapshot_from(project=project, card=card, at=now - timedelta(days=days))
        # Earlier states of the project: fewer criteria met, one level lower until recently.
        snapshot.level = max(0, card.level - (1 if step < len(HISTORY_DAYS) - 1 else 0))
        snapshot.overall_percent = round(card.overall_percent * share, 1)
        snapshot.progress_to_next = round(card.progress_to_next * share, 1)
        snapshot.level_percents = {k: round(v * share, 1) for k, v in snapshot.level_percents.items()}
        snapshot.category_percents = {k: round(v * share, 1) for k, v in snapshot.category_percents.items()}
        snapshot.outcomes = {}
        snapshot.fingerprint = f"{HISTORY_MARK}-{step}"
        snapshot.save()


def demo_load() -> None:
    from mlopsportal.demo.evidence import demo_evidence_load

    demo_evidence_load()
    for slug, target in DEMO_TARGETS.items():
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            continue
        with transaction.atomic():
            _answers_load(project, target)
            _history_load(project)
    for project_id in Project.objects.values_list("pk", flat=True):
        services.scorecard_recompute(project_id=project_id)
    for slug, target in DEMO_TARGETS.items():
        latest = ScorecardSnapshot.objects.filter(project__slug=slug).order_by("-computed_at").first()
        if latest is not None and latest.level != target:
            blocking = [c for c, o in latest.outcomes.items() if o["outcome"] not in ("met", "na")]
            logger.warning(
                "Demo project %s is at level %s, not %s; not met: %s", slug, latest.level, target, ", ".join(blocking)
            )
