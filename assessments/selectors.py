"""Reads: live scorecards, the portfolio from stored snapshots, and who may do what."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from assessments.evidence_sources import project_evidence
from assessments.models import AttestedAnswer, Criterion, ScorecardSnapshot
from assessments.scoring.results import AnswerFact, CriterionSpec
from assessments.scoring.scorecard import Scorecard, score
from registry.access import member_may
from registry.models import Project
from registry.selectors import projects_visible_to


def criteria_active() -> QuerySet[Criterion]:
    return Criterion.objects.filter(active=True).order_by("level", "position", "code")


def criterion_specs(criteria: QuerySet[Criterion] | None = None) -> list[CriterionSpec]:
    return [
        CriterionSpec(
            code=c.code,
            level=c.level,
            category=c.category,
            title=c.title,
            kind=c.kind,
            check_key=c.check_key,
            guidance=c.guidance,
            position=c.position,
        )
        for c in (criteria if criteria is not None else criteria_active())
    ]


def answer_facts_for(*, project: Project) -> dict[str, AnswerFact]:
    answers = AttestedAnswer.objects.filter(project=project).select_related("criterion", "answered_by", "reviewed_by")
    return {
        a.criterion.code: AnswerFact(
            status=a.status,
            answered_at=a.answered_at,
            review_state=a.review_state,
            evidence_url=a.evidence_url,
            note=a.note,
            answered_by=a.answered_by.get_username() if a.answered_by else "",
            review_comment=a.review_comment,
            reviewed_by=a.reviewed_by.get_username() if a.reviewed_by else "",
        )
        for a in answers
    }


def scorecard_compute(
    *, project: Project, now: datetime | None = None, specs: list[CriterionSpec] | None = None
) -> Scorecard:
    """The project's scorecard from the evidence and answers as they are now."""
    now = now or timezone.now()
    return score(
        criteria=specs if specs is not None else criterion_specs(),
        evidence=project_evidence(project=project, now=now, window=settings.ASSESSMENTS_EVIDENCE_WINDOW),
        answers=answer_facts_for(project=project),
        now=now,
        stale_after=settings.ASSESSMENTS_ANSWER_MAX_AGE,
    )


def snapshot_latest(*, project: Project) -> ScorecardSnapshot | None:
    return ScorecardSnapshot.objects.filter(project=project).order_by("-computed_at").first()


def snapshot_history(*, project: Project, since: datetime | None = None) -> QuerySet[ScorecardSnapshot]:
    history = ScorecardSnapshot.objects.filter(project=project).order_by("computed_at")
    return history.filter(computed_at__gte=since) if since else history


def _snapshot_at(moment: datetime | None = None) -> Subquery:
    """The id of the project's latest snapshot at a moment (now when None)."""
    rows = ScorecardSnapshot.objects.filter(project=OuterRef("pk"))
    if moment is not None:
        rows = rows.filter(computed_at__lte=moment)
    return Subquery(rows.order_by("-computed_at").values("pk")[:1])


@dataclass(frozen=True)
class PortfolioRow:
    project: Project
    snapshot: ScorecardSnapshot | None
    then_30: ScorecardSnapshot | None
    then_90: ScorecardSnapshot | None

    @property
    def level(self) -> int | None:
        return self.snapshot.level if self.snapshot else None

    def _delta(self, then: ScorecardSnapshot | None) -> float | None:
        if self.snapshot is None or then is None:
            return None
        return round(self.snapshot.overall_percent - then.overall_percent, 1)

    @property
    def trend_30(self) -> float | None:
        return self._delta(self.then_30)

    @property
    def trend_90(self) -> float | None:
        return self._delta(self.then_90)

    def _level_change(self, then: ScorecardSnapshot | None) -> int | None:
        return None if self.snapshot is None or then is None else self.snapshot.level - then.level

    @property
    def level_change_30(self) -> int | None:
        return self._level_change(self.then_30)

    @property
    def level_change_90(self) -> int | None:
        return self._level_change(self.then_90)


def portfolio_for(
    *, user: AbstractBaseUser | AnonymousUser, team: str = "", level: int | None = None, now: datetime | None = None
) -> list[PortfolioRow]:
    """Every project the user may see with its latest scorecard and those of 30 and 90 days ago:
    one query for the projects with three snapshot ids, one for the snapshots."""
    now = now or timezone.now()
    projects = (
        projects_visible_to(user=user)
        .annotate(
            snap_now=_snapshot_at(),
            snap_30=_snapshot_at(now - timedelta(days=30)),
            snap_90=_snapshot_at(now - timedelta(days=90)),
        )
        .order_by("name")
    )
    if team:
        projects = projects.filter(team=team)
    projects = list(projects)
    ids = {i for p in projects for i in (p.snap_now, p.snap_30, p.snap_90) if i}
    # The per-criterion outcomes (with evidence links) are the bulk of a snapshot; the portfolio
    # needs only the summary columns.
    snapshots = ScorecardSnapshot.objects.defer("outcomes").in_bulk(ids) if ids else {}
    rows = [
        PortfolioRow(
            project=p,
            snapshot=snapshots.get(p.snap_now),
            then_30=snapshots.get(p.snap_30),
            then_90=snapshots.get(p.snap_90),
        )
        for p in projects
    ]
    if level is not None:
        rows = [r for r in rows if r.level == level]
    return rows


def teams_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> list[str]:
    teams = projects_visible_to(user=user).exclude(team="").values_list("team", flat=True).distinct()
    return sorted(set(teams))


def can_answer(*, user: AbstractBaseUser | AnonymousUser, project: Project) -> bool:
    """Engineers answer for the projects they belong to; admins for any."""
    return member_may(user=user, project=project, permission="assessments.change_attestedanswer")


def can_review(*, user: AbstractBaseUser | AnonymousUser, project: Project) -> bool:
    """Reviewers and managers who may see the project accept or challenge its answers."""
    if not user.is_authenticated or not user.has_perm("assessments.review_attestedanswer"):
        return False
    return projects_visible_to(user=user).filter(pk=project.pk).exists()
