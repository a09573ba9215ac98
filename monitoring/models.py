"""Monitors, reference profiles, inference batches, drift results, schema mismatches, alerts,
notification channels and retrain triggers."""

import math

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils.http import urlencode

from monitoring.drift import NO_DATA_WHY


def monitoring_storage() -> Storage:
    """Where raw inference files and reference uploads live (STORAGES["monitoring"])."""
    return storages["monitoring"]


_NAMED_WINDOWS = {3_600: "hourly", 86_400: "daily", 604_800: "weekly"}


def window_words(seconds: int, rows: int | None = None) -> str:
    """A window length as people say it: "daily windows", "6-hour windows", "windows of 10,000 rows"."""
    if rows:
        return f"windows of {rows:,} rows (whole batches)"
    if seconds in _NAMED_WINDOWS:
        return f"{_NAMED_WINDOWS[seconds]} windows"
    for unit, name in ((604_800, "week"), (86_400, "day"), (3_600, "hour"), (60, "minute")):
        if seconds % unit == 0:
            return f"{seconds // unit}-{name} windows"
    return f"{seconds:,}-second windows"


class Monitor(models.Model):
    """Watches one registered model, through an alias (follows promotions) or a pinned version."""

    class Method(models.TextChoices):
        AUTO = "", "Automatic (test on small references, distance on large)"
        KS = "ks", "Kolmogorov-Smirnov p-value"
        WASSERSTEIN = "wasserstein", "Wasserstein / reference std"
        PSI = "psi", "Population stability index"
        JENSEN_SHANNON = "jensen_shannon", "Jensen-Shannon distance"
        KL = "kl", "KL divergence"
        CHI_SQUARE = "chi_square", "Chi-square p-value"

    project = models.ForeignKey("registry.Project", on_delete=models.CASCADE, related_name="monitors")
    name = models.CharField(max_length=120)
    model_name = models.CharField(max_length=255)
    alias = models.CharField(max_length=120, blank=True, default="champion")
    version = models.PositiveIntegerField(null=True, blank=True, help_text="Pinned version; empty follows the alias.")
    # [{"name", "type" (MLflow type: double, float, long, integer, string, boolean, ...), "required"}]
    expected_schema = models.JSONField(default=list, blank=True)
    prediction_column = models.CharField(max_length=120, blank=True)
    label_column = models.CharField(max_length=120, blank=True)
    event_time_column = models.CharField(
        max_length=120, blank=True, help_text="Column holding each row's event time; empty uses the received time."
    )
    numeric_method = models.CharField(max_length=20, choices=Method.choices, blank=True, default=Method.AUTO)
    numeric_threshold = models.FloatField(null=True, blank=True, help_text="Empty uses the method's default.")
    categorical_method = models.CharField(max_length=20, choices=Method.choices, blank=True, default=Method.AUTO)
    categorical_threshold = models.FloatField(null=True, blank=True)
    drift_share = models.FloatField(default=0.5, help_text="Share of drifted features that marks a window drifted.")
    window_seconds = models.PositiveIntegerField(default=86_400, help_text="Window length; 86400 is daily.")
    window_rows = models.PositiveIntegerField(
        null=True, blank=True, help_text="Windows of this many rows (whole batches) instead of time windows."
    )
    volume_drop_below = models.FloatField(default=0.5, help_text="Rows below this share of the trailing median alert.")
    volume_spike_above = models.FloatField(default=2.0)
    require_declared_types = models.BooleanField(
        default=False,
        help_text="JSON and CSV batches must declare their column types (X-Column-Types), so float32 "
        "against float64 is caught as it is for Parquet.",
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project__name", "name"]
        permissions = [
            ("run_drift", "Can run a drift job now"),
            ("trigger_retrain", "Can trigger retraining"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="monitor_name_unique_in_project"),
            models.CheckConstraint(condition=~Q(alias="") | Q(version__isnull=False), name="monitor_alias_or_version"),
            models.CheckConstraint(condition=Q(drift_share__gt=0, drift_share__lte=1), name="monitor_drift_share_0_1"),
            models.CheckConstraint(condition=Q(window_seconds__gte=60), name="monitor_window_at_least_a_minute"),
            models.CheckConstraint(
                condition=Q(window_rows__isnull=True) | Q(window_rows__gte=1), name="monitor_row_window_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("monitoring:monitor_detail", kwargs={"pk": self.pk})

    @property
    def window_rule(self) -> str:
        """The window and the drift rule in words, e.g. "daily windows; a window drifts when 30 % of
        its features drift"."""
        return f"{window_words(self.window_seconds, self.window_rows)}; a window drifts when " + (
            f"{round(self.drift_share * 100):g} % of its features drift"
            if self.drift_share < 1
            else "all of its features drift"
        )

    @property
    def model_ref(self) -> str:
        return f"{self.model_name}/{self.version}" if self.version else f"{self.model_name}@{self.alias}"

    @property
    def feature_names(self) -> list[str]:
        return [str(col["name"]) for col in self.expected_schema if col.get("name")]


class ReferenceProfile(models.Model):
    class Source(models.TextChoices):
        UPLOAD = "upload", "Uploaded file"
        MLFLOW = "mlflow", "MLflow run artifact"

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="references")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.UPLOAD)
    file_name = models.CharField(max_length=500, blank=True, help_text="Path in the monitoring storage.")
    rows = models.PositiveIntegerField()
    # {feature: profile dict (monitoring.profiles)}; the prediction and label columns included.
    profile = models.JSONField()
    is_current = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["monitor"], condition=Q(is_current=True), name="one_current_reference_per_monitor"
            ),
        ]

    def __str__(self) -> str:
        return f"Reference {self.pk} of monitor {self.monitor_id} ({self.rows} rows)"


class IngestToken(models.Model):
    """A serving system's credential for one monitor: shown once, stored as a SHA-256 hash."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="ingest_tokens")
    name = models.CharField(max_length=80, blank=True)
    prefix = models.CharField(max_length=12, help_text="The first characters, to tell tokens apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"


class InferenceBatch(models.Model):
    class Format(models.TextChoices):
        JSON = "json", "JSON records"
        CSV = "csv", "CSV"
        PARQUET = "parquet", "Parquet"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        BINNED = "binned", "Binned"
        FAILED = "failed", "Failed"

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="batches")
    idempotency_key = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField()
    event_time = models.DateTimeField(help_text="Earliest event time in the batch, or the received time.")
    rows = models.PositiveIntegerField()
    columns = models.JSONField(default=list)  # [{"name", "type", "nulls"}] as received
    format = models.CharField(max_length=10, choices=Format.choices)
    file_name = models.CharField(max_length=500, help_text="The raw file, in the monitoring storage.")
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    binned_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-event_time", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["monitor", "idempotency_key"], condition=~Q(idempotency_key=""), name="batch_idempotency_key"
            ),
        ]
        indexes = [
            # A drift job reads the batches of one monitor's window.
            models.Index(fields=["monitor", "event_time"], name="batch_monitor_event_time"),
            # The monitors list reads each monitor's last batch.
            models.Index(fields=["monitor", "received_at"], name="batch_monitor_received_at"),
        ]

    def __str__(self) -> str:
        return f"Batch {self.pk} of monitor {self.monitor_id} ({self.rows} rows)"


class BatchHistogram(models.Model):
    """One feature of one batch, binned against one reference profile."""

    batch = models.ForeignKey(InferenceBatch, on_delete=models.CASCADE, related_name="histograms")
    reference = models.ForeignKey(ReferenceProfile, on_delete=models.CASCADE, related_name="histograms")
    feature = models.CharField(max_length=120)
    histogram = models.JSONField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "reference", "feature"], name="one_histogram_per_batch_feature"),
        ]

    def __str__(self) -> str:
        return f"{self.feature} of batch {self.batch_id}"


class DriftRun(models.Model):
    """One monitor's drift job for one window; re-running the window replaces its results."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Run now"
        COMMAND = "command", "Management command"
        DEMO = "demo", "Demo"

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="drift_runs")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE)
    reference = models.ForeignKey(ReferenceProfile, null=True, blank=True, on_delete=models.SET_NULL)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    rows = models.PositiveIntegerField(default=0)
    batches = models.PositiveIntegerField(default=0)
    drifted = models.BooleanField(default=False)
    drifted_share = models.FloatField(default=0)
    why = models.TextField(blank=True)
    volume = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-window_start"]
        constraints = [
            models.UniqueConstraint(fields=["monitor", "window_start"], name="one_drift_run_per_monitor_window"),
            models.CheckConstraint(condition=Q(window_end__gt=F("window_start")), name="drift_run_window_not_empty"),
        ]

    def __str__(self) -> str:
        return f"Drift of monitor {self.monitor_id} from {self.window_start:%Y-%m-%d %H:%M}"

    @property
    def outcome(self) -> str:
        """What a finished window says: "drifted", "no_drift", or — where nothing could be judged —
        "no_data" (no rows, or no feature had a value) and "no_reference". Only the first two are
        verdicts; pages show the others grey, never as a green "no drift"."""
        if self.status != self.Status.DONE:
            return ""
        if self.reference_id is None:
            return "no_reference"
        if self.rows == 0 or self.why.startswith(NO_DATA_WHY):
            return "no_data"
        return "drifted" if self.drifted else "no_drift"

    @property
    def outcome_label(self) -> str:
        return {
            "drifted": "drifted",
            "no_drift": "no drift",
            "no_data": "no data",
            "no_reference": "no reference yet",
        }.get(self.outcome, self.get_status_display().lower())


class FeatureDriftResult(models.Model):
    run = models.ForeignKey(DriftRun, on_delete=models.CASCADE, related_name="results")
    feature = models.CharField(max_length=120)
    kind = models.CharField(max_length=12)
    role = models.CharField(max_length=12, default="feature")  # feature, prediction or label
    method = models.CharField(max_length=20)
    statistic = models.FloatField()
    p_value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField()
    drifted = models.BooleanField()
    reference_n = models.PositiveIntegerField()
    current_n = models.PositiveIntegerField()
    why = models.TextField()
    scores = models.JSONField(default=dict)

    class Meta:
        ordering = ["feature"]
        constraints = [models.UniqueConstraint(fields=["run", "feature"], name="one_result_per_run_feature")]

    def __str__(self) -> str:
        return f"{self.feature}: {self.method} {self.statistic:.3g}"

    @property
    def score_ratio(self) -> float:
        """How far past its threshold the result is, on one scale for tests and distances (1 = at it)."""
        if self.p_value is not None:
            p = max(self.p_value, 1e-300)
            # log scale: p = threshold gives 1, p = threshold^2 gives 2
            return math.log(p) / math.log(self.threshold) if 0 < self.threshold < 1 else 0.0
        return self.statistic / self.threshold if self.threshold else 0.0


class SchemaMismatch(models.Model):
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="schema_mismatches")
    batch = models.OneToOneField(InferenceBatch, on_delete=models.CASCADE, related_name="schema_mismatch")
    # [{"column", "change", "expected", "received", "detail"}], in reading order
    diffs = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Schema mismatch in batch {self.batch_id}"

    @property
    def summary(self) -> str:
        return "; ".join(d["detail"] for d in self.diffs)


class Alert(models.Model):
    class Kind(models.TextChoices):
        FEATURE_DRIFT = "feature_drift", "Feature drift"
        WINDOW_DRIFT = "window_drift", "Window drift"
        SCHEMA_MISMATCH = "schema_mismatch", "Schema mismatch"
        VOLUME = "volume", "Volume anomaly"
        STORAGE = "storage", "Batch storage"

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"
        MUTED = "muted", "Muted"

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    feature = models.CharField(max_length=120, blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    # A window alert names the columns that drifted in it (inputs first, then the prediction and label
    # columns), so one alert per window says what a per-feature alert each used to.
    drifted_features = models.JSONField(default=list, blank=True)
    dedupe_key = models.CharField(max_length=300, unique=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.OPEN)
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True)
    run = models.ForeignKey(DriftRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    batch = models.ForeignKey(InferenceBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    muted_until = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    occurrences = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="muted") | Q(muted_until__isnull=False), name="muted_alert_has_an_end"
            ),
        ]
        indexes = [
            # The alerts page and the monitors list filter open alerts by monitor.
            models.Index(fields=["monitor", "status"], name="alert_monitor_status"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        """The evidence: the monitor's drift view at the window (and feature) the alert is about, or
        its schema view at the batch."""
        if self.run_id:
            feature = self.feature or (self.drifted_features[0] if self.drifted_features else "")
            query = {"run": self.run_id, **({"feature": feature} if feature else {})}
            return reverse("monitoring:monitor_drift", kwargs={"pk": self.monitor_id}) + "?" + urlencode(query)
        if self.batch_id:
            return reverse("monitoring:monitor_schema", kwargs={"pk": self.monitor_id}) + f"#batch-{self.batch_id}"
        return self.monitor.get_absolute_url()

    @property
    def feature_links(self) -> list[tuple[str, str]]:
        """Each drifted feature with the drift view at this alert's window and that feature."""
        base = reverse("monitoring:monitor_drift", kwargs={"pk": self.monitor_id})
        run = {"run": self.run_id} if self.run_id else {}
        return [(name, f"{base}?{urlencode({**run, 'feature': name})}") for name in self.drifted_features]


class NotificationChannel(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="channels")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    target = models.TextField(help_text="Comma-separated e-mail addresses, or the webhook URL.")
    secret = models.CharField(max_length=200, blank=True, help_text="Webhook HMAC-SHA256 secret.")
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(target=""), name="channel_has_a_target"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.target}"


class Notification(models.Model):
    """One alert sent through one channel: retried, and its failures visible."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notifications")
    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE, related_name="notifications")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["alert", "channel"], name="one_notification_per_channel")]

    def __str__(self) -> str:
        return f"{self.channel} for alert {self.alert_id}: {self.status}"


class RetrainTrigger(models.Model):
    class Preset(models.TextChoices):
        GENERIC = "generic", "Generic JSON"
        KUBEFLOW = "kubeflow", "Kubeflow Pipelines run creation"

    monitor = models.OneToOneField(Monitor, on_delete=models.CASCADE, related_name="retrain_trigger")
    url = models.URLField(max_length=500)
    preset = models.CharField(max_length=10, choices=Preset.choices, default=Preset.GENERIC)
    # Kubeflow: {"pipeline_id", "pipeline_version_id", "experiment_id"}; sent as the run's pipeline_version_reference
    options = models.JSONField(default=dict, blank=True)
    auth_header = models.CharField(max_length=500, blank=True, help_text="Sent as the Authorization header.")
    on_drift = models.BooleanField(default=True, help_text="Trigger when a window drifts.")
    cooldown_hours = models.PositiveIntegerField(default=24)
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.preset} trigger to {self.url}"


class RetrainEvent(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    class Reason(models.TextChoices):
        DRIFT = "drift", "Window drifted"
        MANUAL = "manual", "Button"

    trigger = models.ForeignKey(RetrainTrigger, on_delete=models.CASCADE, related_name="events")
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="retrain_events")
    run = models.ForeignKey(DriftRun, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.CharField(max_length=10, choices=Reason.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Retrain {self.pk} of monitor {self.monitor_id}: {self.status}"


class ShadowEvaluation(models.Model):
    """A candidate version and the alias's current holder run on a sample of the rows production
    sent to one of the model's monitors (monitoring/shadow/evaluations.py). A fact about two versions and that
    traffic: the gate's "shadow" check reads the latest one for the versions it is asked about."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Could not run"

    model_name = models.CharField(max_length=255)
    alias = models.CharField(max_length=255)
    candidate_version = models.PositiveIntegerField()
    holder_version = models.PositiveIntegerField(null=True, blank=True)  # null: nothing holds the alias
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="shadow_evaluations")
    # The request that asked for it, if any (a reviewer's "Run again" names one too).
    request = models.ForeignKey(
        "registry.PromotionRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # {"rows", "batches", "days", "from", "to", "days_back", "max_rows"}: what was replayed
    sample = models.JSONField(default=dict, blank=True)
    results = models.JSONField(default=dict, blank=True)  # see monitoring/shadow/evaluations.py shadow_results
    error = models.TextField(blank=True)  # why it could not run (the portal's side, not the model's)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # A second request for the same comparison joins the replay already on its way. Two
            # constraints, as NULL (no holder) is never equal to NULL in a unique index.
            models.UniqueConstraint(
                fields=["model_name", "candidate_version", "holder_version", "monitor"],
                condition=Q(status__in=["queued", "running"], holder_version__isnull=False),
                name="one_open_shadow_evaluation",
            ),
            models.UniqueConstraint(
                fields=["model_name", "candidate_version", "monitor"],
                condition=Q(status__in=["queued", "running"], holder_version__isnull=True),
                name="one_open_shadow_evaluation_no_holder",
            ),
        ]
        indexes = [
            models.Index(fields=["model_name", "candidate_version", "-created_at"], name="shadow_model_candidate"),
        ]

    def __str__(self) -> str:
        holder = f"v{self.holder_version}" if self.holder_version else "no holder"
        return f"Shadow evaluation of {self.model_name} v{self.candidate_version} against {holder}"

    def get_absolute_url(self) -> str:
        return reverse("monitoring:shadow_detail", kwargs={"pk": self.pk})

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)
