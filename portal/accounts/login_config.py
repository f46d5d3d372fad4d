"""Logging in with an organisation's identity: its settings, read from the environment once.

Two kinds of provider, each off until its first variable is set:

- OpenID Connect (``MLHUB_OIDC_ISSUER``): Keycloak, Entra ID, Google, GitLab... The portal is
  the provider's client (portal/accounts/oidc.py, with Authlib).
- LDAP or Active Directory (``MLHUB_LDAP_URI``): the same login form as local accounts checks
  the password against the directory (portal/accounts/ldap_backend.py, with django-auth-ldap).

``MLHUB_LOCAL_LOGIN=admins`` turns local passwords off for everyone but administrators
(portal/accounts/backends.py). docs/configuration.md, "Logging in with your organisation".
Pure: no Django, so a bad value stops the portal's start with its name (portal/settings.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lib import env

LOCAL_LOGIN_CHOICES = ("all", "admins")
LDAP_GROUP_TYPES = ("groupOfNames", "groupOfUniqueNames", "posixGroup", "activeDirectory")


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    name: str  # on the login page's button: "Log in with <name>"
    scopes: str
    username_claim: str
    groups_claim: str  # "" when groups do not come from the provider

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


@dataclass(frozen=True)
class LdapConfig:
    uri: str
    user_dn_template: str  # django-auth-ldap's form: uid=%(user)s,ou=people,...
    bind_dn: str
    bind_password: str
    user_search_base: str
    user_filter: str  # django-auth-ldap's form: (uid=%(user)s)
    start_tls: bool
    ca_file: str
    group_search_base: str
    group_type: str
    name: str  # how the login page names the directory


def _ldap_placeholder(text: str) -> str:
    """``{username}`` (our documented form) as django-auth-ldap's ``%(user)s``; a literal
    ``%`` is doubled so it stays one."""
    return text.replace("%", "%%").replace("{username}", "%(user)s")


def oidc_config() -> OidcConfig | None:
    issuer = env.env_str("MLHUB_OIDC_ISSUER").strip()
    if not issuer:
        return None
    if not re.match(r"^https?://[^/]+", issuer):
        raise env.ConfigError(f"MLHUB_OIDC_ISSUER={issuer!r} is not an http(s) URL")
    client_id = env.env_str("MLHUB_OIDC_CLIENT_ID").strip()
    client_secret = env.env_secret("MLHUB_OIDC_CLIENT_SECRET") or ""
    if not client_id or not client_secret:
        raise env.ConfigError(
            "MLHUB_OIDC_ISSUER is set: MLHUB_OIDC_CLIENT_ID and MLHUB_OIDC_CLIENT_SECRET "
            "(or MLHUB_OIDC_CLIENT_SECRET_FILE) must be too"
        )
    return OidcConfig(
        issuer=issuer,
        client_id=client_id,
        client_secret=client_secret,
        name=env.env_str("MLHUB_OIDC_NAME", "your organisation").strip(),
        scopes=env.env_str("MLHUB_OIDC_SCOPES", "openid profile email").strip(),
        username_claim=env.env_str("MLHUB_OIDC_USERNAME_CLAIM", "preferred_username").strip(),
        groups_claim=env.env_str("MLHUB_OIDC_GROUPS_CLAIM").strip(),
    )


def ldap_config() -> LdapConfig | None:
    uri = env.env_str("MLHUB_LDAP_URI").strip()
    if not uri:
        return None
    if not re.match(r"^ldaps?://", uri):
        raise env.ConfigError(f"MLHUB_LDAP_URI={uri!r} is not an ldap:// or ldaps:// URL")
    template = env.env_str("MLHUB_LDAP_USER_DN_TEMPLATE").strip()
    search_base = env.env_str("MLHUB_LDAP_USER_SEARCH_BASE").strip()
    if bool(template) == bool(search_base):
        raise env.ConfigError(
            "MLHUB_LDAP_URI is set: set either MLHUB_LDAP_USER_DN_TEMPLATE (a direct bind) "
            "or MLHUB_LDAP_USER_SEARCH_BASE (a search), not both"
        )
    if template and "{username}" not in template:
        raise env.ConfigError(f"MLHUB_LDAP_USER_DN_TEMPLATE={template!r} must contain {{username}}")
    user_filter = env.env_str("MLHUB_LDAP_USER_FILTER", "(uid={username})").strip()
    if "{username}" not in user_filter:
        raise env.ConfigError(f"MLHUB_LDAP_USER_FILTER={user_filter!r} must contain {{username}}")
    group_type = env.env_str("MLHUB_LDAP_GROUP_TYPE", "groupOfNames").strip()
    if group_type not in LDAP_GROUP_TYPES:
        raise env.ConfigError(
            f"MLHUB_LDAP_GROUP_TYPE={group_type!r} is not one of {', '.join(LDAP_GROUP_TYPES)}"
        )
    return LdapConfig(
        uri=uri,
        user_dn_template=_ldap_placeholder(template),
        bind_dn=env.env_str("MLHUB_LDAP_BIND_DN").strip(),
        bind_password=env.env_secret("MLHUB_LDAP_BIND_PASSWORD") or "",
        user_search_base=search_base,
        user_filter=_ldap_placeholder(user_filter),
        start_tls=env.env_bool("MLHUB_LDAP_START_TLS", False),
        ca_file=env.env_str("MLHUB_LDAP_CA_FILE").strip(),
        group_search_base=env.env_str("MLHUB_LDAP_GROUP_SEARCH_BASE").strip(),
        group_type=group_type,
        name=env.env_str("MLHUB_LDAP_NAME", "your organisation's directory").strip(),
    )


def local_login() -> str:
    """Who may log in with a local password: everyone (``all``) or administrators only."""
    value = env.env_str("MLHUB_LOCAL_LOGIN", "all").strip().lower()
    if value not in LOCAL_LOGIN_CHOICES:
        raise env.ConfigError(f"MLHUB_LOCAL_LOGIN={value!r} is not 'all' or 'admins'")
    return value


def auto_approve_groups() -> frozenset[str]:
    """Members of these provider groups are approved at login (comma-separated)."""
    names = env.env_str("MLHUB_AUTO_APPROVE_GROUPS").split(",")
    return frozenset(name.strip() for name in names if name.strip())
