"""Writes: scorecard snapshots, attested answers and their review."""

import logging
import threading
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from assessments import selectors
from assessments.errors import AnswerInvalid, PermissionDenied
from assessments.models import AnswerStatus, AttestedAnswer, Criterion, LevelChange, ReviewState, ScorecardSnapshot
from assessments.scoring.results import CriterionSpec
from assessments.scoring.scorecard import Scorecard
from mlopsportal.dispatch import send_now
from registry.audit import audit_record
from registry.models import Project

logger = logging.getLogger(__name__)


def snapshot_from(*, project: Project, card: Scorecard, at: datetime) -> ScorecardSnapshot:
    return ScorecardSnapshot(
        project=project,
        computed_at=at,
        level=card.level,
        overall_percent=card.overall_percent,
        progress_to_next=card.progress_to_next,
        level_percents={str(k): v for k, v in card.level_percents.items()},
        category_percents=card.category_percents,
        outcomes=card.outcomes_json(),
        fingerprint=card.fingerprint(),
    )


@transaction.atomic
def scorecard_recompute(
    *, project_id: int, now: datetime | None = None, specs: list[CriterionSpec] | None = None
) -> ScorecardSnapshot | None:
    """Score the project now and store a snapshot when the outcome differs from the last one.
    Returns the new snapshot, or None when nothing changed."""
    now = now or timezone.now()
    # The project row lock serialises two recomputations of one project, so a change is stored once.
    project = Project.objects.select_for_update().get(pk=project_id)
    card = selectors.scorecard_compute(project=project, now=now, specs=specs)
    # The summary columns only: the outcomes JSON is read when the level moved and it is needed.
    latest = (
        ScorecardSnapshot.objects.filter(project=project)
        .order_by("-computed_at")
        .values("pk", "fingerprint", "level")
        .first()
    )
    if latest is not None and latest["fingerprint"] == card.fingerprint():
        return None
    snapshot = snapshot_from(project=project, card=card, at=now)
    snapshot.save()
    if latest is not None and latest["level"] != card.level:
        before = ScorecardSnapshot.objects.get(pk=latest["pk"])
        _level_change_record(project=project, before=before, card=card, snapshot=snapshot)
    return snapshot


def _met(outcome: dict[str, object] | None) -> bool:
    return bool(outcome) and outcome["outcome"] == "met" and not outcome.get("stale") and not outcome.get("challenged")


def _level_change_record(
    *, project: Project, before: ScorecardSnapshot, card: Scorecard, snapshot: ScorecardSnapshot
) -> LevelChange:
    """Store the move with the criteria that flipped (met -> not, or back), audit it, and tell the
    project's leads when the level dropped."""
    flipped = [
        {
            "code": r.spec.code,
            "title": r.spec.title,
            "level": r.spec.level,
            "before": str((before.outcomes.get(r.spec.code) or {}).get("outcome", "")),
            "after": r.outcome.value,
            "summary": r.summary,
        }
        for r in card.results
        if r.applicable and _met(before.outcomes.get(r.spec.code)) != r.counts_as_met
    ]
    change = LevelChange.objects.create(
        project=project,
        snapshot=snapshot,
        at=snapshot.computed_at,
        from_level=before.level,
        to_level=card.level,
        flipped=flipped,
    )
    audit_record(
        action="maturity.level_changed",
        actor=None,
        obj=change,
        project=project,
        summary=f"{project} moved from level {before.level} to {card.level}: "
        + (", ".join(c["code"] for c in flipped) or "no criterion named"),
    )
    if change.dropped:
        transaction.on_commit(lambda: _mail_level_drop(change.pk))
    return change


def _mail_level_drop(change_id: int) -> None:
    change = LevelChange.objects.select_related("project").get(pk=change_id)
    leads = [
        m.user.email
        for m in change.project.memberships.filter(role="lead").select_related("user")
        if m.user.email and m.user.is_active
    ]
    if not leads:
        return
    url = f"{settings.PORTAL_BASE_URL}{reverse('assessments:scorecard', args=[change.project.slug])}"
    lines = [f"- {c['code']} {c['title']}: {c['summary']}" for c in change.flipped]
    body = (
        f"{change.project} dropped from level {change.from_level} to {change.to_level} "
        f"on {change.at:%Y-%m-%d %H:%M} UTC. What changed:\n" + "\n".join(lines) + f"\n\nScorecard: {url}\n"
    )
    try:
        send_mail(f"{change.project}: maturity level {change.from_level} → {change.to_level}", body, None, leads)
    except OSError:
        logger.exception("Could not e-mail the leads of %s about its level drop", change.project)


# Projects whose rescoring waits for the current transaction to commit, per thread. Many answers
# saved in one transaction (or a sync touching many runs) queue one task per project, not one each.
_recompute_pending = threading.local()


def _recompute_dispatch_pending() -> None:
    pending = getattr(_recompute_pending, "ids", set())
    _recompute_pending.ids = set()
    for project_id in sorted(pending):
        try:
            send_now("assessments.tasks.scorecard_recompute_task", project_id)
        except OperationalError:
            # The answer is saved; the nightly recomputation stores the snapshot if this one is lost.
            logger.warning("Broker unavailable: scorecard of project %s recomputed at the next nightly run", project_id)


def recompute_after_commit(project_id: int) -> None:
    """Dispatch a recomputation once the current transaction commits (at once outside one)."""
    if not hasattr(_recompute_pending, "ids"):
        _recompute_pending.ids = set()
    _recompute_pending.ids.add(project_id)
    # Registered every time: the first commit hook dispatches the whole set and the others find it
    # empty; ids left by a rolled-back transaction go out with the next commit (rescoring is idempotent).
    transaction.on_commit(_recompute_dispatch_pending)


def scorecards_recompute_for_mirror_change(**_signal_kwargs: object) -> None:
    """The sync changed runs, models or versions: rescore every project that owns some of them.
    (New runs move criteria such as git commits and training cadence, not only answers do.)"""
    project_ids = set(
        Project.objects.filter(Q(experiments__isnull=False) | Q(registered_models__isnull=False)).values_list(
            "pk", flat=True
        )
    )
    for project_id in sorted(project_ids):
        recompute_after_commit(project_id)


@transaction.atomic
def answer_set(
    *,
    project: Project,
    criterion_code: str,
    user: AbstractBaseUser,
    status: str,
    evidence_url: str = "",
    note: str = "",
    now: datetime | None = None,
) -> AttestedAnswer:
    """Record the team's answer to an attested criterion. A new answer awaits review again."""
    if not selectors.can_answer(user=user, project=project):
        raise PermissionDenied("Only the project's engineers, or an admin, can answer its criteria.")
    criterion = Criterion.objects.filter(code=criterion_code, active=True).first()
    if criterion is None:
        raise AnswerInvalid(f"No active criterion {criterion_code}.", fields={"criterion": ["Unknown criterion."]})
    if criterion.kind != Criterion.Kind.ATTESTED:
        raise AnswerInvalid(
            f"{criterion.code} is checked automatically from the evidence; it takes no answer.",
            fields={"criterion": ["Automatic criteria are not answered."]},
        )
    if status not in AnswerStatus.values:
        raise AnswerInvalid(f"Unknown status “{status}”.", fields={"status": ["Choose met, partly, not_met or na."]})
    if status in (AnswerStatus.MET, AnswerStatus.PARTLY) and not evidence_url.strip():
        raise AnswerInvalid(
            "A met or partly met answer needs an evidence link.", fields={"evidence_url": ["Link the evidence."]}
        )
    answer, _ = AttestedAnswer.objects.update_or_create(
        project=project,
        criterion=criterion,
        defaults={
            "status": status,
            "evidence_url": evidence_url.strip(),
            "note": note.strip(),
            "answered_by": user,
            "answered_at": now or timezone.now(),
            "review_state": ReviewState.PENDING,
            "reviewed_by": None,
            "reviewed_at": None,
            "review_comment": "",
        },
    )
    audit_record(
        action="assessment.answered",
        actor=user,
        obj=answer,
        project=project,
        summary=f"{criterion.code} answered {answer.get_status_display().lower()}",
    )
    recompute_after_commit(project.pk)
    return answer


@transaction.atomic
def answer_review(
    *, answer_id: int, reviewer: AbstractBaseUser, decision: str, comment: str = "", now: datetime | None = None
) -> AttestedAnswer:
    """Accept or challenge an answer. A challenge needs a comment saying what is missing."""
    answer = AttestedAnswer.objects.select_for_update().select_related("project", "criterion").get(pk=answer_id)
    if not selectors.can_review(user=reviewer, project=answer.project):
        raise PermissionDenied("Only reviewers and managers can accept or challenge answers.")
    if answer.answered_by_id == reviewer.pk:
        raise PermissionDenied("You cannot review your own answer.")
    if decision not in (ReviewState.ACCEPTED, ReviewState.CHALLENGED):
        raise AnswerInvalid("Decide accepted or challenged.", fields={"decision": ["Choose accepted or challenged."]})
    if decision == ReviewState.CHALLENGED and not comment.strip():
        raise AnswerInvalid("Say what is missing when you challenge an answer.", fields={"comment": ["Required."]})
    answer.review_state = decision
    answer.reviewed_by = reviewer
    answer.reviewed_at = now or timezone.now()
    answer.review_comment = comment.strip()
    answer.save(update_fields=["review_state", "reviewed_by", "reviewed_at", "review_comment"])
    audit_record(
        action=f"assessment.{decision}",
        actor=reviewer,
        obj=answer,
        project=answer.project,
        summary=f"{answer.criterion.code} answer {decision}",
    )
    recompute_after_commit(answer.project_id)
    return answer
