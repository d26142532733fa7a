"""The inbox in a real headless Chromium: filters kept in the URL, and a bulk approval.

The portal runs under pytest-django's live server against the session's real Temporal dev server;
the page fixture and helpers are shared from tests/browser.py.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.models import ActionAttempt
from reviewer_portal.inbox.services import gate_assign
from tests.browser import SCREENSHOTS, log_in, mark_document, wait_for_projected_gates
from tests.conftest import APPROVABLE, DECLINABLE, in_threads, loan_input, make_user, start_loan

pytestmark = pytest.mark.browser

SECOND = replace(APPROVABLE, applicant_name="Bilal Okafor", amount=24_000)
FILTERS = {"sla": ["on_time"], "min_amount": ["10000"], "sort": ["-amount"]}


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_officer_filters_the_inbox_then_approves_two_low_risk_gates_at_once(
    live_server, portal, temporal, page
):
    officer = make_user("officer", "credit_officer")
    first = start_loan(temporal, portal, loan_input(APPROVABLE, submitted_by="intake"))
    second = start_loan(temporal, portal, loan_input(SECOND, submitted_by="intake"))
    small = start_loan(temporal, portal, loan_input(DECLINABLE, submitted_by="intake"))
    # Loan gates are decided by the reviewer who holds them: the officer has claimed these two
    # (off Playwright's thread, which runs an event loop).
    claims = in_threads(
        lambda gate: gate_assign(
            gate=gate, reviewer=officer, assignee=officer, submission_id=str(uuid.uuid4())
        ),
        wait_for_projected_gates(first, second, small)[:2],
    )
    assert [c.status for c in claims] == ["accepted", "accepted"]

    log_in(page, live_server.url, "officer")
    tabs = page.get_by_role("navigation", name="Queues")
    expect(tabs.get_by_role("link", name="Credit officer")).to_contain_text("3")
    page.get_by_label("SLA").select_option("on_time")
    page.get_by_label("Amount from").fill("10000")
    page.get_by_label("Sort by").select_option("-amount")
    page.get_by_role("button", name="Apply filters").click()

    rows = page.locator("table.gates tbody tr")
    expect(rows).to_have_count(2)
    assert query_of(page) == FILTERS  # only the filters that narrow, none of the empty fields
    page.reload()
    expect(rows).to_have_count(2)
    assert query_of(page) == FILTERS
    expect(page.get_by_label("Amount from")).to_have_value("10000")
    expect(page.get_by_label("SLA")).to_have_value("on_time")
    expect(rows.nth(0)).to_contain_text("Bilal Okafor")  # 24,000 before 18,000
    expect(rows.nth(1)).to_contain_text("Amira Haddad")
    page.screenshot(path=SCREENSHOTS / "inbox-filtered.png", full_page=True)

    mark_document(page)
    page.get_by_label(f"Select {SECOND.subject}").check()
    page.get_by_label(f"Select {APPROVABLE.subject}").check()
    # On a tablet the decision bar follows the list once something is selected.
    page.set_viewport_size({"width": 800, "height": 1000})
    expect(page.get_by_role("button", name="Approve selected")).to_be_in_viewport()
    page.screenshot(path=SCREENSHOTS / "inbox-tablet-selected.png")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Reject selected").click()  # no reason given
    results = page.locator("#bulk-results")
    expect(results.get_by_role("alert")).to_contain_text("A rejection needs a reason")
    expect(page.get_by_label(f"Select {SECOND.subject}")).to_be_checked()  # the selection stays
    assert ActionAttempt.objects.filter(action="decide").count() == 0

    page.get_by_label("Details").fill("Low risk: every policy check passed")
    page.get_by_role("button", name="Approve selected").click()

    expect(results.get_by_role("heading")).to_have_text("Bulk decision: results for 2 gates")
    expect(results.locator(".outcome-row")).to_have_count(2)
    for application in (SECOND, APPROVABLE):
        expect(results.locator(".outcome-row", has_text=application.subject)).to_contain_text(
            "Approved, recorded by the agent."
        )
    # The table reloads itself after the decision: nothing pending matches the filters now.
    expect(page.locator("#gate-table")).to_contain_text("No pending gates match these filters.")
    expect(tabs.get_by_role("link", name="Credit officer")).to_contain_text("1")
    assert page.evaluate("window.__sameDocument === true"), "the bulk decision reloaded the page"
    assert query_of(page) == FILTERS
    page.screenshot(path=SCREENSHOTS / "inbox-bulk-results.png", full_page=True)

    for handle in (first, second):
        gate = temporal.run(handle.query(AgentWorkflow.gate))
        assert (gate.status, gate.decided_by, gate.reason) == (
            "approved",
            "officer",
            "Low risk: every policy check passed",
        )
    assert ActionAttempt.objects.filter(action="decide", status="accepted").count() == 2
    assert temporal.run(small.query(AgentWorkflow.gate)).status == "pending"

    # What is left needs an individual decision: no checkbox, and no bulk bar.
    page.goto(f"{live_server.url}/")
    expect(rows).to_have_count(1)
    expect(rows.nth(0).get_by_role("checkbox")).to_have_count(0)
    expect(page.get_by_role("button", name="Approve selected")).to_be_hidden()
    temporal.run(small.terminate("test done"))
