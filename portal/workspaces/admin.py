from django.contrib import admin, messages

from portal.hub.client import HubError
from portal.workspaces import services
from portal.workspaces.models import Template, Workspace


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "image",
        "cpu_default",
        "cpu_max",
        "memory_max",
        "gpus_max",
        "days_to_live",
    ]
    search_fields = ["name", "image"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "owner",
        "state",
        "image",
        "cpu",
        "memory_display",
        "created_at",
        "expires_at",
    ]
    list_filter = ["state", "template"]
    search_fields = ["name", "owner__username"]
    list_select_related = ["owner", "template"]
    readonly_fields = ["state", "message"]
    actions = ["start", "stop"]

    @admin.action(description="Start the selected workspaces")
    def start(self, request, queryset):
        self._each(request, queryset, services.workspace_start)

    @admin.action(description="Stop the selected workspaces")
    def stop(self, request, queryset):
        self._each(request, queryset, services.workspace_stop)

    def _each(self, request, queryset, service):
        for workspace in queryset:
            try:
                service(workspace=workspace)
            except (services.WorkspaceError, HubError) as error:
                messages.error(request, f"{workspace}: {error}")
