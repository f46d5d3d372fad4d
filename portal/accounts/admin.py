from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from portal.accounts import services
from portal.accounts.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "approval", "is_staff", "is_active", "date_joined"]
    list_filter = ["approval", "is_staff", "is_active"]
    search_fields = ["username", "email"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("Approval", {"fields": ["approval", "approved_at"]}),
    ]
    readonly_fields = ["approved_at"]
    actions = ["approve"]

    @admin.action(description="Approve the selected people")
    def approve(self, request, queryset):
        for user in queryset:
            services.user_approve(user=user)
        messages.success(request, f"Approved {queryset.count()} people.")
