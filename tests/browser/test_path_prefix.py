"""MLHub under a path prefix (MLHUB_BASE_URL=/mlhub/) in a real browser: log in, create a
workspace on the portal's page, open JupyterLab through the hub's OAuth login, and log out of
both, every step under the prefix."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_workspace_pages import log_in, open_from_row, submit_new_workspace
from tests.hub_stack import running_stack

pytestmark = pytest.mark.browser

JUDY = ("judy", "judy-pass-1234")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """This module's stack: process-mode workspaces under /mlhub/ (``hub.url`` ends in it)."""
    yield from running_stack(
        tmp_path_factory.mktemp("mlhub-prefixed-browser"),
        "process",
        extra={"MLHUB_BASE_URL": "/mlhub/"},
    )


@pytest.fixture(scope="module")
def judy(hub):
    hub.user_create(*JUDY)
    return JUDY


def test_the_root_sends_the_browser_to_the_prefix(hub, page: Page):
    parts = urlsplit(hub.url)
    page.goto(f"{parts.scheme}://{parts.netloc}/")
    expect(page).to_have_url(f"{hub.url}/accounts/login/?next=/mlhub/")


def test_a_person_opens_jupyterlab_under_the_prefix(hub, context, page: Page, judy):
    username, password = judy
    assert hub.url.endswith("/mlhub")
    log_in(page, hub, username, password)
    submit_new_workspace(page, "notes")
    row = page.locator('[data-workspace="notes"]')
    # The page follows the start through the API under the prefix (workspaces.js).
    expect(row.locator(".state")).to_have_text("Running", timeout=90_000)

    own_origin = hub.url.replace("://", f"://{username}.")  # keeps /mlhub
    navigations = open_from_row(context, row, f"{own_origin}/user/{username}/notes/lab")
    # The hub's OAuth login, every hop under the prefix, without a second login form.
    assert any(url.startswith(f"{hub.url}/o/authorize/") for url in navigations), navigations
    assert any(url.startswith(f"{hub.url}/hub/oauth_callback") for url in navigations)
    assert not any("/accounts/login" in url for url in navigations), navigations


def test_logging_out_in_the_hub_ends_both_sessions_under_the_prefix(hub, page: Page, judy):
    username, password = judy
    log_in(page, hub, username, password)
    page.goto(f"{hub.url}/hub/home")
    expect(page.locator("#login_widget")).to_contain_text(username)

    page.goto(f"{hub.url}/hub/logout")  # where JupyterLab's File > Log Out goes
    expect(page).to_have_url(f"{hub.url}/accounts/logout/")
    with page.expect_navigation():
        page.get_by_role("button", name="Log out of MLHub").click()
    expect(page).to_have_url(f"{hub.url}/accounts/login/")

    page.goto(f"{hub.url}/hub/home")
    expect(page).to_have_url(re.compile(r"/mlhub/accounts/login/\?next=/mlhub/o/authorize/"))
