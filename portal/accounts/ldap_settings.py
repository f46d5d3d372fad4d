"""django-auth-ldap's ``AUTH_LDAP_*`` settings from MLHub's ``MLHUB_LDAP_*`` (login_config.py).

Imported by portal/settings.py only when LDAP is configured: python-ldap is an optional
install (it builds against libldap; requirements-ldap.txt).
"""

from __future__ import annotations

import ldap
from django_auth_ldap.config import (
    ActiveDirectoryGroupType,
    GroupOfNamesType,
    GroupOfUniqueNamesType,
    LDAPSearch,
    PosixGroupType,
)

from portal.accounts.login_config import LdapConfig

GROUP_TYPES = {
    "groupOfNames": (GroupOfNamesType, "(objectClass=groupOfNames)"),
    "groupOfUniqueNames": (GroupOfUniqueNamesType, "(objectClass=groupOfUniqueNames)"),
    "posixGroup": (PosixGroupType, "(objectClass=posixGroup)"),
    "activeDirectory": (ActiveDirectoryGroupType, "(objectClass=group)"),
}
# A directory that does not answer costs a login this long, not a worker's whole timeout.
CONNECT_SECONDS = 5
ANSWER_SECONDS = 10


def django_settings(config: LdapConfig) -> dict:
    """The ``AUTH_LDAP_*`` settings; the person's groups are read here but synced by MLHub
    (portal/accounts/organisation.py), not mirrored by django-auth-ldap, which would drop
    groups an admin gave them in the portal."""
    options = {
        ldap.OPT_NETWORK_TIMEOUT: CONNECT_SECONDS,
        ldap.OPT_TIMEOUT: ANSWER_SECONDS,
        ldap.OPT_REFERRALS: 0,  # Active Directory's referrals need a bind we do not have
    }
    if config.ca_file:
        options[ldap.OPT_X_TLS_CACERTFILE] = config.ca_file
        options[ldap.OPT_X_TLS_REQUIRE_CERT] = ldap.OPT_X_TLS_DEMAND
        options[ldap.OPT_X_TLS_NEWCTX] = 0  # last: makes the options above take effect
    found = {
        "AUTH_LDAP_SERVER_URI": config.uri,
        "AUTH_LDAP_START_TLS": config.start_tls,
        "AUTH_LDAP_CONNECTION_OPTIONS": options,
        "AUTH_LDAP_BIND_DN": config.bind_dn,
        "AUTH_LDAP_BIND_PASSWORD": config.bind_password,
        "AUTH_LDAP_USER_ATTR_MAP": {"first_name": "givenName", "last_name": "sn", "email": "mail"},
        # Names, e-mail and groups follow the directory at every login.
        "AUTH_LDAP_ALWAYS_UPDATE_USER": True,
        # One login, one directory search: nothing cached between requests.
        "AUTH_LDAP_CACHE_TIMEOUT": 0,
    }
    if config.user_dn_template:
        found["AUTH_LDAP_USER_DN_TEMPLATE"] = config.user_dn_template
        # No service account: the person's own bind reads their attributes and groups (a
        # directory that hides them from anonymous searches still answers).
        found["AUTH_LDAP_BIND_AS_AUTHENTICATING_USER"] = not config.bind_dn
    else:
        found["AUTH_LDAP_USER_SEARCH"] = LDAPSearch(
            config.user_search_base, ldap.SCOPE_SUBTREE, config.user_filter
        )
    if config.group_search_base:
        group_type, group_filter = GROUP_TYPES[config.group_type]
        found["AUTH_LDAP_GROUP_SEARCH"] = LDAPSearch(
            config.group_search_base, ldap.SCOPE_SUBTREE, group_filter
        )
        found["AUTH_LDAP_GROUP_TYPE"] = group_type()
    return found
