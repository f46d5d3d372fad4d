"""The pages in a real browser: log in, create and open a workspace, bad input, log out of
both the portal and the hub, and what someone waiting for approval sees."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Request, expect

pytestmark = pytest.mark.browser

ERIN, FRANK, GRACE, HEIDI, IVAN = (
    ("erin", "erin-pass-1234"),
    ("frank", "frank-pass-1234"),
    ("grace", "grace-pass-1234"),
    ("heidi", "heidi-pass-1234"),
    ("ivan", "ivan-pass-1234"),
)
SCREENSHOT = "/tmp/mlhub-workspaces.png"


@pytest.fixture
def person(hub, request):
    """An approved person (from the test's parameter) whose workspaces go after the test."""
    username, password = request.param
    hub.user_create(username, password)
    token = hub.token_for(username, password)
    yield username, password, token
    api = hub.api(token)
    for workspace in api.get(f"{hub.url}/api/v1/workspaces/", timeout=30).json()["results"]:
        api.delete(f"{hub.url}/api/v1/workspaces/{workspace['id']}/", timeout=30)


def log_in(page: Page, hub, username: str, password: str) -> None:
    page.goto(f"{hub.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("main button[type=submit]")
    expect(page).to_have_url(f"{hub.url}/")
    expect(page.locator("h1")).to_have_text("My workspaces")


def submit_new_workspace(page: Page, name: str) -> None:
    page.fill("#id_name", name)
    with page.expect_navigation():
        page.get_by_role("button", name="Create and start").click()


def workspace_names(hub, token: str) -> list[str]:
    response = hub.api(token).get(f"{hub.url}/api/v1/workspaces/", timeout=30)
    assert response.status_code == 200, response.text
    return [workspace["name"] for workspace in response.json()["results"]]


def open_from_row(context, row, lab_url: str) -> list[str]:
    """Click the workspace row's "Open" (a new tab), wait until JupyterLab shows at
    ``lab_url``; the URLs the browser navigated to on the way (the OAuth hops)."""
    navigations: list[str] = []

    def record(request: Request) -> None:
        if request.is_navigation_request():
            navigations.append(request.url)

    context.on("request", record)
    with context.expect_page() as opened:  # "Open" has target=_blank
        row.get_by_role("link", name="Open").click()
    lab = opened.value
    lab.wait_for_url(lab_url)
    expect(lab).to_have_title(re.compile("JupyterLab"))
    expect(lab.locator("#jp-main-dock-panel")).to_be_visible()
    return navigations


@pytest.mark.parametrize("person", [ERIN], indirect=True)
def test_a_person_creates_a_workspace_and_opens_jupyterlab(hub, context, page, person):
    username, password, _ = person
    log_in(page, hub, username, password)
    expect(page.get_by_text("You have no workspaces yet.")).to_be_visible()

    submit_new_workspace(page, "notes")
    expect(page).to_have_url(f"{hub.url}/")  # back on "My workspaces"
    row = page.locator('[data-workspace="notes"]')
    expect(row.locator(".state")).to_have_text("Starting")
    # The page refreshes itself every 2 s while a workspace is busy.
    expect(row.locator(".state")).to_have_text("Running", timeout=90_000)
    page.screenshot(path=SCREENSHOT, full_page=True)

    # On the person's own origin, not the portal's.
    own_origin = hub.url.replace("://", f"://{username}.")
    navigations = open_from_row(context, row, f"{own_origin}/user/{username}/notes/lab")
    # Being logged in to the portal is enough: the OAuth hops happen without a login form.
    assert any("/o/authorize/" in url for url in navigations), navigations
    assert not any("/accounts/login" in url for url in navigations), navigations


@pytest.mark.parametrize("person", [FRANK], indirect=True)
def test_a_bad_workspace_name_is_refused_with_a_clear_error(hub, page, person):
    username, password, token = person
    log_in(page, hub, username, password)
    # Drop the browser-side check so the server's validation is what is tested.
    page.eval_on_selector("#id_name", "input => input.removeAttribute('pattern')")
    submit_new_workspace(page, "Bad_Name")

    expect(page.locator(".messages .error")).to_contain_text(
        "workspace name 'Bad_Name' is not valid"
    )
    expect(page.locator("#id_name")).to_have_value("Bad_Name")  # kept for correcting
    assert workspace_names(hub, token) == []


@pytest.mark.parametrize("person", [GRACE], indirect=True)
def test_logging_out_ends_both_the_portal_and_the_hub_sessions(hub, page, person):
    username, password, _ = person
    log_in(page, hub, username, password)
    page.goto(f"{hub.url}/hub/home")  # logs in to the hub too, through OAuth
    expect(page).to_have_url(f"{hub.url}/hub/home")
    expect(page.locator("#login_widget")).to_contain_text(username)

    page.goto(f"{hub.url}/")
    with page.expect_navigation():
        page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))

    page.goto(f"{hub.url}/")
    expect(page).to_have_url(f"{hub.url}/accounts/login/?next=/")
    expect(page.locator("#id_username")).to_be_visible()

    # The hub no longer knows her: it sends her through OAuth to the portal's login form.
    page.goto(f"{hub.url}/hub/home")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/o/authorize/"))
    expect(page.locator("#id_username")).to_be_visible()
    expect(page.locator("#login_widget")).to_have_count(0)


@pytest.mark.parametrize("person", [IVAN], indirect=True)
def test_logging_out_in_the_hub_asks_before_ending_the_portal_session(hub, page, person):
    username, password, _ = person
    log_in(page, hub, username, password)
    page.goto(f"{hub.url}/hub/home")
    expect(page.locator("#login_widget")).to_contain_text(username)

    page.goto(f"{hub.url}/hub/logout")  # where JupyterLab's File > Log Out goes
    expect(page).to_have_url(f"{hub.url}/accounts/logout/")
    expect(page.locator("h1")).to_have_text("Log out of MLHub?")
    with page.expect_navigation():
        page.get_by_role("button", name="Log out of MLHub").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))

    page.goto(f"{hub.url}/")
    expect(page).to_have_url(f"{hub.url}/accounts/login/?next=/")


def test_a_person_waiting_for_approval_sees_why_and_no_create_form(hub, page):
    hub.user_create(*HEIDI, approved=False)
    log_in(page, hub, *HEIDI)
    expect(page.get_by_text("waiting for an administrator's approval")).to_be_visible()
    expect(page.get_by_role("heading", name="New workspace")).to_have_count(0)
    expect(page.locator("#id_name")).to_have_count(0)
