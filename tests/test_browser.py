"""UI flows in a real headless Chromium: a credit officer decides a gate, an auditor reads the trail.

The portal runs under pytest-django's live server and talks to the session's real Temporal dev
server; a worker with the real projection activity fills the gate table the inbox reads.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.models import ActionAttempt
from tests.browser import (
    SCREENSHOTS,
    assert_same_document,
    decided_in_projection,
    log_in,
    mark_document,
    signed_in_page,
    wait_for_projected_gates,
)
from tests.conftest import APPROVABLE, DECLINABLE, loan_input, make_user, start_loan

pytestmark = pytest.mark.browser

REASON = "Affordable, clean credit file"


def test_officer_approves_in_place_and_the_auditor_sees_the_decision(live_server, portal, temporal, page):
    make_user("officer", "credit_officer")
    make_user("auditor", "auditor")
    # Started first but due later, so only a sort by deadline (not arrival) puts it second.
    later = start_loan(temporal, portal, loan_input(DECLINABLE, submitted_by="intake", sla_seconds=2 * 3600))
    sooner = start_loan(temporal, portal, loan_input(APPROVABLE, submitted_by="intake", sla_seconds=3600))
    wait_for_projected_gates(later, sooner)

    log_in(page, live_server.url, "officer")
    rows = page.locator("table.gates tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Amira Haddad")
    expect(rows.nth(1)).to_contain_text("Sofia Rossi")
    first_countdown = rows.nth(0).locator(".countdown")
    expect(first_countdown).to_have_text(re.compile(r"^\d+m \d+s$"))
    expect(rows.nth(1).locator(".countdown")).to_have_text(re.compile(r"^1h \d+m \d+s$"))
    ticked_from = first_countdown.inner_text()
    expect(first_countdown).not_to_have_text(ticked_from)  # it counts down live
    page.screenshot(path=SCREENSHOTS / "inbox.png", full_page=True)

    rows.nth(0).get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Amira Haddad")
    expect(page.locator("#decision-panel .countdown")).to_have_text(re.compile(r"^\d+m \d+s left$"))
    expect(page.locator("#annotations")).to_contain_text("No notes yet.")
    expect(page.locator("#annotations ol.notes")).to_have_count(0)  # not a numbered "1. No notes yet."
    mark_document(page)
    page.get_by_role("button", name="Claim", exact=True).click()  # a loan gate is decided by its holder
    expect(page.locator("#decision-panel .holder")).to_contain_text("(you)")
    page.get_by_label("Reason").fill(REASON)
    page.get_by_role("button", name="Approve").click()

    panel = page.locator("#decision-panel")
    expect(panel).to_contain_text("Approved by officer")
    expect(panel).to_contain_text("Approval recorded by the agent.")
    expect(panel).to_contain_text(f"Reason: {REASON}")
    expect(panel.get_by_role("button")).to_have_count(0)
    assert_same_document(page)
    page.screenshot(path=SCREENSHOTS / "gate-approved.png", full_page=True)

    gate = temporal.run(sooner.query(AgentWorkflow.gate))
    assert (gate.status, gate.decided_by, gate.reason) == ("approved", "officer", REASON)
    projected = decided_in_projection(sooner.id)
    assert (projected.status, projected.decided_by) == ("approved", "officer")
    assert temporal.run(sooner.result()).outcome == "approved"

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    log_in(page, live_server.url, "auditor")
    page.goto(f"{live_server.url}/audit/{sooner.id}/")
    timeline = page.locator("ol.timeline")
    expect(timeline.locator(".kind-decision")).to_have_text(
        re.compile(rf"decide: approve by officer: {re.escape(REASON)}")
    )
    expect(timeline.locator(".kind-llm").first).to_contain_text("LLM call:")
    expect(timeline.locator(".kind-tool", has_text="Tool call: loans.credit_bureau")).to_have_count(1)
    expect(timeline).to_contain_text("Run completed: approved")
    page.screenshot(path=SCREENSHOTS / "audit.png", full_page=True)

    # The audit index lists runs, and reads on a phone without scrolling sideways.
    phone = signed_in_page(page.context.browser, live_server.url, "auditor", width=390)
    phone.goto(f"{live_server.url}/audit/")
    run_rows = phone.locator("table.runs tbody tr")
    expect(run_rows).to_have_count(2)
    expect(run_rows.filter(has_text="Amira Haddad")).to_contain_text("Approved")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=SCREENSHOTS / "audit-index-390.png", full_page=True)

    temporal.run(later.terminate("test done"))


def test_reject_without_a_reason_is_refused_in_place_and_the_gate_stays_pending(
    live_server, portal, temporal, page
):
    make_user("officer", "credit_officer")
    handle = start_loan(temporal, portal, loan_input(DECLINABLE, submitted_by="intake"))
    (gate,) = wait_for_projected_gates(handle)

    log_in(page, live_server.url, "officer")
    page.get_by_role("link", name=gate.subject).click()
    mark_document(page)
    page.get_by_role("button", name="Claim", exact=True).click()  # a loan gate is decided by its holder
    # The AI declined this loan: a rejection agrees with it, so it goes without a confirm step.
    page.get_by_role("button", name="Reject").click()

    panel = page.locator("#decision-panel")
    expect(panel.get_by_role("alert")).to_have_text("Rejection refused: A rejection needs a reason.")
    expect(panel).to_contain_text("SLA:")
    expect(panel.get_by_role("button", name="Reject")).to_be_enabled()
    assert_same_document(page)
    page.screenshot(path=SCREENSHOTS / "gate-reject-refused.png", full_page=True)

    assert temporal.run(handle.query(AgentWorkflow.gate)).status == "pending"
    gate.refresh_from_db()
    assert gate.status == "pending"
    attempt = ActionAttempt.objects.get(gate=gate, action="decide")
    assert (attempt.decision, attempt.status) == ("reject", "refused")

    temporal.run(handle.terminate("test done"))


def test_an_overdue_gate_reads_overdue_by_and_never_left(live_server, page, transactional_db):
    from datetime import timedelta

    from tests.test_inbox import make_gate

    make_user("officer", "credit_officer")
    gate = make_gate(left=-timedelta(seconds=34))
    log_in(page, live_server.url, "officer")
    page.goto(f"{live_server.url}/gates/{gate.gate_id}/")

    countdown = page.locator("#decision-panel .countdown")
    expect(countdown).to_have_text(re.compile(r"^overdue by \d+s$"))  # was "overdue by 34s left"
    sla_line = page.locator("#decision-panel p", has=page.locator(".countdown"))
    expect(sla_line).to_have_text(re.compile(r"^SLA: overdue by \d+s\s+\(due .* UTC\)\s*$"))
