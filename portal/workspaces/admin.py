from django.contrib import admin, messages

from portal.admin_deletes import ServiceDeleteMixin
from portal.hub.client import HubError
from portal.workspaces import services
from portal.workspaces.models import SyncPass, Template, Workspace
from spawners.resources import RESOURCE_OPTIONS


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
class WorkspaceAdmin(ServiceDeleteMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "owner",
        "state",
        "image",
        "cpu",
        "memory_display",
        "created_at",
        "expires_at",
        "synced_at",
    ]
    list_filter = ["state", "template", ("deleting_since", admin.EmptyFieldListFilter)]
    search_fields = ["name", "owner__username"]
    list_select_related = ["owner", "template"]
    list_per_page = 100
    # A filtered or searched page skips the second count(*), the one over every workspace
    # (20,000 rows); it says "Show all" instead of "(20,000 total)".
    show_full_result_count = False
    # Only the expiry is edited here; resources are fixed at creation (API or page), where
    # they are checked against the template and the hub starts the server.
    fields = [
        "owner",
        "name",
        "template",
        "state",
        "message",
        *RESOURCE_OPTIONS,
        "created_at",
        "expires_at",
        "synced_at",
        "deleting_since",
    ]
    readonly_fields = [f for f in fields if f != "expires_at"]
    actions = ["start", "stop", "delete_with_resources"]

    def has_add_permission(self, request) -> bool:
        return False  # create through the API (owner=...) or the page: both start it

    def delete_service(self, request, obj) -> None:
        services.workspace_delete(workspace=obj, by=request.user)

    @admin.action(description="Start the selected workspaces")
    def start(self, request, queryset):
        self._each(request, queryset, services.workspace_start)

    @admin.action(description="Stop the selected workspaces")
    def stop(self, request, queryset):
        self._each(request, queryset, services.workspace_stop)

    def _each(self, request, queryset, service):
        for workspace in queryset:
            try:
                service(workspace=workspace, by=request.user)
            except (services.WorkspaceError, HubError) as error:
                messages.error(request, f"{workspace}: {error}")


@admin.register(SyncPass)
class SyncPassAdmin(admin.ModelAdmin):
    """The last comparison with the hub, read-only: when, how many calls, what it corrected."""

    list_display = ["started_at", "finished_at", "hub_calls", "corrected", "unknown_servers"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
