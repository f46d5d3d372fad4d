"""The usage pages in a real Chromium against the real stack: a person's run of a workspace
shows on their /usage/ (the charts drawn, the run counted, the budget's bar) and on the admins'
/dashboard/usage/, the CSV says the same as the API, and nothing on either page breaks the
Content-Security-Policy. They take the screenshots docs/admin-guide.md shows."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from lib.charts import number
from tests.browser.conftest import contexts
from tests.browser.test_csp import REPORT_VIOLATIONS
from tests.browser.test_scenarios import PASSWORD, VIEWPORT, shoot, unique
from tests.browser.test_workspace_pages import log_in
from tests.hub_stack import ADMIN_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def person(hub):
    """An approved person with one finished run of workspace "thesis", and a CPU budget;
    (username, their API token, the API's figures for today)."""
    username = unique("uma")
    hub.user_create(username, PASSWORD)
    token = hub.token_for(username, PASSWORD)
    api = hub.api(token)
    created = api.post(f"{hub.url}/api/v1/workspaces/", json={"name": "thesis"}, timeout=30)
    assert created.status_code == 201, created.text
    workspace = created.json()["id"]
    hub.wait_for_state(token, workspace, "running")
    time.sleep(2)  # a run long enough to show in the hours
    assert api.post(f"{hub.url}/api/v1/workspaces/{workspace}/stop/", timeout=30).ok
    hub.wait_for_state(token, workspace, "stopped")
    budget = {"user": username, "cpu_hours": 10}
    assert hub.api().post(f"{hub.url}/api/v1/budgets/", json=budget, timeout=30).status_code == 201
    today = datetime.now(UTC).date().isoformat()
    usage = api.get(f"{hub.url}/api/v1/usage/", params={"since": today}, timeout=30).json()
    assert usage["results"][0]["runs"] == 1, usage
    yield username, token, usage["results"][0]
    api.delete(f"{hub.url}/api/v1/workspaces/{workspace}/", timeout=30)


@pytest.fixture
def open_page(browser):
    """``open_page()``: a page of a fresh context at the screenshots' size, whose CSP
    violations (console errors and page errors) are collected in ``open_page.violations``."""
    found: list[str] = []
    made = contexts(browser, viewport=VIEWPORT)
    make = next(made)

    def opened() -> Page:
        context = make()
        context.add_init_script(REPORT_VIOLATIONS)
        page = context.new_page()
        page.on(
            "console",
            lambda m: "Content Security Policy" in m.text and found.append(f"{page.url}: {m.text}"),
        )
        page.on(
            "pageerror",
            lambda e: "Content Security Policy" in str(e) and found.append(f"{page.url}: {e}"),
        )
        return page

    opened.violations = found
    yield opened
    next(made, None)  # closes the contexts


def test_a_persons_and_the_admins_usage_pages(hub, person, open_page):
    username, _, today = person
    page = open_page()
    log_in(page, hub, username, PASSWORD)
    page.get_by_role("link", name="Usage", exact=True).click()
    expect(page.locator("h1")).to_have_text("Your usage")
    page.wait_for_load_state("networkidle")
    expect(page.locator("svg#day-chart")).to_be_visible()
    expect(page.locator("svg#budget-chart")).to_be_visible()
    expect(page.locator("svg#day-chart rect.column")).to_have_count(30)
    expect(page.locator("[data-workspace=thesis] td").nth(1)).to_have_text("1")  # one run
    cpu_hours = number(today["cpu_hours"])  # as the API counts it, as the page writes it
    expect(page.locator("[data-workspace=thesis] td").nth(2)).to_have_text(cpu_hours)
    expect(page.locator("[data-total-cpu]")).to_have_text(cpu_hours)
    expect(page.locator("#budget-chart .bar title")).to_contain_text("of 10 core-hours")
    shoot(page, "usage.png", full_page=True)

    # The CSV of today: the API's figures, exactly.
    page.goto(f"{hub.url}/usage/?since={today['period']}&until={today['period']}")
    with page.expect_download() as download:
        page.locator("#csv-link").click()
    assert download.value.suggested_filename == (
        f"usage-{username}-{today['period']}-to-{today['period']}.csv"
    )
    rows = list(csv.reader(io.StringIO(download.value.path().read_text())))
    assert rows[1] == [
        today["period"],
        "person",
        username,
        *(str(float(today[f])) for f in ("cpu_hours", "memory_gib_hours", "gpu_hours")),
        "1",
    ]

    admin = open_page()
    log_in(admin, hub, "admin", ADMIN_PASSWORD)
    admin.goto(f"{hub.url}/dashboard/")
    admin.locator("#usage-link").click()
    expect(admin.locator("h1")).to_have_text("Usage")
    admin.wait_for_load_state("networkidle")
    # (By group: only if some test's person is in one; this one is in none.)
    for chart in ("templates-chart", "people-chart"):
        expect(admin.locator(f"svg#{chart}")).to_be_visible()
    expect(admin.locator("#people-chart .bar title", has_text=f"{username}:")).to_have_count(1)
    expect(admin.locator(f"[data-user={username}] td").nth(1)).to_have_text("1")
    shoot(admin, "usage-admin.png", full_page=True)

    assert open_page.violations == []
