"""The promotion gate's data: policies, requests, reviewers' decisions, the outbox and gate alerts.

Invariants live in the database as well as in the services (requests.py, decisions.py, outbox.py): one open
request per version and alias, one decision per reviewer, no decision by the requester, exactly one
outbox row per request.
"""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import F, Q, Value
from django.urls import reverse

from registry.models import ModelVersion, RegisteredModel
from registry.promotions.checks import METRIC_DIRECTION_CHOICES, MetricDirection


def default_governed_aliases() -> list[str]:
    return ["champion", "production"]


class PromotionPolicy(models.Model):
    """The rules of the gate for one registered model, or the default for all (registered_model null)."""

    registered_model = models.OneToOneField(
        RegisteredModel, null=True, blank=True, on_delete=models.CASCADE, related_name="promotion_policy"
    )
    governed_aliases = models.JSONField(
        default=default_governed_aliases, help_text="Aliases that move only through the gate."
    )
    approvals_required = models.PositiveSmallIntegerField(default=1)
    # Empty approver lists mean: any user with the Reviewer permission who can see the project.
    approver_users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    approver_group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    metric_name = models.CharField(max_length=250, blank=True, help_text="Empty: no metric check.")
    metric_direction = models.CharField(
        max_length=6, choices=METRIC_DIRECTION_CHOICES, default=MetricDirection.HIGHER_IS_BETTER
    )
    metric_tolerance = models.FloatField(default=0.0)
    signature_check = models.BooleanField(default=True)
    drift_check = models.BooleanField(default=True)
    # The shadow evaluation: candidate and holder replayed on the rows production sent to the
    # model's monitor (monitoring/shadow/evaluations.py). Shares are 0-1.
    shadow_check = models.BooleanField(default=True)
    shadow_max_rejected_share = models.FloatField(
        default=0.0, help_text="Share of production rows the candidate may refuse (0: none)."
    )
    shadow_max_disagreement = models.FloatField(
        default=0.1, help_text="Share of production rows on which the candidate may predict another class."
    )
    maturity_min_level = models.PositiveSmallIntegerField(null=True, blank=True)
    allow_override = models.BooleanField(
        default=False, help_text="A reviewer may approve despite failed checks, with a written reason."
    )
    rollback_single_approval = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            # At most one default policy: the constant is the same on every default row, so a second
            # default is a duplicate (a unique index on an expression with a condition, which SQLite
            # and PostgreSQL both enforce). Policies of a model are unique by their one-to-one field.
            models.UniqueConstraint(
                Value(True),
                condition=Q(registered_model__isnull=True),
                name="one_default_policy",
                violation_error_message="There is already a default policy: edit it instead of adding another.",
            ),
            models.CheckConstraint(condition=Q(approvals_required__gte=1), name="policy_needs_an_approval"),
            models.CheckConstraint(condition=Q(metric_tolerance__gte=0), name="policy_tolerance_not_negative"),
            models.CheckConstraint(
                condition=Q(shadow_max_rejected_share__gte=0, shadow_max_rejected_share__lte=1)
                & Q(shadow_max_disagreement__gte=0, shadow_max_disagreement__lte=1),
                name="policy_shadow_shares_0_1",
            ),
        ]

    def __str__(self) -> str:
        return f"Policy for {self.registered_model.name}" if self.registered_model_id else "Default policy"


class PromotionState(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    PROMOTING = "promoting", "Promoting"
    PROMOTED = "promoted", "Promoted"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"
    SUPERSEDED = "superseded", "Superseded"


OPEN_STATES = (PromotionState.PENDING, PromotionState.APPROVED, PromotionState.PROMOTING)


STATE_BADGES = {
    PromotionState.PENDING: "badge-warn",
    PromotionState.APPROVED: "badge-internal",
    PromotionState.PROMOTING: "badge-internal",
    PromotionState.PROMOTED: "badge-ok",
    PromotionState.REJECTED: "badge-bad",
    PromotionState.FAILED: "badge-bad",
}


class PromotionRequest(models.Model):
    State = PromotionState

    registered_model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="promotion_requests")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="promotion_requests")
    target_alias = models.CharField(max_length=255)
    # What the request is about, as it was at creation: a later change in MLflow makes it stale.
    version = models.PositiveIntegerField()
    run_id = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=1000, blank=True)
    signature_inputs = models.JSONField(null=True, blank=True)
    holder_version = models.PositiveIntegerField(null=True, blank=True)  # where the alias pointed at creation
    is_rollback = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=PromotionState.choices, default=PromotionState.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    justification = models.TextField()
    checks = models.JSONField(default=list, blank=True)  # [CheckOutcome.as_dict()]
    checks_passed = models.BooleanField(default=True)
    approvals_required = models.PositiveSmallIntegerField(default=1)
    override_reason = models.TextField(blank=True)  # set when approved despite failed checks
    reason = models.TextField(blank=True)  # why it was rejected, failed or superseded
    attempts = models.PositiveSmallIntegerField(default=0)  # calls to MLflow by the promote task
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        permissions = [("decide_promotionrequest", "Can approve or reject promotion requests")]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "target_alias"],
                condition=Q(state__in=[s.value for s in OPEN_STATES]),
                name="one_open_request_per_version_alias",
            ),
            models.CheckConstraint(
                condition=Q(state="pending") | Q(decided_at__isnull=False) | Q(state="superseded"),
                name="decided_request_has_decision_time",
            ),
            models.CheckConstraint(condition=~Q(justification=""), name="request_has_justification"),
            models.CheckConstraint(condition=Q(approvals_required__gte=1), name="request_needs_an_approval"),
        ]
        indexes = [
            # the queue: pending requests, oldest first
            models.Index(fields=["state", "created_at"], name="promotion_state_created_idx"),
            # supersede and bypass checks: requests for one model and alias
            models.Index(fields=["registered_model", "target_alias", "state"], name="promotion_model_alias_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.registered_model.name} v{self.version} → @{self.target_alias} ({self.state})"

    def get_absolute_url(self) -> str:
        return reverse("registry:promotion_detail", kwargs={"pk": self.pk})

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def overridden(self) -> bool:
        return bool(self.override_reason)

    @property
    def badge(self) -> str:
        """The portal.css badge class for the state."""
        return STATE_BADGES.get(self.state, "")


class PromotionDecision(models.Model):
    class Verdict(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"

    request = models.ForeignKey(PromotionRequest, on_delete=models.CASCADE, related_name="decisions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # A copy of the request's requester, so the database itself can refuse self-approval.
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verdict = models.CharField(max_length=7, choices=Verdict.choices)
    comment = models.TextField(blank=True)
    override_reason = models.TextField(blank=True)
    # The policy's checks evaluated again inside the decision's transaction, on the facts of that
    # moment: what the reviewer actually decided on (the request keeps its request-time snapshot).
    checks = models.JSONField(default=list, blank=True)
    checks_passed = models.BooleanField(null=True)  # null: decided before checks were re-run
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["request", "reviewer"], name="one_decision_per_reviewer"),
            models.CheckConstraint(condition=~Q(reviewer=F("requester")), name="requester_cannot_decide"),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} {self.verdict}s request {self.request_id}"


class PromotionOutbox(models.Model):
    """Written in the approval's transaction: the promise that a task will move the alias. The
    sweeper re-dispatches rows a crash left unprocessed."""

    request = models.OneToOneField(PromotionRequest, on_delete=models.CASCADE, related_name="outbox")
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            # the sweeper: rows not processed yet
            models.Index(fields=["created_at"], condition=Q(processed_at__isnull=True), name="outbox_unprocessed_idx")
        ]

    def __str__(self) -> str:
        return f"Outbox row of request {self.request_id}"


class GateAlert(models.Model):
    """Something the gate raises for people to look at: an alias moved around the gate, a failed promotion."""

    class Kind(models.TextChoices):
        BYPASS = "bypass", "Alias moved outside the gate"
        PROMOTION_FAILED = "promotion_failed", "Promotion failed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    registered_model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="gate_alerts")
    alias = models.CharField(max_length=255)
    old_version = models.PositiveIntegerField(null=True, blank=True)
    new_version = models.PositiveIntegerField(null=True, blank=True)
    request = models.ForeignKey(PromotionRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # the queue page: open alerts, newest first
            models.Index(fields=["-created_at"], condition=Q(resolved_at__isnull=True), name="gatealert_open_idx")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.registered_model.name}@{self.alias}"
