from django.contrib import admin

from portal.cleanup.models import CleanupRun


@admin.register(CleanupRun)
class CleanupRunAdmin(admin.ModelAdmin):
    """Read-only: what each cleanup run found and did."""

    list_display = ["asked_at", "job", "dry_run", "asked_by", "finished_at", "summary"]
    list_filter = ["job", "dry_run"]
    readonly_fields = ["job", "dry_run", "asked_by", "asked_at", "finished_at", "summary", "report"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
