from django.contrib import admin

from portal.admin_readonly import ReadOnlyAdminMixin
from portal.cleanup.models import CleanupRun


@admin.register(CleanupRun)
class CleanupRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: what each cleanup run found and did."""

    deletable = True
    list_display = ["asked_at", "job", "dry_run", "asked_by", "finished_at", "summary"]
    list_filter = ["job", "dry_run"]
    readonly_fields = ["job", "dry_run", "asked_by", "asked_at", "finished_at", "summary", "report"]
