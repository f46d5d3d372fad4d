"""The hub's login: an OAuth2 client of the portal (single sign-on). No Django here.

The portal is the OAuth2 provider (django-oauth-toolkit). The browser is sent to the portal's
``/o/authorize/`` through the public proxy; the hub exchanges the code and reads who the
person is from the portal's internal address (``/api/v1/me/``). The portal decides who is an
admin and who is approved; the hub only applies it.
"""

from __future__ import annotations

from oauthenticator.generic import GenericOAuthenticator
from tornado import web
from traitlets import Unicode, default

from lib import env

NOT_APPROVED = (
    "Your MLHub account is waiting for an administrator's approval. "
    "You can use workspaces once it is approved."
)


class MLHubAuthenticator(GenericOAuthenticator):
    portal_url = Unicode(
        help="The portal's internal address, for the code exchange and the user lookup.",
    ).tag(config=True)

    @default("portal_url")
    def _portal_url_default(self) -> str:
        return env.portal_url()

    @default("login_service")
    def _login_service_default(self) -> str:
        return "MLHub"

    @default("auto_login")
    def _auto_login_default(self) -> bool:
        return True

    @default("client_id")
    def _client_id_default(self) -> str:
        return env.env_str("MLHUB_OAUTH_CLIENT_ID", "mlhub-hub")

    @default("client_secret")
    def _client_secret_default(self) -> str:
        return env.env_secret("MLHUB_OAUTH_CLIENT_SECRET", "")

    @default("authorize_url")
    def _authorize_url_default(self) -> str:
        # Relative on purpose: the browser follows it on whatever host it used for the hub,
        # and the proxy sends /o/ to the portal.
        return "/o/authorize/"

    @default("token_url")
    def _token_url_default(self) -> str:
        return f"{self.portal_url}/o/token/"

    @default("userdata_url")
    def _userdata_url_default(self) -> str:
        return f"{self.portal_url}/api/v1/me/"

    @default("username_claim")
    def _username_claim_default(self) -> str:
        return "hub_name"

    @default("scope")
    def _scope_default(self) -> list[str]:
        return ["profile"]

    @default("logout_redirect_url")
    def _logout_redirect_url_default(self) -> str:
        # Ends the portal's session too (see portal/accounts/views.py: logout).
        return "/accounts/logout/"

    @default("any_allow_config")
    def _any_allow_config_default(self) -> bool:
        return True  # check_allowed below is the allow config

    def _portal_user(self, auth_model: dict) -> dict:
        return auth_model["auth_state"][self.user_auth_state_key]

    async def update_auth_model(self, auth_model: dict) -> dict:
        auth_model["admin"] = bool(self._portal_user(auth_model).get("is_admin"))
        return auth_model

    async def check_allowed(self, username: str, auth_model: dict | None) -> bool:
        # Whom to let in is the portal's decision (approval); allow_all stays False so the
        # hub asks this method at every login.
        if auth_model is None:
            return True
        if not self._portal_user(auth_model).get("approved"):
            raise web.HTTPError(403, NOT_APPROVED)
        return True
