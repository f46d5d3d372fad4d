from django.contrib import admin

from portal.api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens can be looked at and revoked (deleted) here; only their owners can create them."""

    list_display = ["user", "name", "token_key", "created", "expiry"]
    list_filter = ["created", "expiry"]
    search_fields = ["user__username", "name", "token_key"]
    list_select_related = ["user"]
    fields = ["user", "name", "token_key", "created", "expiry"]
    readonly_fields = ["user", "token_key", "created"]

    def has_add_permission(self, request) -> bool:
        return False  # a key is shown once to whoever made it; an admin's copy would be a leak
