"""Usage is written by the portal alone: admins read it here, nobody edits it."""

from django.contrib import admin

from portal.admin_readonly import ReadOnlyAdminMixin
from portal.usage.models import RollupPass, SamplePass, UsageDay, UsageInterval, UsageMonth


@admin.register(UsageInterval)
class UsageIntervalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "owner_name",
        "workspace_name",
        "template_name",
        "cpu",
        "memory",
        "gpus",
        "started_at",
        "ended_at",
        "ended_how",
        "cpu_used_seconds",
        "memory_peak",
    ]
    list_filter = ["ended_how", "template_name", ("started_at", admin.DateFieldListFilter)]
    search_fields = ["owner_name", "workspace_name", "template_name", "groups__name"]
    date_hierarchy = "started_at"
    list_per_page = 100
    show_full_result_count = False


@admin.register(UsageDay)
class UsageDayAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "day",
        "kind",
        "key",
        "cpu_hours",
        "cpu_used_hours",
        "memory_gib_hours",
        "gpu_hours",
        "runs",
    ]
    list_filter = ["kind", ("day", admin.DateFieldListFilter)]
    search_fields = ["key"]
    date_hierarchy = "day"
    list_per_page = 100
    show_full_result_count = False


@admin.register(UsageMonth)
class UsageMonthAdmin(UsageDayAdmin):
    list_display = ["month", *UsageDayAdmin.list_display[1:]]
    list_filter = ["kind", ("month", admin.DateFieldListFilter)]
    date_hierarchy = "month"


@admin.register(RollupPass)
class RollupPassAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["mark", "finished_at", "days"]


@admin.register(SamplePass)
class SamplePassAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["finished_at", "sampled", "seconds", "unavailable"]
