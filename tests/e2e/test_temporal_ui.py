"""The Temporal UI of the devstack in a real browser (Debian chromium, headless, Playwright).

Checks: the workflow list filtered by the search attribute `XTrinodePhase="Ready"` shows the demo
runtime's workflow; its Search Attributes tab shows XTrinodeNamespace, XTrinodeName and
XTrinodePhase. Screenshots of both pages go to the artifacts dir. `xtrinode dev down` then stops
the devstack and leaves no process.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from devstack_helpers import RunningDevstack, alive, start_demo

CHROMIUM = Path("/usr/bin/chromium")
WORKFLOW_ID = "xtrinode/analytics/demo"


@pytest.fixture
def devstack(tmp_path: Path) -> Iterator[RunningDevstack]:
    stack = start_demo(tmp_path / "state")
    yield stack
    pids = stack.pids()
    assert "stopped" in stack.sh(f".venv/bin/xtrinode dev down --state-dir {stack.state_dir}", timeout=120)
    stack.stop()
    assert not [p for p in pids.values() if alive(p)], "`xtrinode dev down` left processes behind"


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_temporal_ui_lists_the_runtime_by_its_search_attributes(devstack: RunningDevstack, artifacts_dir: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make setup` as root (installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    ui = devstack.info["temporal_ui_url"]
    query = urllib.parse.quote('XTrinodePhase="Ready"')
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{ui}/namespaces/default/workflows?query={query}")
            page.get_by_text(WORKFLOW_ID, exact=True).first.wait_for(timeout=30_000)
            page.get_by_text("RuntimeWorkflow").first.wait_for(timeout=10_000)
            page.screenshot(path=str(artifacts_dir / "temporal-ui-list-ready.png"))

            page.goto(f"{ui}/namespaces/default/workflows/{urllib.parse.quote(WORKFLOW_ID, safe='')}")
            page.get_by_role("link", name="Search Attributes").or_(
                page.get_by_role("tab", name="Search Attributes")).first.click()
            for text in ('"XTrinodePhase"', '"Ready"', '"XTrinodeName"', '"demo"', '"analytics"'):
                page.get_by_text(text).first.wait_for(timeout=20_000)
            page.screenshot(path=str(artifacts_dir / "temporal-ui-search-attributes.png"), full_page=True)
        finally:
            browser.close()
