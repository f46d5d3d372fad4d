"""Logging in with one's organisation, end to end in a real browser: one stack configured with
both a real OpenID provider (tests/identity/oidc.py) and a real LDAP directory
(tests/identity/ldap_server.py). Members of "students" are approved as they log in and open
a lab with no second login; a wrong directory password, a provider that does not answer and
someone outside "students" are each told what happened."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, expect

from tests.browser.test_scenarios import (  # noqa: F401 (the fixtures new_context, cleanup)
    ADMIN,
    START_MS,
    cleanup,
    new_context,
    open_in_jupyterlab,
)
from tests.browser.test_workspace_pages import log_in, submit_new_workspace
from tests.hub_stack import RunningHub, free_port, running_stack
from tests.identity.ldap_server import SLAPD, LdapServer
from tests.identity.oidc import OidcProvider
from tests.parts import require

pytestmark = pytest.mark.browser

PROVIDER_NAME = "Example University"
DIRECTORY_NAME = "the Example directory"
CLIENT_ID, CLIENT_SECRET = "mlhub-portal", "portal-secret-for-tests"
STUDENTS = "students"
# (username, password): at the provider, at the directory.
OLIVIA = ("olivia", "olivia-at-the-provider")  # OpenID, a student
OSCAR = ("oscar", "oscar-at-the-provider")  # OpenID, staff: not a student
LENA = ("lena", "lena-in-the-directory")  # LDAP, a student
CALLBACK = "/accounts/oidc/callback/"


def login_environment(provider: OidcProvider, directory: LdapServer) -> dict[str, str]:
    """A stack's MLHUB_* for both ways in (docs/configuration.md, "Logging in with your
    organisation"); bench/login.py starts its stack with them too."""
    return {
        "MLHUB_OIDC_ISSUER": provider.issuer,
        "MLHUB_OIDC_CLIENT_ID": provider.client_id,
        "MLHUB_OIDC_CLIENT_SECRET": provider.client_secret,
        "MLHUB_OIDC_NAME": PROVIDER_NAME,
        "MLHUB_OIDC_SCOPES": "openid profile email groups",
        "MLHUB_OIDC_GROUPS_CLAIM": "groups",
        "MLHUB_LDAP_URI": directory.uri,
        "MLHUB_LDAP_USER_DN_TEMPLATE": f"uid={{username}},{directory.people_dn}",
        "MLHUB_LDAP_GROUP_SEARCH_BASE": directory.groups_dn,
        "MLHUB_LDAP_NAME": DIRECTORY_NAME,
        "MLHUB_AUTO_APPROVE_GROUPS": STUDENTS,
    }


def provider_for(folder: Path, public_port: int) -> OidcProvider:
    """The provider, its one client the portal that will listen on ``public_port``."""
    redirect = f"http://localhost:{public_port}{CALLBACK}"
    return OidcProvider(folder, CLIENT_ID, CLIENT_SECRET, [redirect])


def directory_in(folder: Path) -> LdapServer:
    require(Path(SLAPD).exists(), "OpenLDAP's slapd is not installed (apt-get install slapd)")
    return LdapServer(folder)


def provider_origin(provider: OidcProvider) -> str:
    return provider.issuer.removesuffix("/o")


def log_in_with_provider(page: Page, hub: RunningHub, provider: OidcProvider, username, password):
    """The portal's "Log in with <name>", the provider's form, and back: on the portal's home
    page once it has loaded (the caller checks which page it shows)."""
    page.goto(f"{hub.url}/accounts/login/")
    with page.expect_navigation(url=f"{provider_origin(provider)}/accounts/login/**"):
        page.get_by_role("link", name=f"Log in with {PROVIDER_NAME}").click()
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation(url=f"{hub.url}/"):
        page.get_by_role("button", name="Sign in").click()


@pytest.fixture(scope="module")
def public_port() -> int:
    """The stack's public port, known before it starts: the provider's client needs its
    callback URL first."""
    return free_port()


@pytest.fixture(scope="module")
def provider(tmp_path_factory, public_port) -> Iterator[OidcProvider]:
    running = provider_for(tmp_path_factory.mktemp("oidc-provider"), public_port)
    running.add_person(*OLIVIA, email="olivia@uni.example", groups=[STUDENTS], name="Olivia")
    running.add_person(*OSCAR, email="oscar@uni.example", groups=["staff"], name="Oscar")
    with running:
        yield running


@pytest.fixture(scope="module")
def directory(tmp_path_factory) -> Iterator[LdapServer]:
    with directory_in(tmp_path_factory.mktemp("ldap")) as running:
        running.add_person(LENA[0], LENA[1], email="lena@uni.example", name="Lena Lind")
        running.set_groups(LENA[0], [STUDENTS])
        yield running


@pytest.fixture(scope="module")
def hub(tmp_path_factory, public_port, provider, directory) -> Iterator[RunningHub]:
    """This module's stack: local-process workspaces, both ways in. Named as the session's
    stack (tests/hub_stack.py), which it stands in for here: that one never starts for
    this module."""
    yield from running_stack(
        tmp_path_factory.mktemp("mlhub-institutional"),
        "process",
        hub_name="mlhl",
        # One portal worker: whether the one that answers has loaded the provider's
        # discovery document (the last test) is then not left to chance.
        extra={**login_environment(provider, directory), "MLHUB_PORTAL_WORKERS": "1"},
        public_port=public_port,
    )


def record_navigations(page: Page) -> list[str]:
    """Every page the browser loads from now on, in any tab of ``page``'s context."""
    navigations: list[str] = []

    def record(request: Request) -> None:
        if request.is_navigation_request():
            navigations.append(request.url)

    page.context.on("request", record)
    return navigations


def create_and_open(page: Page, hub: RunningHub, provider: OidcProvider, username: str) -> None:
    """From "My workspaces": create a workspace, wait until it runs, and open JupyterLab in
    a new tab, with no login form on the way (neither the portal's nor the provider's)."""
    submit_new_workspace(page, "notes")
    expect(page).to_have_url(f"{hub.url}/")
    card = page.locator('[data-workspace="notes"]')
    expect(card.locator(".state")).to_have_text("Running", timeout=START_MS)
    navigations = record_navigations(page)
    open_in_jupyterlab(page, hub, username, "notes").close()
    assert any("/o/authorize/" in url for url in navigations), navigations  # the hub's OAuth
    assert not any("/accounts/login" in url for url in navigations), navigations
    assert not any(url.startswith(provider_origin(provider)) for url in navigations), navigations


def provider_down_is_said_so(page: Page, hub: RunningHub) -> None:
    """The button while the provider is down: the login page again, a 503 saying so."""
    page.goto(f"{hub.url}/accounts/login/")
    with page.expect_navigation() as navigation:
        page.locator("#oidc-login").click()
    assert navigation.value is not None and navigation.value.status == 503
    expect(page).to_have_url(re.compile(rf"^{re.escape(hub.url)}/accounts/oidc/login/"))
    expect(page.get_by_role("alert")).to_have_text(
        f"{PROVIDER_NAME} does not answer now, so you cannot log in through it; try again in "
        "a few minutes. Administrators can still log in with their local password."
    )
    expect(page.locator("#oidc-login")).to_be_visible()  # ready to try again


# First in the module: no OpenID login has happened yet, so the portal has not loaded the
# provider's discovery document (after one, see the last test).
def test_a_provider_that_is_down_is_said_so_and_the_admin_still_logs_in(hub, provider, page):
    provider.stop()
    try:
        provider_down_is_said_so(page, hub)
        log_in(page, hub, *ADMIN)  # the local form, in that same browser
    finally:
        provider.start()


def test_a_student_logs_in_with_the_provider_and_opens_a_lab(hub, provider, new_context, cleanup):  # noqa: F811
    cleanup(hub, hub.admin_token)  # the admin lists, and deletes, everyone's
    page = new_context().new_page()
    log_in_with_provider(page, hub, provider, *OLIVIA)
    expect(page.locator("h1")).to_have_text("My workspaces")
    expect(page.locator("main > p.messages .error")).to_have_count(0)  # approved at login
    expect(page.get_by_text("You have no workspaces yet.")).to_be_visible()
    create_and_open(page, hub, provider, OLIVIA[0])


def test_a_student_logs_in_with_the_directory_and_opens_a_lab(hub, provider, new_context, cleanup):  # noqa: F811
    cleanup(hub, hub.admin_token)
    page = new_context().new_page()
    page.goto(f"{hub.url}/accounts/login/")
    expect(page.locator("label[for=id_password]")).to_have_text(
        f"Password (yours in {DIRECTORY_NAME})"
    )
    log_in(page, hub, *LENA)  # the portal's own form; on "My workspaces"
    expect(page.locator("main > p.messages .error")).to_have_count(0)
    create_and_open(page, hub, provider, LENA[0])


def test_a_wrong_directory_password_is_refused_on_the_login_page(hub, page):
    page.goto(f"{hub.url}/accounts/login/")
    page.fill("#id_username", LENA[0])
    page.fill("#id_password", "not-" + LENA[1])
    with page.expect_navigation():
        page.click("main button[type=submit]")
    expect(page).to_have_url(f"{hub.url}/accounts/login/")
    expect(page.locator("main .errorlist")).to_contain_text("did not match")
    expect(page.locator("#id_password")).to_be_visible()


def test_someone_outside_the_approved_groups_waits_for_approval(hub, provider, page):
    from portal.accounts.models import NOT_APPROVED  # here: bench/login.py runs no Django

    log_in_with_provider(page, hub, provider, *OSCAR)
    expect(page.locator("h1")).to_have_text("My workspaces")
    expect(page.locator("main > p.messages .error")).to_have_text(NOT_APPROVED)
    expect(page.locator("#new-workspace")).to_have_count(0)
    expect(page.locator("#id_name")).to_have_count(0)


def test_a_provider_that_goes_down_after_a_login_is_said_so_too(hub, provider, new_context):  # noqa: F811
    # A login first: the portal's one worker (see ``hub``) loads the discovery document.
    log_in_with_provider(new_context().new_page(), hub, provider, *OSCAR)
    provider.stop()
    try:
        provider_down_is_said_so(new_context().new_page(), hub)
    finally:
        provider.start()
