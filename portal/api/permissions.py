from __future__ import annotations

from rest_framework.permissions import BasePermission

from portal.accounts.models import NOT_APPROVED


class IsApproved(BasePermission):
    """Signed in, active and approved by an admin."""

    message = NOT_APPROVED

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return user.is_approved


class IsAdmin(IsApproved):
    """An admin. Someone not approved yet is told that, as on every other endpoint."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        self.message = "Only administrators may do this."
        return request.user.is_admin
