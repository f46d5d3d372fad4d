"""django-oauth-toolkit's request validator, stricter where our one client allows it.

The portal's only OAuth2 client is the hub, registered with one exact callback URL
(``accounts/oauth.py``) and sending a PKCE S256 challenge. So the portal refuses what a
general-purpose provider has to accept: another port on a loopback callback, and ``plain``
PKCE. Set as ``OAUTH2_PROVIDER["OAUTH2_VALIDATOR_CLASS"]`` in ``portal/settings.py``.
"""

from __future__ import annotations

from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

# RFC 6749 allows no double quote or backslash in an error_description.
PLAIN_PKCE_REFUSED = "code_challenge_method must be S256 (plain is refused, RFC 9700 2.1.1)"


class MLHubOAuth2Validator(OAuth2Validator):
    def validate_redirect_uri(self, client_id, redirect_uri, request, *args, **kwargs):
        # django-oauth-toolkit lets any port through on http://127.0.0.1 and http://[::1]
        # callbacks (RFC 8252 7.3, for native apps that listen on a random port). The hub
        # is no native app: any other port on the same host could be someone else's
        # listener collecting codes. Exactly a registered URI, and the toolkit's own checks.
        registered = request.client.redirect_uris.split()
        return redirect_uri in registered and super().validate_redirect_uri(
            client_id, redirect_uri, request, *args, **kwargs
        )

    def is_pkce_required(self, client_id, request):
        # oauthlib asks this on the authorization request before it reads the method (and it
        # takes a missing method for "plain"), so refusing here stops a plain challenge
        # before the person is asked or a code exists. The toolkit's own gate
        # (COMPLIANT_BCP_RFC9700_PKCE_METHOD) only refuses when the code is being saved.
        challenge = getattr(request, "code_challenge", None)
        method = getattr(request, "code_challenge_method", None)
        if challenge is not None and method != "S256":
            raise errors.UnsupportedCodeChallengeMethodError(
                description=PLAIN_PKCE_REFUSED, request=request
            )
        return super().is_pkce_required(client_id, request)
