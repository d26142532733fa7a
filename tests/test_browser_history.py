"""Own cases and history in a real headless Chromium, at a laptop's 1366x900 and a phone's 390x844:
an officer submits a loan, follows it in "My submissions" while it waits for another officer, and
reads "approved by …" once a colleague decides it; an auditor lands on the audit index; a reviewer
reads the trail of a run they reviewed and is refused another run's."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from playwright.sync_api import Browser, Page, expect

from reviewer_portal.history.models import Submission
from reviewer_portal.inbox.models import Gate
from tests.browser import SCREENSHOTS, new_page, reload_until, signed_in_page, wait_for_projected_gates
from tests.conftest import APPROVABLE, make_user
from tests.test_inbox import make_gate

pytestmark = pytest.mark.browser

VIEWPORTS = {"laptop": (1366, 900), "phone": (390, 844)}


def at(browser: Browser, base_url: str, username: str, viewport: str) -> Page:
    width, height = VIEWPORTS[viewport]
    page = signed_in_page(browser, base_url, username, width)
    page.set_viewport_size({"width": width, "height": height})
    return page


def fits_the_width(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def submit_loan(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/applications/new/")
    page.get_by_label("Applicant name").fill(APPROVABLE.applicant_name)
    page.get_by_label("Amount").fill(str(APPROVABLE.amount))
    page.get_by_label("Term (months)").fill(str(APPROVABLE.term_months))
    page.get_by_label("Purpose").select_option(APPROVABLE.purpose)
    page.get_by_label("Annual income").fill(str(APPROVABLE.annual_income))
    page.get_by_label("Monthly debts").fill(str(APPROVABLE.monthly_debts))
    page.get_by_label("Credit score").fill(str(APPROVABLE.credit_score))
    page.get_by_role("button", name="Submit for pre-screening").click()
    expect(page.locator(".messages")).to_contain_text("Application submitted")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_an_officer_follows_their_submission_until_a_colleague_approves_it(
    live_server, portal, temporal, browser, viewport
):
    make_user("officer", "credit_officer")
    make_user("colleague", "credit_officer")
    officer = at(browser, live_server.url, "officer", viewport)

    submit_loan(officer, live_server.url)
    run = Submission.objects.get()
    (gate,) = wait_for_projected_gates(SimpleNamespace(id=run.workflow_id))

    # The inbox: not in the officer's queue, but in "Awaiting others", saying who decides it.
    officer.goto(f"{live_server.url}/")
    expect(officer.locator("table.gates")).to_have_count(0)
    awaiting = officer.get_by_role("region", name="Awaiting others")
    expect(awaiting).to_contain_text(gate.subject)
    expect(awaiting).to_contain_text("Waiting for another Credit officer")
    awaiting.get_by_role("link", name=gate.subject).click()
    expect(officer.get_by_role("button", name="Approve")).to_have_count(0)
    expect(officer.locator(".own-case")).to_contain_text("This is your case")

    officer.get_by_role("navigation", name="Main").get_by_role("link", name="My submissions").click()
    row = officer.locator(f'tr[data-workflow-id="{run.workflow_id}"]')
    expect(row).to_contain_text("Waiting for review by credit officer")
    assert fits_the_width(officer)
    officer.screenshot(path=SCREENSHOTS / f"my-submissions-waiting-{viewport}.png", full_page=True)

    colleague = at(browser, live_server.url, "colleague", viewport)
    colleague.goto(f"{live_server.url}/gates/{gate.gate_id}/")
    panel = colleague.locator("#decision-panel")
    if Gate.objects.get(pk=gate.pk).claim_required:
        panel.get_by_role("button", name="Claim", exact=True).click()
        expect(panel.locator(".holder")).to_contain_text("(you)")
    colleague.get_by_label("Reason or instructions").fill("Affordable, policy checks passed")
    colleague.get_by_role("button", name="Approve").click()
    confirm = panel.get_by_role("button", name="Confirm approval")
    if confirm.count():  # the AI recommended otherwise: the panel asks to confirm
        confirm.click()
    expect(panel).to_contain_text("Approval recorded by the agent.")

    reload_until(officer, row, "Approved by colleague")
    officer.screenshot(path=SCREENSHOTS / f"my-submissions-approved-{viewport}.png", full_page=True)

    colleague.get_by_role("navigation", name="Main").get_by_role("link", name="My decisions").click()
    decided = colleague.locator(f'tr[data-gate-id="{gate.gate_id}"]')
    expect(decided).to_contain_text("Approve")
    expect(decided).to_contain_text("Recorded by the agent")
    assert fits_the_width(colleague)

    # From the submission to the run's trail, read-only.
    row.get_by_role("link", name="History of this run").click()
    expect(officer.get_by_role("heading", name="Audit trail")).to_be_visible()
    expect(officer.locator(".read-only-trail")).to_contain_text("Read-only")
    expect(officer.get_by_role("link", name="Export JSON")).to_have_count(0)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_an_auditor_lands_on_the_audit_index(live_server, browser, viewport, transactional_db):
    make_user("auditor", "auditor")
    width, height = VIEWPORTS[viewport]
    page = new_page(browser, width)
    page.set_viewport_size({"width": width, "height": height})

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("auditor")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(f"{live_server.url}/audit/")
    expect(page.get_by_role("heading", name="Pending decisions")).to_have_count(0)
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/audit/")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_reviewer_reads_the_trail_of_a_run_they_reviewed_and_no_other(
    live_server, portal, temporal, browser, viewport, loan_gate
):
    _, gate = loan_gate
    make_user("officer", "credit_officer")
    elsewhere = make_gate(role="compliance_reviewer", agent="regulatory")
    page = at(browser, live_server.url, "officer", viewport)

    page.goto(f"{live_server.url}/gates/{gate.gate_id}/")
    page.get_by_role("link", name="History of this run").click()
    expect(page).to_have_url(f"{live_server.url}/audit/{gate.workflow_id}/")
    expect(page.locator(".timeline .entry").first).to_be_visible()
    expect(page.get_by_role("link", name="Export JSON")).to_have_count(0)
    assert fits_the_width(page)
    page.screenshot(path=SCREENSHOTS / f"run-trail-reviewer-{viewport}.png", full_page=True)

    # Another run's trail, and the export of this one, are refused (read as the same session).
    assert page.request.get(f"{live_server.url}/audit/{elsewhere.workflow_id}/").status == 403
    assert page.request.get(f"{live_server.url}/audit/{gate.workflow_id}/export.json").status == 403
