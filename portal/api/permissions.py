from __future__ import annotations

from rest_framework.permissions import BasePermission

from portal.accounts import access
from portal.accounts.models import NOT_APPROVED


class IsApproved(BasePermission):
    """Signed in, and may use MLHub now (``access.why_refused``: active, approved, and on the
    allow-list while one is active); refused with the reason in the person's words."""

    message = NOT_APPROVED
    code = "access_refused"  # as access.AccessRefused, the services' refusal of the same rule

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        # DRF makes the permission anew for each request: the reason is this caller's.
        self.message = access.why_refused(user)
        return not self.message


class IsAdmin(IsApproved):
    """An admin. Someone not approved yet is told that, as on every other endpoint."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        self.message, self.code = "Only administrators may do this.", "admin_only"
        return request.user.is_admin
