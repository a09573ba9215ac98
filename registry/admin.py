from django.contrib import admin
from django.http import HttpRequest
from rest_framework.authtoken.models import TokenProxy

from registry.models import ApiToken, AuditEvent, Project, ProjectMembership, SyncRun, WorkerHeartbeat


class MembershipInline(admin.TabularInline):
    model = ProjectMembership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "visibility", "updated_at"]
    list_filter = ["visibility", "team"]
    search_fields = ["name", "team", "description"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["hostname", "last_seen"]
    readonly_fields = ["hostname", "last_seen"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only."""

    list_display = ["at", "action", "actor", "object_type", "object_id", "project"]
    list_filter = ["action", "object_type"]
    search_fields = ["action", "object_id", "summary"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "kind", "status", "duration_ms", "target"]
    list_filter = ["kind", "status"]


# DRF's token admin lists keys in clear; the portal's tokens are hashed and listed by prefix only.
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "created_at", "last_used_at")
    search_fields = ("user__username", "prefix")
    readonly_fields = ("user", "prefix", "key_hash", "created_at", "last_used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a token is made by its user on the profile page, where its key is shown once
