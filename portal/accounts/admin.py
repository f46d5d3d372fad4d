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
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("Approval", {"fields": ["approval", "approved_at"]}),
    ]
    readonly_fields = ["approved_at"]
    actions = ["approve", "delete_with_resources"]

    def delete_service(self, obj) -> None:
        services.user_delete(user=obj)

    @admin.action(description="Approve the selected people")
    def approve(self, request, queryset):
        for user in queryset:
            services.user_approve(user=user)
        messages.success(request, f"Approved {queryset.count()} people.")
