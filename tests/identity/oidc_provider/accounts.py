"""Who may sign in, and what the provider says about them: both from ``people.json``.

The file is read again at every login and every token or userinfo request, so a test changes
a person's password or groups by rewriting it, without restarting the provider.
"""

import json

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from oauth2_provider.oauth2_validators import OAuth2Validator


def person(username: str) -> dict | None:
    return json.loads(settings.PEOPLE_FILE.read_text()).get(username)


class PeopleFileBackend(ModelBackend):
    """Checks the password against people.json (in plain text: a test provider) and signs in
    the provider's own user of that name, made at first login: DOT's grants and tokens point
    at a Django user."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        entry = person(username or "")
        if entry is None or entry["password"] != password:
            return None
        return User.objects.get_or_create(username=username)[0]


class PeopleFileValidator(OAuth2Validator):
    """Puts the person's claims in the ID token and the userinfo answer (DOT builds both from
    ``get_additional_claims``)."""

    # DOT leaves out every claim whose scope here the client was not granted, and any claim
    # missing from this map as well: the claims standard OIDC does not know need a scope.
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "groups": "groups", "upn": "openid"}

    def get_additional_claims(self, request):
        username = request.user.username
        entry = person(username) or {}
        return {
            # DOT's own "sub" is the provider's database id; the username is what tests know.
            "sub": username,
            "preferred_username": username,
            "email": entry.get("email", ""),
            "email_verified": entry.get("email_verified", True),
            "name": entry.get("name", ""),
            "groups": list(entry.get("groups", [])),
            "upn": f"{username}@example.org",
        }
