"""Shared pieces of the browser tests: Debian's headless Chromium driven by Playwright.

The fixtures `browser` and `page` are made available to every test by tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from channels.layers import get_channel_layer
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect, sync_playwright
from temporalio.client import WorkflowHandle

from reviewer_portal.inbox.models import Gate
from reviewer_portal.live.broadcast import push_loop, send_to_groups
from reviewer_portal.live.groups import role_group

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
ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "var" / "screenshots"
# axe-core, from the npm registry (package.json; `make test` installs it): checks each page loaded.
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
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


# What axe-core found serious or critical, across every page of a test.
ACCESSIBILITY_VIOLATIONS: list[str] = []
# Runs in every document the tests load, once it has loaded (and again after an htmx swap settles,
# so partials are checked too). An init script, so the page's CSP does not apply to it.
RUN_AXE = """
(() => {
  if (window.top !== window || !window.axe) return;
  let running = false, again = false, swapped = false;
  const portal = () => document.querySelector('meta[name="application-name"][content="Reviewer portal"]');
  const check = async () => {
    if (!portal()) return;  // another site the tests open (Temporal's Web UI)
    if (running) { again = true; return; }
    running = true;
    swapped = false;
    try {
      const results = await window.axe.run(document, {resultTypes: ['violations']});
      // An htmx swap during the check may have shown axe a half-changed page: check again after it.
      if (swapped) { again = true; results.violations = []; }
      for (const v of results.violations) {
        if (v.impact !== 'serious' && v.impact !== 'critical') continue;
        const where = v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ');
        console.error('Accessibility (axe) ' + v.impact + ' ' + v.id + ': ' + v.help + ' at ' +
          location.pathname + ' on ' + encodeURIComponent(where));
      }
      if (!again) window.__axeChecks = (window.__axeChecks || 0) + 1;
    } catch (error) { /* the page navigated away mid-check */ }
    running = false;
    if (again) { again = false; check(); }
  };
  window.addEventListener('load', () => setTimeout(check, 0));
  document.addEventListener('htmx:beforeSwap', () => { swapped = true; });
  document.addEventListener('htmx:afterSettle', () => setTimeout(check, 0));
})();
"""


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop running in the test thread, so Django would refuse
    # the test's own (sync) ORM calls as if they came from async code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert AXE.exists(), f"{AXE} is missing: `make test` installs it (npm ci)"
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        CSP_VIOLATIONS.clear()
        ACCESSIBILITY_VIOLATIONS.clear()
        yield browser
        browser.close()
    # Every page works under the strict policy: no inline script or style was needed (and refused).
    assert not CSP_VIOLATIONS, CSP_VIOLATIONS
    # And every page and partial the test saw passed axe-core's serious and critical rules.
    assert not ACCESSIBILITY_VIOLATIONS, sorted(set(ACCESSIBILITY_VIOLATIONS))


@pytest.fixture
def page(browser: Browser) -> Page:
    return new_page(browser)


def new_page(browser: Browser, width: int = 1280) -> Page:
    """A page in a browser context of its own (own cookies, own session)."""
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    page.add_init_script(path=AXE)
    page.add_init_script(RUN_AXE)
    page.on("console", _collect_violations)
    return page


def _collect_violations(message: ConsoleMessage) -> None:
    if "Content Security Policy" in message.text:
        CSP_VIOLATIONS.append(unquote(message.text))
    elif message.text.startswith("Accessibility (axe)"):
        ACCESSIBILITY_VIOLATIONS.append(unquote(message.text))


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


def wait_for_axe(page: Page) -> None:
    """Wait until axe-core has checked the loaded page (it runs after the load event)."""
    page.wait_for_function("() => (window.__axeChecks || 0) >= 1")


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


def reload_until(page: Page, locator: Locator, text: str, timeout: float = 15) -> None:
    """Reload `page` until `locator` shows `text`. A decision's reply goes before the projection
    takes it (reviewer_portal/after_reply.py): a page read at once may still be the one before."""
    deadline = time.monotonic() + timeout
    while text not in locator.inner_text() and time.monotonic() < deadline:
        time.sleep(0.2)
        page.reload()
    expect(locator).to_contain_text(text)


def decided_in_projection(workflow_id: str, timeout: float = 15) -> Gate:
    """The gate row once it no longer waits: the decision's reply goes before the projection takes
    it (reviewer_portal/after_reply.py)."""
    deadline = time.monotonic() + timeout
    while (gate := Gate.objects.get(workflow_id=workflow_id)).status == Gate.Status.PENDING:
        assert time.monotonic() < deadline, f"the decision on {workflow_id} never reached the projection"
        time.sleep(0.1)
    return gate


def push(gate_id: str, version: int, role: str = "credit_officer", status: str = "pending") -> None:
    """A gate's push as the projection's writer sends it, through the channel layer."""
    event = {
        "type": "gate.changed",
        "gate_id": gate_id,
        "status": status,
        "role": role,
        "version": version,
    }
    asyncio.run_coroutine_threadsafe(
        send_to_groups(get_channel_layer(), [role_group(role)], event), push_loop()
    ).result(10)
