"""The data-science workspace in Chromium (Docker mode, the data-science template): the lab
titled with the workspace's name, a cell that plots with matplotlib showing its picture, and
each tool (VS Code, TensorBoard) inside the workspace. The pictures are those docs/performance.md
shows: docs/img/workspace-ds-*.png (test_scenarios.py's shoot(): MLHUB_UPDATE_SCREENSHOTS=1
replaces them; an ordinary run writes them to a temporary folder)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_scenarios import new_context, shoot  # noqa: F401 (new_context: a fixture)
from tests.browser.test_workspace_pages import log_in
from tests.workspace_images import stack_fixture, workspace_create

pytestmark = [pytest.mark.browser, pytest.mark.docker]

HUB = "mlhib"
DANA = ("dana", "dana-pass-1234")
# A cold data-science lab loads more extensions than the lean one; a tool's first start
# unpacks its own (VS Code's workbench is the largest).
LOAD_MS = 120_000
PLOT = (
    "import matplotlib.pyplot as plt\n"
    "plt.plot([1, 2, 3, 4], [1, 4, 9, 16])\n"
    "plt.title('squares')\n"
    "plt.show()"
)


stack = stack_fixture(HUB)


@pytest.fixture(scope="module")
def science(stack):
    stack.user_create(*DANA)
    workspace_create(stack, stack.token_for(*DANA), "science", "data-science")
    return stack.url.replace("://", f"://{DANA[0]}.") + f"/user/{DANA[0]}/science/"


@pytest.fixture
def page(new_context):  # noqa: F811 -- the fixture imported above
    return new_context().new_page()


def test_a_cell_plots_with_matplotlib_and_the_picture_shows(stack, science, page):
    log_in(page, stack, *DANA)
    page.goto(science + "lab", timeout=LOAD_MS)
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=LOAD_MS)
    expect(page).to_have_title(re.compile("science · JupyterLab"), timeout=LOAD_MS)
    # The launcher offers the tools beside the notebook.
    launcher = page.locator(".jp-Launcher")
    for title in ("VS Code", "TensorBoard"):  # "[↗]": they open in a tab of their own
        expect(launcher.get_by_role("button", name=re.compile(f"^{title}"))).to_be_visible()
    shoot(page, "workspace-ds-launcher.png")

    # The first "Python 3" card is the notebook's (the console's comes after it).
    launcher.get_by_role("button", name=re.compile("^Python 3")).first.click()
    cell = page.locator(".jp-NotebookPanel .jp-Cell .cm-content").first
    expect(cell).to_be_visible(timeout=LOAD_MS)
    # Typed once the kernel is up and the editor holds it (typed into an editor still being
    # made, the text went nowhere: a run of this test).
    expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=LOAD_MS)
    cell.click()
    cell.fill(PLOT)
    expect(cell).to_contain_text("plt.show()")
    page.keyboard.press("Shift+Enter")
    picture = page.locator(".jp-OutputArea-output img")
    expect(picture).to_be_visible(timeout=LOAD_MS)
    assert picture.first.get_attribute("src").startswith("data:image/png;base64,")
    # The status bar's memory against the workspace's limit (jupyter-resource-usage).
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Mem:", timeout=30_000)
    shoot(page, "workspace-ds-plot.png")


@pytest.mark.parametrize(
    ("tool", "shown", "picture"),
    [
        ("vscode/", ".monaco-workbench", "workspace-ds-vscode.png"),
        ("tensorboard/", "tb-webapp", "workspace-ds-tensorboard.png"),
    ],
)
def test_each_tool_opens_inside_the_workspace(stack, science, page, tool, shown, picture):
    log_in(page, stack, *DANA)
    page.goto(science + tool, timeout=LOAD_MS)
    expect(page.locator(shown).first).to_be_visible(timeout=LOAD_MS)
    page.wait_for_timeout(3000)  # the workbench's panels settle after it shows
    shoot(page, picture)
