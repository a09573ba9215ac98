from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse


class Project(models.Model):
    """A team's ML project: what managers score and what groups experiments, models and monitors."""

    class Visibility(models.TextChoices):
        INTERNAL = "internal", "Internal: every signed-in user"
        PRIVATE = "private", "Private: members only"

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    team = models.CharField(max_length=80, blank=True, help_text="The team that owns the project.")
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.INTERNAL)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="ProjectMembership", related_name="projects")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        # What makes an administrator (registry/access.py): held by the Admin role and superusers.
        permissions = [("oversee_all_projects", "See and act on every project, private ones included")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("registry:project_detail", kwargs={"slug": self.slug})


class ProjectMembership(models.Model):
    class Role(models.TextChoices):
        LEAD = "lead", "Lead"
        MEMBER = "member", "Member"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["role", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user_and_project"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class WorkerHeartbeat(models.Model):
    """Last time each Celery worker ran the beat-scheduled heartbeat: proof that beat, the
    broker and a worker are all alive, which a broker ping alone cannot show."""

    hostname = models.CharField(max_length=255, unique=True)
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["-last_seen"]
        constraints = [
            models.CheckConstraint(condition=~Q(hostname=""), name="heartbeat_hostname_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.last_seen:%Y-%m-%d %H:%M:%S}"


# --- The mirror of MLflow. MLflow stays the source of truth; these rows are a queryable cache.
# Timestamps are aware UTC datetimes. deleted_at null = alive; things deleted in MLflow are marked,
# never dropped, so history (audits, promotions, monitors) keeps its references.


class Experiment(models.Model):
    class Lifecycle(models.TextChoices):
        ACTIVE = "active", "Active"
        DELETED = "deleted", "Deleted"

    mlflow_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=500)
    lifecycle_stage = models.CharField(max_length=10, choices=Lifecycle.choices, default=Lifecycle.ACTIVE)
    artifact_location = models.CharField(max_length=1000, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="experiments")
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["name"], name="experiment_name_idx")]  # list search and order

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("registry:experiment_detail", kwargs={"mlflow_id": self.mlflow_id})


class Run(models.Model):
    class Status(models.TextChoices):
        RUNNING = "RUNNING", "Running"
        SCHEDULED = "SCHEDULED", "Scheduled"
        FINISHED = "FINISHED", "Finished"
        FAILED = "FAILED", "Failed"
        KILLED = "KILLED", "Killed"

    run_id = models.CharField(max_length=64, unique=True)
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="runs")
    name = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    lifecycle_stage = models.CharField(max_length=10, default="active")
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    user = models.CharField(max_length=255, blank=True)
    artifact_uri = models.CharField(max_length=1000, blank=True)
    params = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)  # latest value per metric key
    metric_steps = models.JSONField(default=dict, blank=True)  # key -> step of the latest value
    tags = models.JSONField(default=dict, blank=True)
    source_name = models.CharField(max_length=1000, blank=True)
    source_type = models.CharField(max_length=20, blank=True)
    git_commit = models.CharField(max_length=64, blank=True)
    datasets = models.JSONField(default=list, blank=True)
    logged_models = models.JSONField(default=list, blank=True)  # [{model_id, name, artifact_path}]
    deleted_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-start_time"]
        indexes = [
            # experiment page: runs of one experiment, newest first
            models.Index(fields=["experiment", "-start_time"], name="run_experiment_start_idx"),
        ]

    def __str__(self) -> str:
        return self.name or self.run_id

    def get_absolute_url(self) -> str:
        return reverse("registry:run_detail", kwargs={"run_id": self.run_id})


class RegisteredModel(models.Model):
    name = models.CharField(max_length=500, unique=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    aliases = models.JSONField(default=dict, blank=True)  # alias -> version (int)
    created_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="registered_models"
    )
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("registry:model_detail", kwargs={"name": self.name})


class _RunLink(models.ForeignKey):
    """ModelVersion has both `run_id` (MLflow's run id, a string: the contract other apps use) and
    `run` (the mirrored Run). A plain FK would claim the `run_id` attribute; this one stores its
    key in `run_pk` instead."""

    def get_attname(self) -> str:
        return f"{self.name}_pk"


class ModelVersion(models.Model):
    registered_model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    run_id = models.CharField(max_length=64, blank=True)
    run = _RunLink(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions")
    model_id = models.CharField(max_length=64, blank=True)  # MLflow 3 logged model, when there is one
    status = models.CharField(max_length=30, blank=True)
    source = models.CharField(max_length=1000, blank=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    aliases = models.JSONField(default=list, blank=True)
    # [{"name": str | None, "type": str, "required": bool}], or null when the model has no signature
    signature_inputs = models.JSONField(null=True, blank=True)
    signature_outputs = models.JSONField(null=True, blank=True)
    signature_read = models.BooleanField(default=False)  # the MLmodel file was read (once: it never changes)
    created_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["registered_model", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["registered_model", "version"], name="one_version_number_per_model"),
        ]

    def __str__(self) -> str:
        return f"{self.registered_model.name} v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("registry:model_detail", kwargs={"name": self.registered_model.name}) + f"#v{self.version}"


class MetricHistory(models.Model):
    """A run's metric history, fetched from MLflow when a page first needs it and kept until the run
    changes (the sync drops the cache of a run whose metrics moved)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metric_histories")
    key = models.CharField(max_length=250)
    points = models.JSONField(default=list)  # [[step, timestamp_ms, value], ...] by step
    fetched_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="one_history_per_run_metric")]

    def __str__(self) -> str:
        return f"{self.key} of {self.run_id}"


class SyncRun(models.Model):
    """One pass of the sync. At most one is running at a time (the database enforces it): that row
    is the sync lock, visible on the status page."""

    class Kind(models.TextChoices):
        INCREMENTAL = "incremental", "Incremental"
        FULL = "full", "Full reconcile"
        MODEL = "model", "One model (webhook)"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped: another sync was running"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    target = models.CharField(max_length=500, blank=True)  # the model name of a targeted sync
    mlflow_uri = models.CharField(max_length=1000, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # {"experiments": {"created": n, "updated": n, "deleted": n}, "runs": {...}, ...}
    counts = models.JSONField(default=dict, blank=True)
    # Incremental watermark: the newest run start/end time (ms, MLflow's clock) seen by this sync.
    runs_watermark_ms = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-started_at"]
        permissions = [("sync_mlflow", "Can start an MLflow sync now")]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="running"), name="one_sync_running_at_a_time"
            ),
        ]
        indexes = [
            # status page and watermark: the latest sync of each kind and status
            models.Index(fields=["kind", "status", "-started_at"], name="syncrun_kind_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} sync {self.started_at:%Y-%m-%d %H:%M:%S} ({self.status})"


class WebhookDelivery(models.Model):
    """A webhook delivery accepted from MLflow, kept so a replayed delivery id is refused."""

    delivery_id = models.CharField(max_length=200, unique=True)
    event = models.CharField(max_length=100)
    model_name = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.event} {self.delivery_id}"


class ApiToken(models.Model):
    """A user's API token (`Authorization: Token <key>`), stored as a hash; the key is shown once."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token")
    prefix = models.CharField(max_length=12, help_text="The key's first characters, to recognise it by.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class AuditEvent(models.Model):
    """The append-only audit log every app writes to through registry.audit.audit_record."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # PROTECT, not SET_NULL: the log never forgets who acted or where, and on PostgreSQL its
    # append-only trigger would refuse the UPDATE anyway. Deactivate a user instead of deleting them.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=255, blank=True)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events")
    summary = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    # What the object looked like before and after the action, and where the action came from.
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=100, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            # an object's history: "what happened to this model version"
            models.Index(fields=["object_type", "object_id", "-at"], name="audit_object_idx"),
            models.Index(fields=["action", "-at"], name="audit_action_idx"),
        ]
        constraints = [models.CheckConstraint(condition=~Q(action=""), name="audit_action_not_empty")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.object_type}:{self.object_id}"
