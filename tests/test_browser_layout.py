"""Layout in a real Chromium at 1366x900 and 390x844: no panel covers another's controls, the
inbox turns into cards on a phone with its filters folded away, and the first gate and the
decision are within reach of the first screen and a few Tab stops; the 403 and 404 pages read
well at both sizes.

Each gate kind is a real run on the session's Temporal dev server (a loan, a regulatory review,
an advice case), projected into the portal by the real worker.
"""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

import agents.regulatory  # noqa: F401  (registers the agent even if AGENT_PACKAGES leaves it out)
from agents.framework.registry import AGENTS
from agents.framework.workflow import AgentWorkflow
from agents.regulatory import review_input
from agents.regulatory.documents import DocumentStore
from reviewer_portal.inbox.models import Gate
from reviewer_portal.trust.keys import trusted_keys
from tests import actions
from tests.browser import SCREENSHOTS, log_in, new_page, wait_for_projected_gates
from tests.conftest import APPROVABLE, agent_input_for, loan_input, make_user, start_loan, start_run

pytestmark = pytest.mark.browser

WIDE = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"wide": WIDE, "phone": PHONE}

# A leaflet with a gated (high-severity) finding: a KYC waiver.
LEAFLET = """\
1. Scope
This leaflet describes the Flexi Saver account for new customers.

2. Opening an account
Accounts may be opened without identity verification for deposits under £1,000.
"""

# Every control on the page: the centre of each, once scrolled into view, must be that control
# (or inside it), not a panel lying over it. Controls placed off-screen on purpose (skip links
# until focused) and hidden ones (a closed dialog, folded filters) are left out.
COVERED_CONTROLS = """
() => {
  const covered = [];
  const describe = (el) => el ? `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}` +
    `${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : ''}` +
    ` "${(el.textContent || el.value || '').trim().replace(/\\s+/g, ' ').slice(0, 40)}"` : 'nothing';
  const controls = document.querySelectorAll('a[href], button, textarea, select, summary, input:not([type=hidden])');
  for (const el of controls) {
    if (!el.checkVisibility({visibilityProperty: true, opacityProperty: true})) continue;
    el.scrollIntoView({block: 'center', inline: 'nearest'});
    const box = el.getClientRects()[0];  // a link wrapping over two lines: its first line
    if (!box || box.width === 0 || box.height === 0 || box.right <= 0) continue;
    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    if (hit !== el && !el.contains(hit)) covered.push(`${describe(el)} is covered by ${describe(hit)}`);
  }
  window.scrollTo(0, 0);
  return covered;
}
"""
FITS_THE_WIDTH = "document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth"
# What sticks out past the right edge, for the message when the page scrolls sideways.
WIDER_THAN_THE_PAGE = """
() => Array.from(document.querySelectorAll('body *'))
  .filter((el) => el.getBoundingClientRect().right > document.scrollingElement.clientWidth + 0.5)
  .map((el) => el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className : '')
    + ' ' + Math.round(el.getBoundingClientRect().right)).slice(0, 8)
"""


def at(browser: Browser, base_url: str, username: str, viewport: dict[str, int]) -> Page:
    page = new_page(browser, viewport["width"])
    page.set_viewport_size(viewport)
    log_in(page, base_url, username)
    page.wait_for_load_state()
    return page


def assert_nothing_covered(page: Page) -> None:
    covered = page.evaluate(COVERED_CONTROLS)
    assert not covered, f"{page.url}: {covered}"
    assert page.evaluate(FITS_THE_WIDTH), f"{page.url} scrolls sideways: {page.evaluate(WIDER_THAN_THE_PAGE)}"


@pytest.fixture
def three_gates(live_server, portal, temporal) -> dict[str, tuple[str, Gate]]:
    """A pending gate of each kind, with the reviewer who may open it."""
    make_user("officer", "credit_officer")
    make_user("compliance", "compliance_reviewer")
    make_user("adviser-b", "licensed_adviser")
    loan = start_loan(temporal, portal, loan_input(APPROVABLE, submitted_by="intake"))
    document = DocumentStore.from_env("default").put(LEAFLET)
    review = dataclasses.replace(
        review_input(
            document=document, title="Flexi Saver leaflet", uploaded_by="uploader", sla_seconds=3600
        ),
        submitted_by_id=actions.person_id("uploader"),
        trusted_keys=trusted_keys(),
    )
    regulatory = temporal.run(
        temporal.client.start_workflow(
            AgentWorkflow.run, review, id=f"regulatory-layout-{uuid.uuid4().hex[:12]}", task_queue=portal
        )
    )
    advice_case = AGENTS["advice"].demo_cases()[0]
    advice = start_run(
        temporal,
        portal,
        agent_input_for(AGENTS["advice"], advice_case.subject, advice_case.case, submitted_by="adviser-a"),
        prefix="advice-layout",
    )
    loan_gate, regulatory_gate, advice_gate = wait_for_projected_gates(loan, regulatory, advice)
    return {
        "loan": ("officer", loan_gate),
        "regulatory": ("compliance", regulatory_gate),
        "advice": ("adviser-b", advice_gate),
    }


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_no_panel_covers_a_control_and_add_note_adds_a_note(live_server, browser, three_gates, viewport):
    for kind, (username, gate) in three_gates.items():
        page = at(browser, live_server.url, username, VIEWPORTS[viewport])
        assert_nothing_covered(page)  # the inbox
        page.goto(f"{live_server.url}/gates/{gate.gate_id}/")
        expect(page.get_by_role("heading", name="Notes")).to_be_visible()
        assert_nothing_covered(page)
        page.screenshot(path=SCREENSHOTS / f"layout-{kind}-{viewport}.png", full_page=True)

        note = f"Checked the {kind} case on a {viewport} screen"
        page.get_by_label("Add a note").fill(note)
        page.get_by_role("button", name="Add note").click()  # fails if anything lies over it
        notes = page.locator("#annotations")
        expect(notes.locator("ol.notes li")).to_contain_text(note)
        expect(page.locator("#decision-panel .msg.error")).to_have_count(0)  # not "Request changes"
        page.context.close()


def tab_stops_to_first_gate(page: Page, limit: int = 30) -> int:
    """Keys pressed (Tab, and Enter on the skip link to the list) until focus is in the first row."""
    for pressed in range(1, limit + 1):
        focused = page.evaluate("document.activeElement && document.activeElement.textContent.trim()")
        page.keyboard.press("Enter" if focused == "Skip to the gate list" else "Tab")
        if page.evaluate("!!document.activeElement.closest('table.gates tbody tr:first-child')"):
            return pressed
    return limit + 1


def test_on_a_phone_the_inbox_is_cards_and_the_first_gate_and_decision_are_near(
    live_server, browser, three_gates
):
    username, gate = three_gates["loan"]
    page = at(browser, live_server.url, username, PHONE)
    filters = page.locator("details.filters-box")
    expect(filters).not_to_have_attribute("open", "")
    expect(page.get_by_role("button", name="Apply filters")).to_be_hidden()
    first = page.locator("table.gates tbody tr").first.get_by_role("link", name=gate.subject)
    box = first.bounding_box()
    assert box is not None and box["y"] + box["height"] < PHONE["height"], box  # on the first screen
    expect(page.locator("table.gates thead")).to_be_hidden()  # rows are cards: no header row
    assert page.evaluate(FITS_THE_WIDTH)
    assert page.evaluate(
        "document.querySelector('.table-scroll').scrollWidth <= document.querySelector('.table-scroll').clientWidth"
    )
    page.screenshot(path=SCREENSHOTS / "inbox-phone.png", full_page=True)
    page.locator("summary", has_text="Filters").click()
    expect(page.get_by_role("button", name="Apply filters")).to_be_visible()
    page.reload()
    assert tab_stops_to_first_gate(page) <= 4
    # Once a gate is selected the bulk bar follows the list: it still covers nothing.
    page.get_by_label(f"Select {gate.subject}").check()
    expect(page.get_by_role("button", name="Approve selected")).to_be_in_viewport()
    assert_nothing_covered(page)

    page.goto(f"{live_server.url}/gates/{gate.gate_id}/")
    jump = page.get_by_role("link", name="Jump to decision")
    jump_box = jump.bounding_box()
    assert jump_box is not None and jump_box["y"] < PHONE["height"]
    jump.click()
    expect(page.get_by_role("heading", name="Decision")).to_be_in_viewport()
    assert page.evaluate(FITS_THE_WIDTH)


def test_on_a_wide_screen_the_inbox_keeps_its_table_and_open_filters(live_server, browser, three_gates):
    username, gate = three_gates["loan"]
    page = at(browser, live_server.url, username, WIDE)
    expect(page.get_by_role("button", name="Apply filters")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Amount")).to_be_visible()
    expect(page.locator("table.gates thead")).to_be_visible()
    expect(page.locator("table.gates tbody tr").first.locator("td.amount")).to_contain_text("18,000")
    page.goto(f"{live_server.url}/gates/{gate.gate_id}/")
    expect(page.get_by_role("link", name="Jump to decision")).to_be_hidden()
    page.context.close()

    # Compliance findings carry no amount: the inbox leaves the column out.
    page = at(browser, live_server.url, "compliance", WIDE)
    expect(page.locator("table.gates tbody tr")).not_to_have_count(0)
    expect(page.get_by_role("columnheader", name="Details")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Amount")).to_be_hidden()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_error_pages_say_what_to_do_at_both_sizes(live_server, browser, transactional_db, viewport):
    make_user("officer", "credit_officer")
    make_user("nobody")
    page = at(browser, live_server.url, "officer", VIEWPORTS[viewport])
    page.goto(f"{live_server.url}/gates/loans-none--g1/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.get_by_text("No such gate, or you may not open it.")).to_be_visible()
    assert_nothing_covered(page)
    page.get_by_role("link", name="Back to the inbox").click()
    expect(page.get_by_role("heading", name="Pending decisions")).to_be_visible()
    page.context.close()

    page = at(browser, live_server.url, "nobody", VIEWPORTS[viewport])
    page.goto(f"{live_server.url}/dashboard/")
    expect(page.get_by_role("heading", level=1)).to_have_text("You may not open this page")
    expect(page.get_by_text("ask your administrator for the role it needs")).to_be_visible()
    assert_nothing_covered(page)
    page.screenshot(path=SCREENSHOTS / f"error-403-{viewport}.png")
