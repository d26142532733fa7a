"""Shared pieces of the browser tests: Debian's headless Chromium driven by Playwright.

The fixtures `browser` and `page` are made available to every test by tests/conftest.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from temporalio.client import WorkflowHandle

from reviewer_portal.inbox.models import Gate

CHROMIUM = "/usr/bin/chromium"
# The machine has no internet: without these Chromium stalls on refused background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"
# A decision waits for a round trip through Temporal; leave it room on a slow CI machine.
TIMEOUT_MS = 15_000
# What Chromium refused under the portal's Content-Security-Policy, across every page of a test.
CSP_VIOLATIONS: list[str] = []
# Chromium's own message does not say which element; this names it.
REPORT_CSP_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (event) => {
  const element = event.target && event.target.outerHTML ? event.target.outerHTML.slice(0, 300) : String(event.target);
  console.error('Content Security Policy refused ' + event.violatedDirective + ' on ' + encodeURIComponent(element));
});
"""


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop running in the test thread, so Django would refuse
    # the test's own (sync) ORM calls as if they came from async code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        CSP_VIOLATIONS.clear()
        yield browser
        browser.close()
    # Every page works under the strict policy: no inline script or style was needed (and refused).
    assert not CSP_VIOLATIONS, CSP_VIOLATIONS


@pytest.fixture
def page(browser: Browser) -> Page:
    return new_page(browser)


def new_page(browser: Browser, width: int = 1280) -> Page:
    """A page in a browser context of its own (own cookies, own session)."""
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    page.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text and CSP_VIOLATIONS.append(unquote(message.text))
        ),
    )
    return page


def signed_in_page(browser: Browser, base_url: str, username: str, width: int = 1280) -> Page:
    """A reviewer signed in in their own browser context, with the deferred scripts run."""
    page = new_page(browser, width)
    log_in(page, base_url, username)
    page.wait_for_load_state()
    return page


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".who")).to_contain_text(username)


def mark_document(page: Page) -> None:
    """Tag the loaded document; the tag survives an htmx swap but not a page load."""
    page.evaluate("window.__sameDocument = true")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded instead of swapping in place"


def wait_for_projected_gates(*handles: WorkflowHandle, timeout: float = 30) -> list[Gate]:
    """The workflow publishes its gate by an activity after opening it: wait for the portal's rows."""
    ids = [h.id for h in handles]
    deadline = time.monotonic() + timeout
    while True:
        gates = {g.workflow_id: g for g in Gate.objects.filter(workflow_id__in=ids)}
        if len(gates) == len(ids):
            return [gates[i] for i in ids]
        assert time.monotonic() < deadline, f"gates of {sorted(set(ids) - set(gates))} never projected"
        time.sleep(0.1)
