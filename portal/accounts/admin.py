from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from portal.accounts import services
from portal.accounts.models import User
from portal.admin_deletes import ServiceDeleteMixin


@admin.register(User)
class UserAdmin(ServiceDeleteMixin, DjangoUserAdmin):
    list_display = ["username", "email", "approval", "is_staff", "is_active", "date_joined"]
    list_filter = ["approval", "is_staff", "is_active"]
    search_fields = ["username", "email"]
    list_per_page = 100
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("Approval", {"fields": ["approval", "approved_at"]}),
    ]
    readonly_fields = ["approved_at"]
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
        for user in queryset:
            services.user_reject(user=user, by=request.user)
        messages.success(request, f"Rejected {queryset.count()} people.")

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
