"""The three ways to run MLHub, end to end in a real browser: people sign up and an admin
approves them, an admin creates a workspace for someone, and the user hub (one workspace a
person, on a stack of its own). They take the screenshots docs/admin-guide.md shows."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Dialog, Locator, Page, expect

from tests.browser.conftest import contexts
from tests.browser.test_workspace_pages import log_in, submit_new_workspace
from tests.hub_stack import ADMIN_PASSWORD, RunningHub, running_stack

pytestmark = pytest.mark.browser

# The pictures docs/admin-guide.md shows. Every run takes them (a page that cannot render
# fails); they replace those in docs/img only with MLHUB_UPDATE_SCREENSHOTS=1, so an ordinary
# run leaves the checkout clean.
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "img"
IMAGES = (
    DOCS_IMAGES
    if os.environ.get("MLHUB_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="mlhub-screenshots-"))
)
VIEWPORT = {"width": 1280, "height": 800}
ADMIN = ("admin", ADMIN_PASSWORD)
# A local-process workspace starts in a few seconds; JupyterLab's first load takes longer.
START_MS = 90_000
TEMPLATE = {
    "name": "course",
    "description": "ML course: up to 2 cores and 4 GB, for 7 days (30 at most)",
    "cpu_max": 2,
    "memory_max": "4G",
    "days_to_live_default": 7,
    "days_to_live_max": 30,
}
HOME = "home"  # MLHUB_DEFAULT_WORKSPACE_NAME of the user-hub stack
ONE_WORKSPACE = (
    "This hub gives each person one workspace (MLHUB_NAMED_WORKSPACES is off); "
    "start the one on your page."
)


# Shares no character with the names below or their hex suffixes: "<name>-pass-1234" was
# refused as too similar to "<name>4a21" when the suffix's characters were in it (a CI run).
PASSWORD = "krtw-xyz-quvoh"


def unique(name: str) -> str:
    """A username no earlier run used: lowercase letters and digits, as DNS labels want."""
    return f"{name}{secrets.token_hex(2)}"


def shoot(target: Page | Locator, name: str, *, full_page: bool = False) -> None:
    """A picture for docs/img; elements by themselves, pages as wide as the viewport."""
    path = IMAGES / name
    if isinstance(target, Page):
        target.screenshot(path=path, full_page=full_page)
    else:
        target.screenshot(path=path)


@pytest.fixture
def new_context(browser) -> Iterator[Callable[[], BrowserContext]]:
    """Fresh contexts, one per person, all at the screenshots' size."""
    yield from contexts(browser, viewport=VIEWPORT)


@pytest.fixture
def cleanup() -> Iterator[Callable[[RunningHub, str], None]]:
    """``cleanup(hub, token)``: delete that person's workspaces after the test, pass or fail."""
    owners: list[tuple[RunningHub, str]] = []
    yield lambda hub, token: owners.append((hub, token))
    for hub, token in owners:
        api = hub.api(token)
        for workspace in api.get(f"{hub.url}/api/v1/workspaces/", timeout=30).json()["results"]:
            api.delete(f"{hub.url}/api/v1/workspaces/{workspace['id']}/", timeout=30)


@pytest.fixture
def template(hub) -> Iterator[dict]:
    response = hub.api().post(f"{hub.url}/api/v1/templates/", json=TEMPLATE, timeout=30)
    assert response.status_code == 201, response.text
    yield response.json()
    # Deleted workspaces keep their rows until the hub has removed them; until then the
    # template is still in use (409).
    url = f"{hub.url}/api/v1/templates/{response.json()['id']}/"
    deadline = time.monotonic() + 60
    while (answer := hub.api().delete(url, timeout=30)).status_code == 409:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.5)
    assert answer.status_code == 204, answer.text


def accept_next_dialog(page: Page) -> list[str]:
    """Accept the next confirm() and keep its question, for the test to check."""
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    return asked


def workspace_origin(hub: RunningHub, username: str) -> str:
    return hub.url.replace("://", f"://{username}.")


def open_in_jupyterlab(page: Page, hub: RunningHub, username: str, name: str) -> Page:
    """Click the card's Open (a new tab) and wait for JupyterLab on the owner's origin."""
    with page.context.expect_page() as opened:
        page.locator(f'[data-workspace="{name}"]').get_by_role("link", name="Open").click()
    lab = opened.value
    lab.wait_for_url(
        f"{workspace_origin(hub, username)}/user/{username}/{name}/lab", timeout=START_MS
    )
    expect(lab).to_have_title(re.compile("JupyterLab"), timeout=START_MS)
    expect(lab.locator("#jp-main-dock-panel")).to_be_visible(timeout=START_MS)
    expect(lab.locator(".jp-Launcher")).to_be_visible(timeout=START_MS)  # fully loaded
    return lab


# ``template`` before ``cleanup``: fixtures end in reverse, so the workspaces go first.
def test_someone_signs_up_is_approved_and_runs_a_workspace_from_a_template(
    hub, new_context, template, cleanup
):
    username, password = unique("dana"), PASSWORD
    page = new_context().new_page()

    # Sign up.
    page.goto(f"{hub.url}/accounts/signup/")
    expect(page.locator("h1")).to_have_text("Sign up")
    page.fill("#id_username", username)
    page.fill("#id_email", f"{username}@uni.example")
    page.fill("#id_password1", password)
    page.fill("#id_password2", password)
    shoot(page, "signup.png")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(f"{hub.url}/accounts/login/")
    expect(page.locator(".messages .success")).to_have_text(
        "Signed up. An administrator must approve your account; log in to see when."
    )

    # Wait: she may log in, and is told why she cannot create anything.
    log_in(page, hub, username, password)
    expect(page.locator("main > p.messages .error")).to_have_text(
        "Your account is waiting for an administrator's approval."
    )
    expect(page.locator("#new-workspace")).to_have_count(0)
    expect(page.locator("#id_name")).to_have_count(0)
    shoot(page, "waiting.png")

    # An admin approves her on the dashboard.
    admin = new_context().new_page()
    log_in(admin, hub, *ADMIN)
    admin.goto(f"{hub.url}/dashboard/")
    waiting = admin.locator(f'#waiting [data-person="{username}"]')
    expect(waiting.locator("td").nth(1)).to_have_text(f"{username}@uni.example")
    shoot(admin, "dashboard.png", full_page=True)
    with admin.expect_navigation():
        waiting.get_by_role("button", name="Approve").click()
    expect(admin).to_have_url(f"{hub.url}/dashboard/")
    expect(admin.locator(".messages .success")).to_have_text(f"{username} is approved.")
    expect(waiting).to_have_count(0)
    cleanup(hub, hub.token_for(username, password))  # possible now that she is approved

    # She reloads and creates a workspace from the course's template.
    page.reload()
    expect(page.locator("main > p.messages .error")).to_have_count(0)
    form = page.locator("#new-workspace")
    description = form.locator("[data-template-description]")
    expect(description).not_to_have_text(TEMPLATE["description"])  # the default template's
    form.locator("select[name=template]").select_option(TEMPLATE["name"])
    expect(description).to_have_text(TEMPLATE["description"])
    expect(form.locator('[data-help-for="days_to_live"]')).to_have_text("default 7, at most 30")
    page.fill("#id_name", "thesis")
    shoot(form, "create-form.png")
    submit_new_workspace(page, "thesis")
    expect(page).to_have_url(f"{hub.url}/")
    expect(page.locator(".messages .success")).to_have_text("Workspace thesis is starting.")

    # She watches it start: the page follows the hub's progress and reloads by itself.
    card = page.locator('[data-workspace="thesis"]')
    expect(card.locator(".state")).to_have_text("Starting")
    expect(card.locator("[data-progress] progress")).to_be_visible()
    shoot(page, "starting.png")
    expect(card.locator(".state")).to_have_text("Running", timeout=START_MS)
    expect(card.locator("[data-progress]")).to_have_count(0)
    expect(card.locator("dt:text-is('Template') + dd")).to_have_text(TEMPLATE["name"])
    expect(card.locator("[data-time-left]")).to_contain_text("6 days")
    shoot(page, "running.png")

    # Her account page: quota use, tokens and SSH keys.
    page.goto(f"{hub.url}/accounts/")
    expect(page.locator("main .card").first).to_contain_text(f"{username}@uni.example · Approved")
    shoot(page, "account.png", full_page=True)
    page.goto(f"{hub.url}/")

    # She opens it in the same browser: no second login.
    open_in_jupyterlab(page, hub, username, "thesis").close()

    # Stop (it asks first), then delete (it asks too): the card is gone.
    asked = accept_next_dialog(page)
    with page.expect_navigation():
        card.get_by_role("button", name="Stop").click()
    assert asked == ["Stop thesis? Unsaved work in open notebooks is lost; files stay."]
    expect(card.locator(".state")).to_have_text("Stopped", timeout=START_MS)
    expect(card.get_by_role("link", name="Open")).to_have_count(0)

    asked = accept_next_dialog(page)
    with page.expect_navigation():
        card.get_by_role("button", name="Delete").click()
    assert asked == ["Delete thesis and all its files? This cannot be undone."]
    expect(card).to_have_count(0)
    expect(page.get_by_text("You have no workspaces yet.")).to_be_visible()


def test_an_admin_creates_a_workspace_that_its_owner_then_opens(hub, new_context, cleanup):
    username, password = unique("emil"), PASSWORD
    hub.user_create(username, password)
    cleanup(hub, hub.token_for(username, password))

    admin = new_context().new_page()
    log_in(admin, hub, *ADMIN)
    form = admin.locator("#new-workspace")
    form.locator("select[name=owner]").select_option(username)
    admin.fill("#id_name", "lab")
    shoot(form, "admin-create-for.png")
    submit_new_workspace(admin, "lab")
    expect(admin).to_have_url(f"{hub.url}/")
    expect(admin.locator(".messages .success")).to_have_text(
        f"Workspace {username}/lab is starting; {username} finds it on their page."
    )
    expect(admin.locator('[data-workspace="lab"]')).to_have_count(0)  # not the admin's own

    page = new_context().new_page()
    log_in(page, hub, username, password)
    card = page.locator('[data-workspace="lab"]')
    expect(card.locator(".state")).to_have_text("Running", timeout=START_MS)
    shoot(page, "created-for.png")
    open_in_jupyterlab(page, hub, username, "lab").close()


@pytest.fixture(scope="module")
def user_hub(tmp_path_factory):
    """A second stack, in user-hub mode: the shared one runs with named workspaces."""
    yield from running_stack(
        tmp_path_factory.mktemp("mlhub-user-hub"),
        "process",
        hub_name="mlhu",
        extra={"MLHUB_NAMED_WORKSPACES": "false", "MLHUB_DEFAULT_WORKSPACE_NAME": HOME},
    )


def test_in_the_user_hub_logging_in_makes_ones_only_workspace(user_hub, new_context, cleanup):
    hub = user_hub
    username, password = unique("finn"), PASSWORD
    hub.user_create(username, password)
    token = hub.token_for(username, password)  # an API login is not a login to the pages
    cleanup(hub, token)
    mine = hub.api().get(f"{hub.url}/api/v1/workspaces/", params={"owner": username}, timeout=30)
    assert mine.status_code == 200 and mine.json()["results"] == [], mine.text

    page = new_context().new_page()
    log_in(page, hub, username, password)
    expect(page.locator("[data-workspace]")).to_have_count(1)
    card = page.locator(f'[data-workspace="{HOME}"]')
    expect(card.locator("h2")).to_have_text(HOME)
    expect(page.locator("#new-workspace")).to_have_count(0)
    expect(page.get_by_role("heading", name="New workspace")).to_have_count(0)

    # The login queued its start: the card shows it starting (queued, then the hub's
    # progress) and the page follows it to Running by itself, no reload.
    (home,) = hub.api(token).get(f"{hub.url}/api/v1/workspaces/", timeout=30).json()["results"]
    assert (home["name"], home["template"]) == (HOME, "default")
    expect(card.locator(".state")).to_have_text("Running", timeout=90_000)
    shoot(page, "user-hub.png")

    refused = hub.api(token).post(
        f"{hub.url}/api/v1/workspaces/", json={"name": "more"}, timeout=30
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"] == ONE_WORKSPACE
    open_in_jupyterlab(page, hub, username, HOME).close()
