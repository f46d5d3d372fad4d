from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.template.response import TemplateResponse

from portal.accounts import allowlist, services
from portal.accounts.models import AllowListEntry, User
from portal.admin_deletes import ServiceDeleteMixin
from portal.admin_inlines import InlinesThroughServices
from portal.budgets.admin import BudgetInline
from portal.budgets.limits import budget_summary
from portal.errors import ServiceError
from portal.quotas.admin import LIMIT_SAVERS, QuotaInline
from portal.quotas.limits import quota_summary
from portal.workspaces.models import Workspace


class RejectForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Shown to them when they log in. Leave empty to give no reason.",
    )


@admin.register(User)
class UserAdmin(InlinesThroughServices, ServiceDeleteMixin, DjangoUserAdmin):
    inline_savers = LIMIT_SAVERS
    list_display = [
        "username",
        "email",
        "approval",
        "is_staff",
        "is_active",
        "workspace_count",
        "running_count",
        "date_joined",
    ]
    list_filter = ["approval", "login_provider", "is_staff", "is_active"]
    search_fields = ["username", "email"]
    list_per_page = 100
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("Approval", {"fields": ["approval", "approved_at", "rejection_reason"]}),
        ("Login", {"fields": ["login_provider", "provider_groups"]}),
        ("Quota", {"fields": ["quota_use"]}),
        ("Budget", {"fields": ["budget_use"]}),
    ]

    def get_queryset(self, request):
        alive = Q(workspaces__state__in=Workspace.ALIVE, workspaces__deleting_since=None)
        return (
            super()
            .get_queryset(request)
            .annotate(
                workspace_total=Count("workspaces", filter=Q(workspaces__deleting_since=None)),
                running_total=Count("workspaces", filter=alive),
            )
        )

    @admin.display(description="workspaces", ordering="workspace_total")
    def workspace_count(self, user) -> int:
        return user.workspace_total

    @admin.display(description="running", ordering="running_total")
    def running_count(self, user) -> int:
        return user.running_total

    @admin.display(description="use / limit")
    def quota_use(self, user) -> str:
        if not user.pk:
            return "-"
        return "; ".join(f"{label}: {text}" for label, text in quota_summary(user))

    @admin.display(description="use / budget")
    def budget_use(self, user) -> str:
        if not user.pk:
            return "-"
        return "; ".join(f"{label}: {text}" for label, text in budget_summary(user))

    readonly_fields = ["approved_at", "quota_use", "budget_use", "provider_groups"]
    inlines = [QuotaInline, BudgetInline]
    actions = ["approve", "reject", "unlock_login", "delete_with_resources"]

    def delete_service(self, request, obj) -> None:
        services.user_delete(user=obj, by=request.user)

    def save_model(self, request, obj, form, change):
        if change:
            # Rejected or deactivated in the form: the hub must follow (docs/security.md).
            services.user_update(user=obj, by=request.user)
        else:
            super().save_model(request, obj, form, change)

    @admin.action(description="Reject the selected people (stops their workspaces)")
    def reject(self, request, queryset):
        """First a page asking for the reason they will see, then the rejection."""
        form = RejectForm(request.POST if "confirm" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Reject people",
                "people": queryset,
                "form": form,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/accounts/user/reject.html", context)
        for user in queryset:
            services.user_reject(user=user, by=request.user, reason=form.cleaned_data["reason"])
        messages.success(request, f"Rejected {queryset.count()} people.")
        return None

    @admin.action(description="Approve the selected people")
    def approve(self, request, queryset):
        for user in queryset:
            services.user_approve(user=user, by=request.user)
        messages.success(request, f"Approved {queryset.count()} people.")

    @admin.action(description="Unlock login")
    def unlock_login(self, request, queryset):
        forgotten = sum(services.user_login_unlock(user=user, by=request.user) for user in queryset)
        messages.success(
            request,
            f"Unlocked {queryset.count()} people ({forgotten} failed sign-in records removed). "
            "Locked addresses are listed under Axes, Access attempts.",
        )


class AllowListEntryForm(forms.ModelForm):
    class Meta:
        model = AllowListEntry
        fields = ["kind", "value", "note"]

    def clean(self):
        data = super().clean()
        if "kind" in data and "value" in data:
            try:
                data["value"] = allowlist.normalized(data["kind"], data["value"])
            except ServiceError as error:
                raise ValidationError({"value": error.message}) from None
        return data


@admin.register(AllowListEntry)
class AllowListEntryAdmin(admin.ModelAdmin):
    """Adds and removes go through the allow-list's services (checked, audited)."""

    form = AllowListEntryForm
    list_display = ["value", "kind", "note", "created_at"]
    list_filter = ["kind"]
    search_fields = ["value", "note"]
    list_per_page = 100

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None  # remove and add again; an edit would not be audited

    def save_model(self, request, obj, form, change):
        saved = allowlist.allowlist_add(
            kind=obj.kind, value=obj.value, note=obj.note, by=request.user
        )
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        allowlist.allowlist_remove(entry=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for entry in queryset:
            allowlist.allowlist_remove(entry=entry, by=request.user)
