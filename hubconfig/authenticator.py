"""The hub's login: an OAuth2 client of the portal (single sign-on). No Django here.

The portal is the OAuth2 provider (django-oauth-toolkit). The browser is sent to the portal's
``/o/authorize/`` through the public proxy; the hub exchanges the code and reads who the
person is from the portal's internal address (``/api/v1/me/``). The portal decides who is an
admin and who is approved; the hub only applies it.
"""

from __future__ import annotations

import asyncio

from oauthenticator.generic import GenericOAuthenticator
from tornado import web
from tornado.httpclient import HTTPClientError
from traitlets import Unicode, default

from hubconfig import pending_page, spawn_page
from lib import env, usernames

# The portal's admins in the hub: this group, whose role (jupyterhub_config.py) reads and opens
# everyone's servers. Not the hub's admin flag: JupyterHub's admin role may start any server
# with any options, and it cannot be narrowed, so nobody holds it; servers start in the portal.
ADMINS_GROUP = "mlhub-admins"

NOT_APPROVED = (
    "Your MLHub account is waiting for an administrator's approval. "
    "You can use workspaces once it is approved."
)


class MLHubAuthenticator(GenericOAuthenticator):
    portal_url = Unicode(
        help="The portal's internal address, for the code exchange and the user lookup.",
    ).tag(config=True)

    _refresh_locks: dict[str, asyncio.Lock]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._refresh_locks = {}

    @default("portal_url")
    def _portal_url_default(self) -> str:
        return env.portal_url()

    def normalize_username(self, username: str) -> str:
        # The portal's rule (lib/usernames.py), not just lower(): the portal sends the hub
        # form already; any other way in (the admin page, the API) names people the same.
        return super().normalize_username(usernames.hub_form(username))

    @default("manage_groups")
    def _manage_groups_default(self) -> bool:
        return True  # ADMINS_GROUP, from the portal at every login and refresh

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
        # The browser's way to the portal: the public URL (the proxy sends /o/ to the portal).
        return f"{env.site_url()}/o/authorize/"

    @default("oauth_callback_url")
    def _oauth_callback_url_default(self) -> str:
        # Exactly the one URL the portal registered for the hub (accounts/oauth.py).
        return f"{env.site_url()}/hub/oauth_callback"

    # Revocation reaches the hub: the portal's answer about each person is kept (encrypted)
    # and asked again every auth_refresh_age seconds; a refusal ends the hub session.
    # Not auth_refresh_strict: a workspace's own token acts as its owner, and the owner
    # may never have logged in to the hub (the portal started the workspace), so strict
    # refreshing would cut every workspace off from the hub. Token access ends instead by
    # the portal deleting the person's hub tokens (portal/accounts/services.py).
    @default("enable_auth_state")
    def _enable_auth_state_default(self) -> bool:
        return True

    @default("auth_refresh_age")
    def _auth_refresh_age_default(self) -> int:
        return env.env_int("MLHUB_AUTH_REFRESH_SECONDS", 30)

    @default("refresh_pre_spawn")
    def _refresh_pre_spawn_default(self) -> bool:
        # The portal starts servers for people who may never have opened the hub (no
        # auth_state to refresh); it has decided who may start what before it asks.
        return False

    @default("token_url")
    def _token_url_default(self) -> str:
        return f"{self.portal_url}{env.base_url()}o/token/"

    @default("userdata_url")
    def _userdata_url_default(self) -> str:
        return f"{self.portal_url}{env.base_url()}api/v1/me/"

    @default("username_claim")
    def _username_claim_default(self) -> str:
        return "hub_name"

    @default("scope")
    def _scope_default(self) -> list[str]:
        return ["profile"]

    @default("logout_redirect_url")
    def _logout_redirect_url_default(self) -> str:
        # Ends the portal's session too (see portal/accounts/views.py: logout).
        return f"{env.base_url()}accounts/logout/"

    @default("any_allow_config")
    def _any_allow_config_default(self) -> bool:
        return True  # check_allowed below is the allow config

    def get_handlers(self, app):
        # The hub routes an authenticator's handlers before its own: the only way to serve
        # one of its pages differently without copying its route table.
        return [*super().get_handlers(app), *pending_page.HANDLERS, *spawn_page.HANDLERS]

    def _portal_user(self, auth_model: dict) -> dict:
        return auth_model["auth_state"][self.user_auth_state_key]

    async def update_auth_model(self, auth_model: dict) -> dict:
        # Also ends the admin flag of anyone the hub still has as an admin (an older MLHub
        # made the portal's admins the hub's) at their next login or refresh.
        auth_model["admin"] = False
        return auth_model

    async def get_user_groups(self, auth_state: dict) -> set[str]:
        is_admin = auth_state[self.user_auth_state_key].get("is_admin")
        return {ADMINS_GROUP} if is_admin else set()

    async def refresh_user(self, user, handler=None, **kwargs):
        """Ask the portal about the person again; False logs them out of the hub.

        The portal answers 401 once it has revoked the person's OAuth tokens (rejected,
        deactivated, deleted), and ``approved: false`` when they are not approved. When the
        portal cannot be reached, sessions go on: an outage must not log everyone out.
        """
        # One refresh per person at a time, its result saved before the next starts: the
        # portal rotates refresh tokens and treats a second use of one as theft.
        lock = self._refresh_locks.setdefault(user.name, asyncio.Lock())
        async with lock:
            return await self._refresh_user_once(user, handler, **kwargs)

    async def _refresh_user_once(self, user, handler=None, **kwargs):
        if not await user.get_auth_state():
            # Never logged in through the portal (only its workspaces' tokens act as them):
            # nothing to ask again; revocation deletes those tokens.
            return True
        try:
            refreshed = await super().refresh_user(user, handler, **kwargs)
        except HTTPClientError as error:
            if error.code < 500:
                raise
            self.log.warning("Portal unavailable, %s stays logged in: %s", user.name, error)
            return True
        except OSError as error:
            self.log.warning("Portal unreachable, %s stays logged in: %s", user.name, error)
            return True
        if isinstance(refreshed, dict) and not self._portal_user(refreshed).get("approved"):
            self.log.info("%s is no longer approved in the portal: logged out", user.name)
            return False
        if refreshed is False:
            self.log.info("The portal no longer knows %s's login: logged out", user.name)
        elif isinstance(refreshed, dict):
            await user.save_auth_state(refreshed["auth_state"])
        return refreshed

    async def check_allowed(self, username: str, auth_model: dict | None) -> bool:
        # Whom to let in is the portal's decision (approval); allow_all stays False so the
        # hub asks this method at every login.
        if auth_model is None:
            return True
        person = self._portal_user(auth_model)
        if not person.get("approved"):
            # The portal says why (waiting, rejected with a reason, not on the allow-list).
            raise web.HTTPError(403, person.get("refused") or NOT_APPROVED)
        return True
