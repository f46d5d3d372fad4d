"""The Django admin's idea of an administrator is MLHub's: ``User.is_admin``.

Django's own is "staff" to enter and per-model permissions inside, so an admin made through
the API (staff, approved) saw nothing, while a staff member waiting for approval could enter.
Here the admin site lets in exactly the people the API, the portal and the hub call admins,
and they may do everything in it (the services still decide what each action does).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class MLHubAdminSite(admin.AdminSite):
    site_header = "MLHub administration"
    site_title = "MLHub admin"

    def has_permission(self, request) -> bool:
        return request.user.is_active and getattr(request.user, "is_admin", False)


class MLHubAdminConfig(AdminConfig):
    default_site = "portal.admin_site.MLHubAdminSite"
