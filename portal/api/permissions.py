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
    message = "Only administrators may do this."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and request.user.is_admin
