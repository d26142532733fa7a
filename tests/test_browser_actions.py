"""The reviewer workspace in a real headless Chromium: claiming against a colleague, request
changes then approve, edit before approve, and the keyboard (help dialog, c / r / a, j / k)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.models import Gate
from tests.browser import (
    SCREENSHOTS,
    assert_same_document,
    mark_document,
    signed_in_page,
    wait_for_projected_gates,
)
from tests.conftest import APPROVABLE, DECLINABLE, loan_input, make_user, start_loan

pytestmark = pytest.mark.browser


def reviewer_page(browser: Browser, base_url: str, username: str, width: int = 1280) -> Page:
    return signed_in_page(browser, base_url, username, width)


def claim_gate(page: Page) -> None:
    """A loan gate is decided by the reviewer who holds it: claim it first, as on the page."""
    page.locator("#decision-panel").get_by_role("button", name="Claim", exact=True).click()
    expect(page.locator("#decision-panel .holder")).to_contain_text("(you)")


def test_two_reviewers_claim_the_same_gate_one_wins_and_the_other_sees_who(
    live_server, portal, temporal, browser
):
    make_user("amal", "credit_officer")
    make_user("bruno", "credit_officer")
    handle = start_loan(temporal, portal, loan_input(APPROVABLE, submitted_by="intake"))
    (gate,) = wait_for_projected_gates(handle)
    pages = {name: reviewer_page(browser, live_server.url, name) for name in ("amal", "bruno")}
    for page in pages.values():
        page.goto(f"{live_server.url}/gates/{gate.gate_id}/")
        expect(page.locator("#decision-panel .holder")).to_have_text("Unclaimed")

    # Both click before either answer is back.
    for page in pages.values():
        page.locator("#decision-panel").get_by_role("button", name="Claim", exact=True).click()

    for page in pages.values():
        expect(page.locator("#decision-panel .holder")).to_contain_text("Claimed by")
    winner = temporal.run(handle.query(AgentWorkflow.gate)).assignee
    loser = "bruno" if winner == "amal" else "amal"
    won, lost = pages[winner], pages[loser]
    expect(won.locator("#decision-panel [role=status]")).to_have_text("You claimed this gate.")
    expect(won.locator("#decision-panel .holder")).to_have_text(f"Claimed by {winner} (you)")
    expect(lost.locator("#decision-panel [role=alert]")).to_have_text(f"This gate is claimed by {winner}.")
    expect(lost.locator("#decision-panel .holder")).to_have_text(f"Claimed by {winner}")
    expect(lost.get_by_role("button", name="Approve")).to_have_count(0)
    expect(lost.locator("#decision-panel")).to_contain_text(f"Only {winner} decides this gate")
    expect(won.get_by_role("button", name="Approve")).to_be_visible()
    lost.screenshot(path=SCREENSHOTS / "gate-claimed.png", full_page=True)
    won.screenshot(path=SCREENSHOTS / "gate-claimed-by-you.png", full_page=True)
    assert Gate.objects.get(gate_id=gate.gate_id).assignee == winner

    temporal.run(handle.terminate("test done"))


def test_request_changes_then_approve_the_revised_recommendation(live_server, portal, temporal, browser):
    make_user("officer", "credit_officer")
    handle = start_loan(temporal, portal, loan_input(APPROVABLE, submitted_by="intake"))
    (gate,) = wait_for_projected_gates(handle)
    page = reviewer_page(browser, live_server.url, "officer")
    page.goto(f"{live_server.url}/gates/{gate.gate_id}/")
    mark_document(page)
    instructions = "Refer it: the employer letter is missing."
    claim_gate(page)

    page.get_by_label("Reason or instructions").fill(instructions)
    page.get_by_role("button", name="Request changes").click()

    revisions = page.get_by_role("region", name="Previous recommendations")
    expect(revisions).to_contain_text(instructions)
    expect(revisions).to_contain_text("Sent back by officer")
    expect(revisions.locator(".badge")).to_have_text("Approve")
    expect(page.locator("#rec-h")).to_contain_text("Refer")
    expect(page.locator("#rec-h")).to_contain_text("revision 2")
    # Depending on how fast the agent re-plans, the answer to the click or the poll after it.
    expect(page.locator("#decision-panel")).to_contain_text(
        re.compile("Change request recorded by the agent|The agent is back with a revised recommendation")
    )
    assert_same_document(page)
    page.screenshot(path=SCREENSHOTS / "gate-revisions.png", full_page=True)

    page.get_by_label("Reason or instructions").fill("Referral accepted with the letter to follow")
    page.get_by_role("button", name="Approve").click()

    expect(page.locator("#decision-panel")).to_contain_text("Approved by officer")
    expect(revisions).to_contain_text(instructions)  # the history stays on the decided gate
    assert_same_document(page)
    result = temporal.run(handle.result())
    assert result.outcome == "approved" and [r.instructions for r in result.gate.revisions] == [instructions]


def test_edit_before_approve_shows_the_recorded_diff(live_server, portal, temporal, browser):
    make_user("officer", "credit_officer")
    agent_input = loan_input(APPROVABLE, submitted_by="intake")
    agent_input.spec.editable = ["conditions"]
    handle = start_loan(temporal, portal, agent_input)
    (gate,) = wait_for_projected_gates(handle)
    # A tablet in portrait: the decision panel sits under the case, and everything still fits.
    page = reviewer_page(browser, live_server.url, "officer", width=768)
    page.goto(f"{live_server.url}/gates/{gate.gate_id}/")
    claim_gate(page)

    page.get_by_label("Conditions").fill("Proof of income before payout")
    page.get_by_label("Reason or instructions").fill("Fine with the condition")
    page.get_by_role("button", name="Approve").click()

    expect(page.locator("#decision-panel")).to_contain_text("Approval recorded by the agent.")
    # The edit reads side by side: what the agent proposed, and what was approved with the change marked.
    diff = page.locator("table.side-by-side")
    expect(diff.locator("ins")).to_contain_text("Proof of income before payout")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=SCREENSHOTS / "gate-edited-tablet.png", full_page=True)
    assert temporal.run(handle.result()).gate.edits == {"conditions": "Proof of income before payout"}


def test_the_keyboard_opens_help_claims_asks_for_a_reason_and_approves(
    live_server, portal, temporal, browser
):
    make_user("officer", "credit_officer")
    handle = start_loan(temporal, portal, loan_input(APPROVABLE, submitted_by="intake"))
    (gate,) = wait_for_projected_gates(handle)
    page = reviewer_page(browser, live_server.url, "officer")
    page.goto(f"{live_server.url}/gates/{gate.gate_id}/")

    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_have_attribute("aria-modal", "true")
    expect(help_dialog.get_by_role("button", name="Close")).to_be_focused()
    for _ in range(3):  # Tab stays inside the dialog
        page.keyboard.press("Tab")
        assert page.evaluate("document.getElementById('shortcuts-help').contains(document.activeElement)")
    page.keyboard.press("a")  # shortcuts are off while the help is open
    page.screenshot(path=SCREENSHOTS / "gate-shortcuts-help.png", full_page=False)
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    assert temporal.run(handle.query(AgentWorkflow.gate)).status == "pending"

    page.keyboard.press("c")
    expect(page.locator("#decision-panel .holder")).to_have_text("Claimed by officer (you)")

    reason = page.get_by_label("Reason or instructions")
    page.keyboard.press("r")  # no reason yet: focus the field instead of rejecting
    expect(reason).to_be_focused()
    page.keyboard.type("Affordable; keys typed here are not shortcuts")
    expect(reason).to_have_value("Affordable; keys typed here are not shortcuts")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Approve")).to_be_focused()
    page.keyboard.press("a")

    # A decision made with a key is confirmed first, with the reason already written.
    panel = page.locator("#decision-panel")
    expect(panel).to_contain_text("You chose Approve with a keyboard shortcut (the AI recommended Approve).")
    expect(panel.get_by_label("Your reason")).to_have_value("Affordable; keys typed here are not shortcuts")
    assert temporal.run(handle.query(AgentWorkflow.gate)).status == "pending"
    panel.get_by_role("button", name="Confirm approval").click()

    expect(page.locator("#decision-panel")).to_contain_text("Approval recorded by the agent.")
    result = temporal.run(handle.result())
    assert (result.outcome, result.gate.reason) == (
        "approved",
        "Affordable; keys typed here are not shortcuts",
    )


def test_inbox_rows_move_with_j_and_k_and_enter_opens_then_n_goes_to_the_next_gate(
    live_server, portal, temporal, browser
):
    make_user("officer", "credit_officer")
    handles = [
        start_loan(temporal, portal, loan_input(app, submitted_by="intake", sla_seconds=hours * 3600))
        for app, hours in ((APPROVABLE, 1), (DECLINABLE, 2))
    ]
    first, second = wait_for_projected_gates(*handles)
    page = reviewer_page(browser, live_server.url, "officer")
    rows = page.locator("tr[data-gate-url]")
    expect(rows).to_have_count(2)

    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bkbd-current\b"))
    expect(rows.nth(0).locator("a.gate-link")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bkbd-current\b"))
    page.keyboard.press("k")
    expect(rows.nth(0).locator("a.gate-link")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(re.escape(f"/gates/{first.gate_id}/") + "$"))
    page.wait_for_load_state()  # a key pressed before the scripts run would go nowhere
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(re.escape(f"/gates/{second.gate_id}/") + "$"))
    page.wait_for_load_state()
    page.keyboard.press("p")
    expect(page).to_have_url(re.compile(re.escape(f"/gates/{first.gate_id}/") + "$"))

    for handle in handles:
        temporal.run(handle.terminate("test done"))
