"""Every page of the portal, for each role that reads it, at a laptop's and a phone's viewport.

The browser fixture runs axe-core in each document and fails on a serious or critical violation
(tests/browser.py); this test makes sure the pages no flow test happens to open are checked too,
and that none of them scrolls sideways on a phone.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.browser import ACCESSIBILITY_VIOLATIONS, log_in, new_page, wait_for_axe
from tests.conftest import loan_input, make_user, projected_gate, start_loan

pytestmark = pytest.mark.browser

VIEWPORTS = {"laptop": (1366, 900), "phone": (390, 844)}


def _pages(gate_id: str, workflow_id: str) -> dict[str, list[str]]:
    """Who opens which pages (each user's own view of them)."""
    return {
        "officer": [
            "/",
            f"/gates/{gate_id}/",
            "/applications/new/",
            "/history/decisions/",
            "/history/submissions/",
            "/notifications/",
            "/dashboard/",
            f"/audit/{workflow_id}/",
            "/gates/no-such-gate/",  # the styled 404
            "/audit/",  # the styled 403
        ],
        "senior": ["/team/", "/"],
        "compliance": ["/documents/new/", "/"],
        "adviser": ["/advice/new/"],
        "auditor": [
            "/audit/",
            f"/audit/{workflow_id}/",
            f"/audit/decisions/{gate_id}/",
            "/audit/prompts/",
            "/audit/models/",
            "/dashboard/",
        ],
    }


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_every_page_passes_axe_and_fits_the_screen(viewport, live_server, portal, temporal, browser: Browser):
    make_user("officer", "credit_officer")
    make_user("senior", "senior_credit_officer")
    make_user("compliance", "compliance_reviewer")
    make_user("adviser", "licensed_adviser")
    make_user("auditor", "auditor")
    handle = start_loan(temporal, portal, loan_input(submitted_by="intake"))
    gate = projected_gate(handle)
    width, height = VIEWPORTS[viewport]
    checked = []
    for username, paths in _pages(gate.gate_id, handle.id).items():
        page = new_page(browser, width)
        page.set_viewport_size({"width": width, "height": height})
        log_in(page, live_server.url, username)
        for path in paths:
            page.goto(f"{live_server.url}{path}")
            wait_for_axe(page)  # before the next page replaces this one
            overflow = page.evaluate(
                "() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
            )
            assert overflow <= 1, f"{path} scrolls sideways by {overflow}px for {username} at {viewport}"
            checked.append((username, path))
        page.context.close()
    assert len(checked) == sum(len(p) for p in _pages(gate.gate_id, handle.id).values())
    # The fixture asserts ACCESSIBILITY_VIOLATIONS is empty at teardown; say where here too.
    assert not ACCESSIBILITY_VIOLATIONS, sorted(set(ACCESSIBILITY_VIOLATIONS))
