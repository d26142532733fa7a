"""The inbox's re-reads in a real browser (issue 12, the portal under a team): a burst of live
pushes re-reads the table once per interval, not once per push, and the 20 s poll waits while
the socket is live and comes back when it drops.

The portal runs under daphne (WebSockets), as in tests/test_browser_live.py; pushes are sent from
this process through the real channel layer to the portal, and from there to the browser.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, Request, Route, expect

from reviewer_portal.inbox.models import Gate
from reviewer_portal.live.catch_up import MARGIN
from tests.browser import push, signed_in_page
from tests.conftest import make_user, same_minute_for
from tests.processes import DaphnePortal, daphne_portal
from tests.test_browser_live import RECORD_PUSHES, wait_until
from tests.test_inbox import make_gate

pytestmark = pytest.mark.browser

POLL_MS = 20_000  # static/js/live.js
COALESCE_MS = 2_000
PUSHES = 10
PUSH_SPACING_S = 0.25


@pytest.fixture
def daphne(transactional_db: None, tmp_path: Path) -> Iterator[DaphnePortal]:
    with daphne_portal(tmp_path) as portal:
        yield portal


def table_reads(page: Page) -> list[Request]:
    """Every request the page makes for the inbox table (the poll's and the pushes' re-reads)."""
    reads: list[Request] = []

    def seen(request: Request) -> None:
        if urlsplit(request.url).path == "/" and request.headers.get("x-portal-background"):
            reads.append(request)

    page.on("request", seen)
    return reads


# Counts, in the page, the table's re-reads from now on, each with the version it sends, as htmx
# starts them (Playwright reports a request a moment after the page made it).
RECORD_TABLE_READS = """() => {
  window.__tableReads = [];
  document.addEventListener("htmx:beforeRequest", (e) => {
    const headers = e.detail.requestConfig.headers;
    if (e.target.id === "gate-table" && headers["X-Portal-Background"]) {
      window.__tableReads.push(headers["If-None-Match"] || null);
    }
  });
}"""


def table_reads_in_page(page: Page) -> list[str | None]:
    """The table's re-reads the page has started since RECORD_TABLE_READS: the version each sent."""
    return page.evaluate("window.__tableReads")


def quiet_gate() -> Gate:
    """A pending gate last changed before what a page's socket catches up on as it opens
    (reviewer_portal.live.catch_up): the page makes no re-read of its own at load, which the tests
    would count as theirs, and which would move the live poll's minute."""
    gate = make_gate()
    Gate.objects.filter(gate_id=gate.gate_id).update(
        updated_at=timezone.now() - MARGIN - timedelta(minutes=1)
    )
    return gate


def test_a_burst_of_pushes_re_reads_the_table_once_per_interval(daphne, browser: Browser):
    gate = quiet_gate()
    make_user("officer", "credit_officer")
    # The table's tag holds for its minute: a re-read after its turn is a 200 (allowed below, and
    # made rare by starting early in a minute).
    same_minute_for(20)
    minute = time.time() // 60
    page = signed_in_page(browser, daphne.url, "officer")
    expect(page.locator("#live-status")).to_have_text("Live")
    page.evaluate(RECORD_PUSHES)
    reads = table_reads(page)

    started = time.monotonic()
    for version in range(2, 2 + PUSHES):
        push(gate.gate_id, version)
        time.sleep(PUSH_SPACING_S)
    page.wait_for_function(f"() => window.__pushes.length >= {PUSHES}")
    page.wait_for_timeout(COALESCE_MS + 1_000)  # the trailing re-read
    burst_s = time.monotonic() - started

    # One at the first push, then at most one per interval for the rest of the burst.
    allowed = 1 + int(burst_s * 1000 // COALESCE_MS) + 1
    assert 1 <= len(reads) <= allowed < PUSHES, (len(reads), burst_s)
    # Each re-read sends the version its table carries: nothing changed, so "204", table kept; but
    # the first after a turn of the minute (which a slow machine may reach) gets the table afresh.
    assert all(r.headers.get("if-none-match") for r in reads)
    statuses = [r.response().status for r in reads]
    turns = int(time.time() // 60 - minute)
    assert set(statuses) <= {200, 204} and statuses.count(200) <= turns, (statuses, turns)
    expect(page.locator("table.gates tbody tr")).to_have_count(1)


def test_the_poll_waits_while_the_socket_is_live_and_comes_back_when_it_drops(daphne, browser: Browser):
    quiet_gate()
    make_user("officer", "credit_officer")
    page = signed_in_page(browser, daphne.url, "officer")
    # The page's timers, the 20 s poll's among them, run on this clock, which stands still until the
    # socket is down: they fire as the test runs it, however long the page takes to load.
    start = datetime.now(UTC)
    page.clock.install(time=start)
    page.clock.pause_at(start + timedelta(minutes=1))
    page.reload()
    expect(page.locator("#live-status")).to_have_text("Live")
    page.evaluate(RECORD_TABLE_READS)

    page.clock.run_for(2 * POLL_MS)  # fires the timers due meanwhile, and returns once they ran
    assert table_reads_in_page(page) == []  # live: the pushes stand in for the 20 s poll
    page.clock.run_for(POLL_MS)
    # ... but not for good: once a minute it re-reads all the same (a push lost on a live socket,
    # an SLA badge the clock changed), sending its version (a 204 when nothing changed).
    (version,) = table_reads_in_page(page)
    assert version

    # From here the clock runs on its own as well: a poll that finds the last read still under way
    # (the stopped portal refuses it in real time) re-reads once it has failed, after a timer's wait.
    page.clock.resume()
    daphne.stop()
    expect(page.locator("#live-status")).to_have_text("Reconnecting…")
    page.clock.run_for(3 * POLL_MS)
    deadline = time.monotonic() + 30
    while len(table_reads_in_page(page)) < 3 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert len(table_reads_in_page(page)) >= 3  # down: the poll re-reads every 20 s again


def test_a_re_read_held_back_while_gates_are_selected_happens_once_they_are_cleared(daphne, browser: Browser):
    gate = quiet_gate()
    make_user("officer", "credit_officer")
    page = signed_in_page(browser, daphne.url, "officer")
    expect(page.locator("#live-status")).to_have_text("Live")
    page.evaluate(RECORD_PUSHES)
    page.evaluate(RECORD_TABLE_READS)
    page.locator(".bulk-select").check()

    push(gate.gate_id, 2)
    page.wait_for_function("() => window.__pushes.length >= 1")
    page.wait_for_timeout(COALESCE_MS + 500)
    assert table_reads_in_page(page) == []  # a re-read would drop the reviewer's selection

    page.locator(".bulk-select").uncheck()
    # At once, or after the rest of the 2 s interval.
    page.wait_for_function("() => window.__tableReads.length >= 1", timeout=30_000)
    page.wait_for_timeout(500)
    assert len(table_reads_in_page(page)) == 1


def hold_the_first_table_read(page: Page, *, background: bool) -> list[Route]:
    """Holds the page's first htmx read of the inbox table that is (or is not) a background
    re-read: the list gets its route, to be let through by the test."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        headers = route.request.headers
        wanted = bool(headers.get("x-portal-background")) == background and headers.get("hx-request")
        if held or not wanted:
            route.continue_()
            return
        held.append(route)

    page.route(lambda url: urlsplit(url).path == "/", hold)
    return held


def change_subject(gate: Gate, subject: str) -> None:
    """A change of the gate the table will show once re-read."""
    Gate.objects.filter(gate_id=gate.gate_id).update(subject=subject, version=2, updated_at=timezone.now())


def test_a_gate_ticked_while_the_table_is_being_re_read_stays_ticked(daphne, browser: Browser):
    """The re-read was under way when the reviewer ticked a gate: its answer replaced the table and
    the tick was gone, so a bulk decision would have left that gate out. The re-read is given up
    instead, and made once the selection is cleared, as one held back."""
    gate = quiet_gate()
    make_user("officer", "credit_officer")
    page = signed_in_page(browser, daphne.url, "officer")
    expect(page.locator("#live-status")).to_have_text("Live")
    page.evaluate(RECORD_TABLE_READS)
    held = hold_the_first_table_read(page, background=True)
    change_subject(gate, "Changed meanwhile")
    push(gate.gate_id, 2)
    page.wait_for_function("() => window.__tableReads.length >= 1")
    page.locator(".bulk-select").check()
    held[0].continue_()  # answered now, if the page still wants it: a table with the change

    page.wait_for_timeout(1_000)
    expect(page.locator(".bulk-select")).to_be_checked()
    expect(page.locator("table.gates")).not_to_contain_text("Changed meanwhile")
    page.locator(".bulk-select").uncheck()
    expect(page.locator("table.gates")).to_contain_text("Changed meanwhile", timeout=10_000)


def test_ticking_a_gate_leaves_the_read_after_a_bulk_decision_alone(daphne, browser: Browser):
    """That read is the reviewer's own (the bulk decision's answer asks for it): it removes the
    decided gates and their ticks, so giving it up would leave them listed, ticked, to be sent
    again. Only the re-reads this page asked for in the background are given up."""
    first, _second = quiet_gate(), quiet_gate()
    make_user("officer", "credit_officer")
    page = signed_in_page(browser, daphne.url, "officer")
    expect(page.locator("#live-status")).to_have_text("Live")
    held = hold_the_first_table_read(page, background=False)
    change_subject(first, "Decided meanwhile")
    page.evaluate("() => htmx.trigger(document.body, 'gates-changed')")  # as a bulk decision's answer does
    wait_until(lambda: held, page)
    page.locator(".bulk-select").last.check()
    held[0].continue_()

    expect(page.locator("table.gates")).to_contain_text("Decided meanwhile")
    assert held[0].request.failure is None
