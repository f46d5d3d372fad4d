"""For records the portal writes itself (audit entries, sync passes, cleanup runs): admins
read them in the Django admin, nobody adds, edits or deletes them there."""

from __future__ import annotations


class ReadOnlyAdminMixin:
    # Old records an admin may prune (cleanup runs pile up with every scheduled pass).
    deletable = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.deletable and super().has_delete_permission(request, obj)
