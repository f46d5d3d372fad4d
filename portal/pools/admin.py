from django.contrib import admin

from portal.admin_readonly import ReadOnlyAdminMixin
from portal.pools.models import PoolSlot


@admin.register(PoolSlot)
class PoolSlotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The fill task writes slots and a claim records its workspace; sizes are set on the
    templates (``pool_size``)."""

    list_display = ["name", "template", "state", "created_at", "ready_at", "workspace"]
    list_filter = ["state", "template"]
    search_fields = ["name", "workspace__name", "workspace__owner__username"]
    list_select_related = ["template", "workspace__owner"]
