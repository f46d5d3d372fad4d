"""The login page: one form for local and directory (LDAP) passwords, and "Log in with <name>"
for an OpenID provider.

A failed login says why when it is not a wrong password: a name another login owns, or a
directory that does not answer (set on the request by portal/accounts/ldap_backend.py). With
local passwords for admins only, a wrong-password message says where the others log in.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.shortcuts import render

from portal.bootstrap_forms import BootstrapForm

REFUSED_ATTRIBUTE = "mlhub_login_refused"  # ldap_backend.py sets it
NEXT_KEY = "mlhub_oidc_next"  # where an OpenID login goes on to (oidc.py)


WRONG_PASSWORD = "Your username and password did not match. Please try again."


class LoginForm(BootstrapForm, AuthenticationForm):
    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        # Django formats it with the field's name: a % of a provider's name stays one.
        wrong = f"{WRONG_PASSWORD}{_where_others_log_in()}".replace("%", "%%")
        self.error_messages = {**self.error_messages, "invalid_login": wrong}

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            refused = getattr(self.request, REFUSED_ATTRIBUTE, "")
            if refused:
                raise ValidationError(refused, code="login_refused") from None
            raise


class LoginView(auth_views.LoginView):
    form_class = LoginForm

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **_login_context()}


def _where_others_log_in() -> str:
    if settings.LOCAL_LOGIN == "all":
        return ""
    ways = [f"with {settings.OIDC.name}"] if settings.OIDC else []
    if settings.LDAP:
        ways.append(f"with their password of {settings.LDAP.name}")
    return " Local passwords are for administrators here" + (
        f"; everyone else logs in {' or '.join(ways)}." if ways else "."
    )


def _login_context() -> dict:
    return {
        "local_login_admins_only": settings.LOCAL_LOGIN == "admins",
        "ldap_name": settings.LDAP.name if settings.LDAP else "",
    }


def refused_page(request, message: str, status: int):
    """The login page again with ``message`` (an OpenID login that failed), ready to retry."""
    context = {
        "form": LoginForm(request),
        "login_refused": message,
        "next": request.session.get(NEXT_KEY, ""),
        **_login_context(),
    }
    return render(request, "registration/login.html", context, status=status)
