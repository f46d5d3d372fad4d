"""Log in with an LDAP or Active Directory password, through the same form as local accounts.

django-auth-ldap checks the password (a direct bind, or a search then a bind; StartTLS or
LDAPS) and reads the person's attributes and groups; MLHub decides whose account it is and
what follows (portal/accounts/organisation.py), as for OpenID Connect. Why a login failed is
put on the request for the login form (``REFUSED_ATTRIBUTE``): a name another login owns, and
a directory that does not answer, are not "wrong password".
"""

from __future__ import annotations

import ldap
from django.conf import settings
from django_auth_ldap.backend import LDAPBackend, ldap_error

from portal.accounts import organisation
from portal.accounts.login_page import REFUSED_ATTRIBUTE
from portal.accounts.models import User

PROVIDER = User.LoginProvider.LDAP


def _directory_error(sender, context, user, request, exception, **kwargs) -> None:
    if request is None or not isinstance(
        exception, ldap.SERVER_DOWN | ldap.TIMEOUT | ldap.CONNECT_ERROR
    ):
        return
    setattr(
        request,
        REFUSED_ATTRIBUTE,
        f"{_capitalised(settings.LDAP.name)} does not answer now, so your password cannot be "
        "checked; try again in a few minutes. Administrators can still log in with their "
        "local password.",
    )


def _capitalised(name: str) -> str:
    return name[:1].upper() + name[1:]  # "the Example domain" keeps its capital E


ldap_error.connect(_directory_error, dispatch_uid="mlhub-ldap-directory-down")


class DirectoryBackend(LDAPBackend):
    """django-auth-ldap's backend, asking MLHub's rule for the account. Django makes one
    backend object per login, so the request and the name can wait on it for the hooks."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        self.request = request
        self.new = username is not None and not User.objects.named(username.strip()).exists()
        return super().authenticate(request, username, password, **kwargs)

    def get_or_build_user(self, username, ldap_user):
        email = (ldap_user.attrs.get("mail") or [""])[0] if ldap_user.attrs else ""
        try:
            user = organisation.person_for(provider=PROVIDER, username=username, email=email)
        except organisation.LoginRefused as refused:
            if self.request is not None:
                setattr(self.request, REFUSED_ATTRIBUTE, refused.message)
            raise ldap_user.AuthenticationFailed(refused.message) from None
        return user, user.pk is None

    def authenticate_ldap_user(self, ldap_user, password):
        user = super().authenticate_ldap_user(ldap_user, password)
        if user is None:
            return None
        if self.new:
            organisation.joined(user, PROVIDER)
        groups = ldap_user.group_names if settings.LDAP.group_search_base else []
        return organisation.logged_in(user=user, groups=groups)
