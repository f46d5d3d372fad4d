"""The MLHub image in a real browser over https on its one port (docs/deploy.md): log in,
create a workspace in the portal's form, open it on the person's own origin, JupyterLab
loads. The certificate is the one the image made at its first start, which this browser was
never told to trust: errors about it are ignored here and checked in tests/deploy/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_workspace_pages import log_in, submit_new_workspace

pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.hub]

JUDY = ("judy", "judy-pass-1234")


def test_a_person_opens_a_workspace_through_the_images_https_port(browser, mlhub, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(mlhub.cert))  # this process's own requests
    mlhub.user_create(*JUDY)
    context = browser.new_context(ignore_https_errors=True)
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        log_in(page, mlhub, *JUDY)
        # The image collected the jupyterhub package's Bootstrap at its start and serves it.
        expect(page.locator("header .navbar")).to_have_css("background-color", "rgb(248, 249, 250)")
        submit_new_workspace(page, "course")
        row = page.locator('[data-workspace="course"]')
        expect(row.locator(".state")).to_have_text("Running", timeout=90_000)
        with context.expect_page() as opened:
            row.get_by_role("link", name="Open").click()
        lab = opened.value
        lab.wait_for_url(f"https://judy.localhost:{mlhub.port}/user/judy/course/lab")
        expect(lab).to_have_title(re.compile("JupyterLab"))
        expect(lab.locator("#jp-main-dock-panel")).to_be_visible()
        # Every cookie of the portal, the hub and the workspace is Secure; the logins are
        # __Host- cookies, which no subdomain can set.
        cookies = context.cookies()
        assert [c["name"] for c in cookies if not c["secure"]] == []
        hub_login = [c for c in cookies if c["name"].endswith("jupyterhub-hub-login")]
        assert [(c["name"], c["path"]) for c in hub_login] == [("__Host-jupyterhub-hub-login", "/")]
        assert "__Host-mlhub-portal-session" in {c["name"] for c in cookies}
    finally:
        context.close()
