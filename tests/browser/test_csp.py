"""The portal's pages under its strict Content-Security-Policy in a real Chromium: nothing on
them is blocked, and what must run (the portal's CSS and JS, the admin, Swagger UI) does."""

from __future__ import annotations

import pytest
from playwright.sync_api import ConsoleMessage, Error, expect

from tests.browser.test_workspace_pages import log_in
from tests.hub_stack import ADMIN_PASSWORD

pytestmark = pytest.mark.browser

PAGES = [
    "/",
    "/accounts/login/",
    "/admin/",
    "/admin/accounts/user/",
    "/admin/accounts/user/add/",
    "/admin/password_change/",
    "/api/v1/docs/",
]
# Chromium logs a violation as a console error; the event also reaches the page, where this
# (injected by Playwright, outside the policy) reports it in words the filter below finds.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`Content Security Policy violation: ${event.violatedDirective} blocked `
    + `${event.blockedURI || "inline code"} on ${document.location.pathname}`);
});
"""


@pytest.fixture
def violations(context, page):
    """Every console message and page error that mentions the Content Security Policy."""
    found: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            found.append(f"{page.url}: {message.text}")

    def on_page_error(error: Error) -> None:
        if "Content Security Policy" in str(error):
            found.append(f"{page.url}: {error}")

    context.add_init_script(REPORT_VIOLATIONS)
    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    return found


def test_the_portal_admin_and_api_docs_break_no_rule_of_the_policy(hub, page, violations):
    log_in(page, hub, "admin", ADMIN_PASSWORD)
    # Both stylesheets are static files that apply: Bootstrap (the jupyterhub package's) gives
    # the navbar its colour, the portal's own, loaded after it, the buttons the hub's blue.
    expect(page.locator("header .navbar")).to_have_css("background-color", "rgb(248, 249, 250)")
    create = page.get_by_role("button", name="Create and start")
    expect(create).to_have_css("background-color", "rgb(44, 123, 182)")

    for path in PAGES:
        response = page.goto(f"{hub.url}{path}")
        assert response is not None and response.status == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"], path
        page.wait_for_load_state("networkidle")
        if path == "/api/v1/docs/":
            # Swagger UI renders only if its start-up script (docs/?script) ran.
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("MLHub API")
            page.locator(".opblock-summary").first.click()
            expect(page.locator(".opblock-body").first).to_be_visible()

    # An admin change page, reached the way a person does.
    page.goto(f"{hub.url}/admin/accounts/user/")
    with page.expect_navigation():
        page.locator("#result_list").get_by_role("link", name="admin", exact=True).click()
    expect(page.locator("h1")).to_have_text("Change user")
    page.wait_for_load_state("networkidle")

    assert violations == []
