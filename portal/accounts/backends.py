"""MLHub's admins (``User.is_admin``) may do everything in the Django admin.

Loaded as the last authentication backend; see ``portal/admin_site.py`` for why.
"""

from __future__ import annotations

from django.contrib.auth.backends import BaseBackend


class AdminsMayDoEverything(BaseBackend):
    """Every model permission for MLHub administrators, none granted to anyone else here."""

    def has_perm(self, user_obj, perm, obj=None) -> bool:
        return user_obj.is_active and getattr(user_obj, "is_admin", False)

    def has_module_perms(self, user_obj, app_label) -> bool:
        return self.has_perm(user_obj, app_label)
