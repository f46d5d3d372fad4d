"""A real Chromium (Debian's, driven by Playwright) against the real stack."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.parts import require

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

CHROMIUM = Path("/usr/bin/chromium")
# Keep Chromium quiet and offline apart from the stack under test.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def playwright_driver():
    """Playwright's one driver for the session: a test that needs Chromium started with
    other flags launches it from here (a second driver cannot run in the same thread)."""
    require(
        CHROMIUM.exists() and importlib.util.find_spec("playwright") is not None,
        f"needs Playwright and Debian's Chromium at {CHROMIUM}",
    )
    from playwright.sync_api import Error, Page, sync_playwright

    with sync_playwright() as driver, pytest.MonkeyPatch.context() as patch:
        patch.setattr(Page, "goto", _retried_on_network_change(Page.goto, Error))
        yield driver


# Chromium aborts a navigation in flight with net::ERR_NETWORK_CHANGED when the host's addresses
# change; in CI they do (Docker's per-person networks, the test cluster's pods beside the
# browser tests: CI 2026-12-06, a portal login page). That is the host, not the stack under
# test, so a page load (a GET, repeatable) is tried once more; every other error stands.
def _retried_on_network_change(goto, error_type):
    @functools.wraps(goto)
    def retried(page, url, **options):
        try:
            return goto(page, url, **options)
        except error_type as error:
            if "net::ERR_NETWORK_CHANGED" not in str(error):
                raise
            return goto(page, url, **options)

    return retried


@pytest.fixture(scope="session")
def browser(playwright_driver):
    chromium = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield chromium
    chromium.close()


def contexts(browser: Browser, **options) -> Iterator[Callable[[], BrowserContext]]:
    """For a fixture to ``yield from``: a maker of fresh contexts (one per person) with these
    options and a 30 s timeout, each closed when the test ends."""
    opened: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = browser.new_context(**options)
        context.set_default_timeout(30_000)
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()


@pytest.fixture
def context(browser):
    """A fresh context per test: no cookies shared between people or tests."""
    context = browser.new_context()
    context.set_default_timeout(30_000)
    yield context
    context.close()


@pytest.fixture
def page(context):
    return context.new_page()
