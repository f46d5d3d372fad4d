from django.contrib import admin

from portal.admin_readonly import ReadOnlyAdminMixin
from portal.audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: entries are written by the services, never by hand."""

    list_display = ["at", "actor_name", "action", "target", "result", "source", "address"]
    list_filter = ["result", "source", "action", ("at", admin.DateFieldListFilter)]
    search_fields = ["actor_name", "target", "action", "detail"]
    date_hierarchy = "at"
    list_per_page = 100
    show_full_result_count = False
