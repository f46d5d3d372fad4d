"""Deleting from the Django admin goes through the services, so the hub and Docker follow.

A plain model delete would leave the person's servers, containers and volumes running with
nothing in the portal pointing at them. When the hub cannot be reached nothing is deleted
and the admin is told why.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from portal.hub.client import HubError


class ServiceDeleteMixin:
    """For a ModelAdmin: ``delete_service(request, obj)`` replaces the model's own delete."""

    def delete_service(self, request, obj) -> None:
        raise NotImplementedError

    def delete_each(self, request, queryset) -> int:
        """The bulk delete (the action, the admin's own confirmation page): how many went."""
        return sum(self._delete(request, obj) for obj in queryset)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would bypass the service
        return actions

    @admin.action(description="Delete the selected, with their hub resources")
    def delete_with_resources(self, request, queryset):
        deleted = self.delete_each(request, queryset)
        if deleted:
            messages.success(request, f"Deleted {deleted}.")

    def delete_model(self, request, obj):
        if not self._delete(request, obj):
            request.mlhub_delete_refused = True

    def delete_queryset(self, request, queryset):
        self.delete_each(request, queryset)

    def response_delete(self, request, obj_display, obj_id):
        if getattr(request, "mlhub_delete_refused", False):
            return HttpResponseRedirect(request.path.rsplit("/delete/", 1)[0] + "/change/")
        return super().response_delete(request, obj_display, obj_id)

    def _delete(self, request, obj) -> bool:
        try:
            self.delete_service(request, obj)
        except HubError as error:
            self.not_deleted(request, obj, error)
            return False
        return True

    def not_deleted(self, request, obj, error: HubError) -> None:
        messages.error(request, f"{obj} was not deleted: {error.message}")
