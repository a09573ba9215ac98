"""Maturity assessments: the rubric (criteria), the teams' attested answers and scorecard history."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Category(models.TextChoices):
    EXPERIMENTATION = "experimentation", "Experiment tracking"
    REPRODUCIBILITY = "reproducibility", "Reproducibility"
    VALIDATION = "validation", "Data and model validation"
    REGISTRY = "registry", "Model registry and deployment"
    CONTINUOUS_TRAINING = "continuous_training", "Continuous training"
    CICD = "cicd", "Pipeline CI/CD"
    MONITORING = "monitoring", "Monitoring and alerting"
    FEATURES = "features", "Feature management"
    RELEASE = "release", "Release practices"
    DOCUMENTATION = "documentation", "Documentation"


class Criterion(models.Model):
    """One line of the rubric. Level 0 is where every project starts, so criteria are level 1 or 2."""

    class Level(models.IntegerChoices):
        PIPELINE = 1, "Level 1: automated pipeline, continuous training"
        CICD = 2, "Level 2: CI/CD of the pipeline, closed loop"

    class Kind(models.TextChoices):
        AUTOMATIC = "automatic", "Automatic: the portal checks the evidence"
        ATTESTED = "attested", "Attested: the team answers, a reviewer checks"

    code = models.CharField(max_length=24, unique=True)
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    category = models.CharField(max_length=32, choices=Category.choices)
    title = models.CharField(max_length=200)
    guidance = models.TextField(help_text="What “met” looks like, and how to get there.")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    check_key = models.CharField(
        max_length=64,
        blank=True,
        help_text="For automatic criteria: the key of its check in assessments/scoring/checks/.",
    )
    position = models.PositiveSmallIntegerField(default=0, help_text="Order within the rubric.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["level", "position", "code"]
        verbose_name_plural = "criteria"
        constraints = [
            models.CheckConstraint(condition=Q(level__in=[1, 2]), name="criterion_level_1_or_2"),
            models.CheckConstraint(
                condition=(Q(kind="automatic") & ~Q(check_key="")) | (Q(kind="attested") & Q(check_key="")),
                name="criterion_check_key_iff_automatic",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.title}"


class AnswerStatus(models.TextChoices):
    MET = "met", "Met"
    PARTLY = "partly", "Partly met"
    NOT_MET = "not_met", "Not met"
    NOT_APPLICABLE = "na", "Not applicable"


class ReviewState(models.TextChoices):
    PENDING = "pending", "Awaiting review"
    ACCEPTED = "accepted", "Accepted"
    CHALLENGED = "challenged", "Challenged"


class AttestedAnswer(models.Model):
    """A project's answer to one attested criterion: the latest one counts (history is in the audit)."""

    project = models.ForeignKey("registry.Project", on_delete=models.CASCADE, related_name="attested_answers")
    criterion = models.ForeignKey(Criterion, on_delete=models.CASCADE, related_name="answers")
    status = models.CharField(max_length=8, choices=AnswerStatus.choices)
    evidence_url = models.URLField(max_length=500, blank=True)
    note = models.TextField(blank=True)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    answered_at = models.DateTimeField()
    review_state = models.CharField(max_length=10, choices=ReviewState.choices, default=ReviewState.PENDING)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True)

    class Meta:
        ordering = ["project", "criterion"]
        permissions = [("review_attestedanswer", "Can accept or challenge attested answers")]
        constraints = [
            models.UniqueConstraint(fields=["project", "criterion"], name="one_answer_per_project_and_criterion"),
            models.CheckConstraint(
                condition=Q(review_state="pending") | Q(reviewed_at__isnull=False),
                name="reviewed_answer_has_review_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} / {self.criterion.code}: {self.status}"


class ScorecardSnapshot(models.Model):
    """A project's scorecard at one moment; stored only when it differs from the previous one."""

    project = models.ForeignKey("registry.Project", on_delete=models.CASCADE, related_name="scorecard_snapshots")
    computed_at = models.DateTimeField()
    level = models.PositiveSmallIntegerField()
    overall_percent = models.FloatField()
    progress_to_next = models.FloatField(help_text="Percent of the criteria up to the next level that are met.")
    level_percents = models.JSONField(default=dict, help_text='{"1": 80.0, "2": 25.0}')
    category_percents = models.JSONField(default=dict, help_text='{"monitoring": 50.0, ...}')
    outcomes = models.JSONField(default=dict, help_text="{code: {outcome, stale, summary, links, span}}")
    fingerprint = models.CharField(max_length=64, help_text="Hash of the outcomes: equal means nothing changed.")

    class Meta:
        ordering = ["project", "-computed_at"]
        get_latest_by = "computed_at"
        constraints = [
            models.CheckConstraint(condition=Q(level__gte=0) & Q(level__lte=2), name="snapshot_level_0_to_2"),
        ]
        indexes = [
            # The latest snapshot per project (portfolio, change detection) and the history chart.
            models.Index(fields=["project", "-computed_at"], name="snapshot_project_time"),
        ]

    def __str__(self) -> str:
        return f"{self.project} level {self.level} @ {self.computed_at:%Y-%m-%d %H:%M}"


class LevelChange(models.Model):
    """A project's level moved: stored with the scorecard that moved it and the criteria that
    flipped, so "2 → 0 on 29 Nov" can say why, and a drop can be told to the project's leads."""

    project = models.ForeignKey("registry.Project", on_delete=models.CASCADE, related_name="level_changes")
    snapshot = models.OneToOneField(ScorecardSnapshot, on_delete=models.CASCADE, related_name="level_change")
    at = models.DateTimeField()
    from_level = models.PositiveSmallIntegerField()
    to_level = models.PositiveSmallIntegerField()
    # [{"code", "title", "level", "before", "after", "summary"}]: criteria whose "met" flipped.
    flipped = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-at"]
        constraints = [
            models.CheckConstraint(condition=~Q(from_level=F("to_level")), name="level_change_changes_the_level"),
        ]
        indexes = [
            # The scorecard's level history, newest first.
            models.Index(fields=["project", "-at"], name="level_change_project_time"),
        ]

    def __str__(self) -> str:
        return f"{self.project}: level {self.from_level} → {self.to_level} @ {self.at:%Y-%m-%d %H:%M}"

    @property
    def dropped(self) -> bool:
        return self.to_level < self.from_level

    @property
    def sentence(self) -> str:
        """e.g. "2 → 0 on 29 Nov 07:08: REP-1 Reproducible runs: 17 of 20 runs … carry a git commit"."""
        reasons = "; ".join(f"{c['code']} {c['title']}: {c['summary']}" for c in self.flipped) or "no criterion named"
        return f"{self.from_level} → {self.to_level} on {self.at:%d %b %H:%M}: {reasons}"
