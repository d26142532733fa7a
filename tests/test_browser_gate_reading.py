"""A compliance finding read in a real headless Chromium, at a laptop's 1366x900 and a phone's
390x844: the section it quotes with the passage highlighted, a long section whole on request,
and, once another reviewer approves it with an edit, the edit side by side (stacked on a phone);
nothing scrolls sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests import actions
from tests.browser import SCREENSHOTS, signed_in_page
from tests.conftest import make_user, projected_gate
from tests.test_regulatory import REVIEW_DOCUMENT, document_store, start_review, wait_for_gates  # noqa: F401

pytestmark = pytest.mark.browser

VIEWPORTS = {"laptop": (1366, 900), "phone": (390, 844)}
COMPLIANCE = ["compliance_reviewer"]
FUND_QUOTE = "Our linked fund has delivered growth of 7.5% a year since 2018."
EDITED = "Add 'Capital at risk' beside the 7.5% figure, and show five discrete annual returns."


def at(browser: Browser, base_url: str, username: str, viewport: str) -> Page:
    width, height = VIEWPORTS[viewport]
    page = signed_in_page(browser, base_url, username, width)
    page.set_viewport_size({"width": width, "height": height})
    return page


def fits_the_width(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_finding_shows_its_passage_highlighted_and_an_approved_edit_side_by_side(
    live_server, portal, temporal, browser, viewport
):
    make_user("alex", *COMPLIANCE)
    handle, _ = start_review(temporal, portal, REVIEW_DOCUMENT, turns_per_run=0)
    [fund] = wait_for_gates(temporal, handle, 1)
    gate = projected_gate(handle)
    page = at(browser, live_server.url, "alex", viewport)

    page.goto(f"{live_server.url}/gates/{gate.gate_id}/")
    passage = page.get_by_role("region", name="In the document: 3. Investment returns")
    expect(passage.locator("mark")).to_have_text(FUND_QUOTE)
    expect(page.locator("#rec-h")).to_contain_text("Record finding")
    expect(page.locator("main")).not_to_contain_text("regulatory.record_finding")
    assert fits_the_width(page)

    actions.decide(
        temporal,
        handle,
        fund.gate_id,
        "approve",
        "Valid",
        "bob",
        COMPLIANCE,
        edits={"proposed_action": EDITED},
    )
    projected_gate(handle, version=gate.version + 1)
    page.reload()

    table = page.locator("table.side-by-side")
    expect(table).to_be_visible()
    expect(table.locator("caption")).to_have_text("Proposed action")
    expect(table.locator("del").first).to_be_visible()
    expect(table.locator("ins").last).to_contain_text("five discrete annual returns.")
    before, after = (
        table.locator("tbody td").nth(0).bounding_box(),
        table.locator("tbody td").nth(1).bounding_box(),
    )
    assert before and after
    if viewport == "phone":  # stacked: the approved text under the agent's, each the full width
        assert after["y"] >= before["y"] + before["height"] - 1 and abs(after["x"] - before["x"]) < 1
    else:  # side by side
        assert abs(after["y"] - before["y"]) < 1 and after["x"] > before["x"] + before["width"] - 1
    expect(page.locator("main")).not_to_contain_text("@@")
    assert fits_the_width(page)
    page.screenshot(path=SCREENSHOTS / f"compliance-finding-edited-{viewport}.png", full_page=True)
    page.locator("#proposal-h").locator("xpath=..").screenshot(
        path=SCREENSHOTS / f"compliance-finding-edit-side-by-side-{viewport}.png"
    )
    passage.screenshot(path=SCREENSHOTS / f"compliance-finding-passage-{viewport}.png")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_long_section_shows_the_passage_in_context_and_the_whole_section_on_request(
    live_server, portal, temporal, browser, viewport
):
    make_user("alex", *COMPLIANCE)
    filler = "Our branches open from 9am to 5pm on weekdays. " * 60
    waiver = "Accounts may be opened without identity verification for deposits under £1,000."
    handle, _ = start_review(
        temporal, portal, f"# Opening an account\n{filler}\n{waiver}\n{filler}", title="Branch guide"
    )
    wait_for_gates(temporal, handle, 1)
    gate = projected_gate(handle)
    page = at(browser, live_server.url, "alex", viewport)

    page.goto(f"{live_server.url}/gates/{gate.gate_id}/")
    passage = page.get_by_role("region", name="In the document: Opening an account")
    shown = passage.locator("blockquote.passage").first
    expect(shown.locator("mark")).to_contain_text("without identity verification")
    assert len(shown.inner_text()) < 1200  # the quote in context, not the whole section
    whole = passage.locator("details.whole-section")
    expect(whole.locator("blockquote")).to_be_hidden()
    whole.get_by_text("Show the whole section").click()
    expect(whole.locator("blockquote")).to_be_visible()
    assert len(whole.locator("blockquote").inner_text()) > 5000
    assert fits_the_width(page)
    temporal.run(handle.terminate("test done"))
