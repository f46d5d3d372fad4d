"""The portal's authentication backends (the list and its order: portal/settings.py).

``AdminsMayDoEverything``, loaded last: MLHub's admins (``User.is_admin``) may do everything
in the Django admin; see ``portal/admin_site.py`` for why.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.backends import BaseBackend, ModelBackend


class AdminsMayDoEverything(BaseBackend):
    """Every model permission for MLHub administrators, none granted to anyone else here."""

    def has_perm(self, user_obj, perm, obj=None) -> bool:
        return user_obj.is_active and getattr(user_obj, "is_admin", False)

    def has_module_perms(self, user_obj, app_label) -> bool:
        return self.has_perm(user_obj, app_label)


class LocalPasswords(ModelBackend):
    """Local passwords, for everyone or, with ``MLHUB_LOCAL_LOGIN=admins``, for administrators
    only (the others log in through their organisation: portal/accounts/organisation.py).
    Sessions it made end when the rule no longer lets their person in (``get_user``)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        # A provider's person has no local password: Django would still hash the one typed
        # (0.2 s of CPU, to hide who exists) before the directory checks it.
        if username is not None and self._from_a_provider(username):
            return None
        return super().authenticate(request, username, password, **kwargs)

    @staticmethod
    def _from_a_provider(username: str) -> bool:
        from portal.accounts.models import User  # the backend loads before the apps

        return User.objects.named(username).exclude(login_provider="").exists()

    def user_can_authenticate(self, user) -> bool:
        if not super().user_can_authenticate(user):
            return False
        return settings.LOCAL_LOGIN == "all" or getattr(user, "is_admin", False)


class OrganisationSessions(ModelBackend):
    """The sessions of people an OpenID provider logged in (portal/accounts/oidc.py): it only
    finds their person again at each request; it checks no password."""

    def authenticate(self, request, **credentials):
        return None
