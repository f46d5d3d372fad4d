import functools

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.timesince import timeuntil

from lib.resources import RESOURCE_OPTIONS
from portal.admin_deletes import ServiceDeleteMixin
from portal.admin_inlines import InlinesThroughServices
from portal.admin_readonly import ReadOnlyAdminMixin
from portal.errors import ServiceError
from portal.pools import services as pool_services
from portal.pools.models import PoolSchedule
from portal.workspaces import services, workspace_templates
from portal.workspaces.models import SyncPass, Workspace, WorkspaceTemplate


class TemplateForm(forms.ModelForm):
    def _post_clean(self):
        super()._post_clean()
        try:
            workspace_templates.template_check(self.instance)
        except ServiceError as error:
            self.add_error(None, error.message)


class PoolScheduleInline(admin.TabularInline):
    model = PoolSchedule
    extra = 0
    verbose_name_plural = "warm pool schedules (a larger pool at set hours)"


@admin.register(WorkspaceTemplate)
class TemplateAdmin(InlinesThroughServices, admin.ModelAdmin):
    """Saves and deletes go through the template services (checked, audited), its pool's
    schedules through the pools' (``schedules_save``)."""

    form = TemplateForm
    inlines = [PoolScheduleInline]
    inline_savers = {PoolSchedule: pool_services.schedules_save}
    list_display = [
        "name",
        "is_default",
        "image",
        "cpu_default",
        "cpu_max",
        "memory_max",
        "gpus_max",
        "days_to_live_default",
        "days_to_live_max",
        "pool_size",
        "open_to",
    ]
    list_filter = ["is_default", "groups"]
    search_fields = ["name", "image", "description"]
    filter_horizontal = ["groups"]

    @admin.display(description="groups")
    def open_to(self, template: WorkspaceTemplate) -> str:
        return ", ".join(group.name for group in template.groups.all()) or "everyone"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    def save_model(self, request, obj, form, change):
        # Checked in the form already; the groups follow in the admin's save_related.
        workspace_templates.template_save(template=obj, by=request.user)

    def delete_model(self, request, obj):
        try:
            workspace_templates.template_delete(template=obj, by=request.user)
        except ServiceError as error:
            messages.error(request, error.message)
            request.mlhub_delete_refused = True

    def response_delete(self, request, obj_display, obj_id):
        if getattr(request, "mlhub_delete_refused", False):
            return HttpResponseRedirect(request.path.rsplit("/delete/", 1)[0] + "/change/")
        return super().response_delete(request, obj_display, obj_id)


class ExtendForm(forms.Form):
    days = forms.IntegerField(
        min_value=1, max_value=36500, help_text="They expire this many days from now."
    )


class ExpiringSoonFilter(admin.SimpleListFilter):
    """Those within ``MLHUB_EXPIRY_WARNING_HOURS`` of their expiry; hidden when that is 0."""

    title = "expiring soon"
    parameter_name = "expiring_soon"

    def lookups(self, request, model_admin):
        hours = settings.EXPIRY_WARNING_HOURS
        return [("yes", f"Within {hours} hour{'s' if hours != 1 else ''}")] if hours else []

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.expiring_soon()
        return queryset


@admin.register(Workspace)
class WorkspaceAdmin(ServiceDeleteMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "owner",
        "template",
        "state",
        "image",
        "cpu",
        "memory_display",
        "created_at",
        "expires_at",
        "time_left",
        "expiring_soon",
        "synced_at",
    ]
    list_filter = [
        "state",
        "template",
        ExpiringSoonFilter,
        ("deleting_since", admin.EmptyFieldListFilter),
    ]
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
    actions = ["start", "stop", "extend", "delete_with_resources"]

    @admin.display(description="time left", ordering="expires_at")
    def time_left(self, workspace: Workspace) -> str:
        left = workspace.time_left
        if left is None:
            return "never expires"
        return "expired" if not left else timeuntil(workspace.expires_at)

    @admin.display(description="expiring soon", boolean=True)
    def expiring_soon(self, workspace: Workspace) -> bool:
        return workspace.expiring_soon

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        # With the warnings off nothing is ever expiring soon: no column of crosses.
        if settings.EXPIRY_WARNING_HOURS:
            return shown
        return [column for column in shown if column != "expiring_soon"]

    def add_view(self, request, form_url="", extra_context=None):
        # Created where it is checked against the template and started: the portal's own
        # create form, whose "For" field admins use (or the API's "owner").
        return HttpResponseRedirect(reverse("my-workspaces") + "#new-workspace")

    def delete_service(self, request, obj) -> None:
        services.workspace_delete(workspace=obj, by=request.user)

    def delete_each(self, request, queryset) -> int:
        """Each marked through the service, then one task removes them all from the hub."""
        deleted, failed = services.workspaces_delete_each(workspaces=queryset, by=request.user)
        for workspace, error in failed:
            self.not_deleted(request, workspace, error)
        return len(deleted)

    @admin.action(description="Start the selected workspaces")
    def start(self, request, queryset):
        self._later(request, queryset, "start")

    @admin.action(description="Stop the selected workspaces")
    def stop(self, request, queryset):
        self._later(request, queryset, "stop")

    @admin.action(description="Extend the selected workspaces")
    def extend(self, request, queryset):
        """A page asks how many days, then each is extended (admins beyond the maximum)."""
        form = ExtendForm(request.POST if "confirm" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Extend workspaces",
                "workspaces": queryset,
                "form": form,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/workspaces/workspace/extend.html", context)
        days = form.cleaned_data["days"]
        self._each(request, queryset, functools.partial(services.workspace_extend, days=days))
        return None

    def _each(self, request, queryset, service):
        """A change of the portal's rows only (no hub call): each at once, refusals shown."""
        for workspace in queryset:
            try:
                service(workspace=workspace, by=request.user)
            except ServiceError as error:
                messages.error(request, f"{workspace}: {error}")

    def _later(self, request, queryset, action: str) -> None:
        """Many hub calls: a task makes them, the page answers at once."""
        try:
            count = services.workspaces_act_later(
                action=action, workspaces=queryset, by=request.user
            )
        except ServiceError as error:
            messages.error(request, str(error))
            return
        messages.info(
            request,
            f"Asked to {action} {count} workspace{'s' if count != 1 else ''} in the background: "
            "their states follow in this list; a refusal (quota, state) is in the audit log.",
        )


@admin.register(SyncPass)
class SyncPassAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The last comparison with the hub, read-only: when, how many calls, what it corrected."""

    list_display = ["started_at", "finished_at", "hub_calls", "corrected", "unknown_servers"]
