"""A gate that changed between the page's rendering and its socket's opening, in a real browser
(issue 12, left over from the live-push review): its push went to no socket, so the page showed
the old state until the minute's re-read (the inbox) or for good (a gate's page). The socket is
held back here until the change is made; its first message is then the hint the page missed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, WebSocketRoute, expect

from reviewer_portal.inbox.freshness import bump_roles
from tests.browser import assert_same_document, log_in, mark_document, new_page
from tests.conftest import make_user
from tests.processes import DaphnePortal, daphne_portal
from tests.test_browser_live import LIVE_TIMEOUT_MS, RECORD_PUSHES
from tests.test_inbox import make_gate

pytestmark = pytest.mark.browser


@pytest.fixture
def daphne(transactional_db: None, tmp_path: Path) -> Iterator[DaphnePortal]:
    with daphne_portal(tmp_path) as portal:
        yield portal


def test_a_gate_opened_before_the_pages_socket_opened_appears_without_a_push(daphne, browser: Browser):
    make_user("officer", "credit_officer")
    page = new_page(browser)
    held: list[WebSocketRoute] = []
    page.route_web_socket(re.compile("/ws/gates/"), lambda ws: held.append(ws))  # it waits here
    log_in(page, daphne.url, "officer")
    rows = page.locator("table.gates tbody tr")
    expect(rows).to_have_count(0)
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate(RECORD_PUSHES)
    mark_document(page)
    assert len(held) == 1

    gate = make_gate(applicant_name="Noor Rahman")  # the projection's write, its push lost
    bump_roles(["credit_officer"])
    held[0].connect_to_server()

    expect(rows).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
    expect(rows.first).to_contain_text("Noor Rahman")
    assert_same_document(page)
    [hint] = [p for p in page.evaluate("window.__pushes") if p.get("gate_id") == gate.gate_id]
    assert (hint["status"], hint["role"], hint["version"]) == ("pending", "credit_officer", 1)
    [since] = parse_qs(urlsplit(held[0].url).query)["since"]
    assert int(since) > 0
