from django.contrib import admin

from monitoring.models import (
    Alert,
    DriftRun,
    InferenceBatch,
    IngestToken,
    Monitor,
    Notification,
    NotificationChannel,
    RetrainEvent,
    RetrainTrigger,
    SchemaMismatch,
)


# Webhook secrets and pipeline auth headers are write-only everywhere: the admin shows whether one is
# set, never its value; they are set on the monitor page or through the API.
@admin.display(boolean=True, description="secret set")
def _secret_set(channel: NotificationChannel) -> bool:
    return bool(channel.secret)


@admin.display(boolean=True, description="auth header set")
def _auth_header_set(trigger: RetrainTrigger) -> bool:
    return bool(trigger.auth_header)


class ChannelInline(admin.TabularInline):
    model = NotificationChannel
    extra = 1
    exclude = ["secret"]
    readonly_fields = [_secret_set]


class RetrainTriggerInline(admin.StackedInline):
    model = RetrainTrigger
    extra = 0
    exclude = ["auth_header"]
    readonly_fields = [_auth_header_set]


@admin.register(Monitor)
class MonitorAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "model_name", "alias", "version", "is_active"]
    list_filter = ["is_active", "project"]
    search_fields = ["name", "model_name"]
    inlines = [ChannelInline, RetrainTriggerInline]


@admin.register(IngestToken)
class IngestTokenAdmin(admin.ModelAdmin):
    """Keys are shown once when minted; the admin sees the prefix and may revoke."""

    list_display = ["prefix", "name", "monitor", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "key_hash", "monitor", "created_by", "created_at", "last_used_at"]


@admin.register(InferenceBatch)
class InferenceBatchAdmin(admin.ModelAdmin):
    list_display = ["id", "monitor", "event_time", "rows", "format", "status"]
    list_filter = ["status", "format"]
    readonly_fields = [f.name for f in InferenceBatch._meta.fields]


@admin.register(DriftRun)
class DriftRunAdmin(admin.ModelAdmin):
    list_display = ["monitor", "window_start", "status", "drifted", "rows", "attempts"]
    list_filter = ["status", "drifted"]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "severity", "status", "occurrences", "created_at"]
    list_filter = ["kind", "severity", "status"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["alert", "channel", "status", "attempts", "last_error", "sent_at"]
    list_filter = ["status"]


@admin.register(SchemaMismatch)
class SchemaMismatchAdmin(admin.ModelAdmin):
    list_display = ["batch", "monitor", "created_at"]


@admin.register(RetrainEvent)
class RetrainEventAdmin(admin.ModelAdmin):
    list_display = ["monitor", "reason", "status", "response_status", "created_at"]
    list_filter = ["status", "reason"]
