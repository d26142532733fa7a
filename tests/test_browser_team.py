"""The team view in a real headless Chromium, at a laptop's 1366x900 and a phone's 390x844: a
senior credit officer sees the officers' pending gates and who holds them, reassigns two in bulk
to a colleague, and marks the officer absent, which releases the claim they still held."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.services import gate_assign
from tests.browser import SCREENSHOTS, signed_in_page, wait_for_projected_gates
from tests.conftest import in_threads, loan_input, make_user, start_loan

pytestmark = pytest.mark.browser

VIEWPORTS = {"laptop": (1366, 900), "phone": (390, 844)}


def at(browser: Browser, base_url: str, username: str, viewport: str) -> Page:
    width, height = VIEWPORTS[viewport]
    page = signed_in_page(browser, base_url, username, width)
    page.set_viewport_size({"width": width, "height": height})
    return page


def fits_the_width(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_senior_reassigns_two_gates_and_marks_an_officer_absent(
    live_server, portal, temporal, browser, viewport
):
    officer = make_user("officer", "credit_officer")
    make_user("colleague", "credit_officer")
    make_user("senior", "senior_credit_officer")
    handles = [start_loan(temporal, portal, loan_input()) for _ in range(3)]
    gates = wait_for_projected_gates(*handles)
    # The officer's claims, through the portal's service; in a thread of their own, since
    # Playwright keeps an event loop running in this one.
    claims = in_threads(
        lambda gate: gate_assign(
            gate=gate, reviewer=officer, assignee=officer, submission_id=str(uuid.uuid4())
        ),
        gates,
        threads=1,
    )
    assert [claim.status for claim in claims] == ["accepted"] * 3, [claim.detail for claim in claims]
    first, second, third = gates

    senior = at(browser, live_server.url, "senior", viewport)
    senior.get_by_role("navigation", name="Main").get_by_role("link", name="Team").click()
    queue = senior.get_by_role("region", name="Credit officer: 3 pending")
    for gate in gates:
        expect(queue.locator(f'tr[data-gate-id="{gate.gate_id}"] .holder')).to_have_text("officer")
    expect(queue.locator('tr[data-reviewer="officer"] .holds')).to_have_text("3")
    assert fits_the_width(senior)
    senior.screenshot(path=SCREENSHOTS / f"team-{viewport}.png", full_page=True)

    for gate in (first, second):
        queue.locator(f'tr[data-gate-id="{gate.gate_id}"] input[type="checkbox"]').check()
    queue.get_by_label("Reassign to").select_option("colleague")
    queue.get_by_role("button", name="Reassign selected").click()

    results = senior.get_by_role("region", name="Reassigned: 2 gates")
    expect(results.locator(".attempt-accepted")).to_have_count(2)
    expect(results).to_contain_text("now held by colleague")
    queue = senior.get_by_role("region", name="Credit officer: 3 pending")
    for gate in (first, second):
        expect(queue.locator(f'tr[data-gate-id="{gate.gate_id}"] .holder')).to_have_text("colleague")
    assert [temporal.run(h.query(AgentWorkflow.gate)).assignee for h in handles] == [
        "colleague",
        "colleague",
        "officer",
    ]

    absence = senior.get_by_role("region", name="Mark a reviewer absent")
    absence.get_by_label("Reviewer").select_option("officer")
    absence.get_by_label("Reason").fill("Sick leave")
    absence.get_by_role("button", name="Mark absent").click()

    released = senior.get_by_role("region", name="Claims of officer released: 1 gate")
    expect(released.locator(".attempt-accepted")).to_contain_text("released")
    queue = senior.get_by_role("region", name="Credit officer: 3 pending")
    expect(queue.locator(f'tr[data-gate-id="{third.gate_id}"] .holder')).to_have_text("Unclaimed")
    expect(queue.locator('tr[data-reviewer="officer"] .presence')).to_contain_text("Absent")
    # Nobody is offered the absent officer as an assignee.
    expect(queue.get_by_label("Reassign to").locator('option[value="officer"]')).to_have_count(0)
    assert temporal.run(handles[2].query(AgentWorkflow.gate)).assignee == ""
    assert fits_the_width(senior)
    senior.screenshot(path=SCREENSHOTS / f"team-absent-{viewport}.png", full_page=True)
