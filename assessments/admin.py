from django.contrib import admin

from assessments.models import AttestedAnswer, Criterion, ScorecardSnapshot


@admin.register(Criterion)
class CriterionAdmin(admin.ModelAdmin):
    list_display = ["code", "level", "category", "kind", "title", "active"]
    list_filter = ["level", "category", "kind", "active"]
    search_fields = ["code", "title", "guidance"]
    ordering = ["level", "position", "code"]


@admin.register(AttestedAnswer)
class AttestedAnswerAdmin(admin.ModelAdmin):
    list_display = ["project", "criterion", "status", "review_state", "answered_by", "answered_at"]
    list_filter = ["status", "review_state", "criterion__category"]
    search_fields = ["project__name", "criterion__code", "note"]
    raw_id_fields = ["project", "criterion", "answered_by", "reviewed_by"]


@admin.register(ScorecardSnapshot)
class ScorecardSnapshotAdmin(admin.ModelAdmin):
    list_display = ["project", "computed_at", "level", "overall_percent"]
    list_filter = ["level"]
    readonly_fields = [f.name for f in ScorecardSnapshot._meta.fields]
