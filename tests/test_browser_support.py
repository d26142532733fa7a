"""A support conversation in real headless Chromium: a customer chats on /support/chat/, the agent
hands off, a support rep finds the handoff in the inbox and replies in the portal, and each sees the
other's messages appear without a reload (htmx polls the transcript)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from reviewer_portal.conversations.customers import customer_assertion
from tests.browser import SCREENSHOTS, assert_same_document, mark_document, new_page, signed_in_page
from tests.conftest import make_user

pytestmark = pytest.mark.browser


def test_a_rep_takes_a_conversation_over_and_the_customer_sees_the_reply_live(
    live_server, portal, temporal, browser, tmp_path, monkeypatch
):
    monkeypatch.setenv("SUPPORT_TICKETS_DIR", str(tmp_path / "tickets"))
    make_user("support", "support_rep")
    customer = new_page(browser)
    # Online banking sends the signed-in customer here with its assertion of who they are.
    customer.goto(f"{live_server.url}/support/chat/?assertion={customer_assertion('CUST-2001')}")
    customer.get_by_role("button", name="Start chat").click()
    transcript = customer.locator("#transcript")

    customer.get_by_label("Your message").fill("When was my last payment?")
    customer.get_by_role("button", name="Send").click()
    expect(transcript).to_contain_text("Your last payment was 420.00 to Credit card")
    customer.get_by_label("Your message").fill("I would like to talk to a person")
    customer.get_by_role("button", name="Send").click()
    expect(transcript).to_contain_text("A support representative will join")
    conversation_id = customer.url.rstrip("/").rsplit("/", 1)[-1]
    mark_document(customer)

    rep = signed_in_page(browser, live_server.url, "support")
    expect(rep.locator("main")).to_contain_text("Customer CUST-2001 is waiting for a person")
    rep.goto(f"{live_server.url}/conversations/{conversation_id}/")
    expect(rep.locator("#transcript")).to_contain_text("I would like to talk to a person")
    rep.get_by_label("Reply to the customer").fill("Hello, this is Sam from support.")
    rep.get_by_role("button", name="Send reply").click()

    expect(transcript).to_contain_text("Hello, this is Sam from support.")
    expect(transcript).to_contain_text("A support representative has this conversation.")
    assert_same_document(customer)
    customer.get_by_label("Your message").fill("Thanks Sam, my card was swallowed.")
    customer.get_by_role("button", name="Send").click()
    expect(rep.locator("#transcript")).to_contain_text("Thanks Sam, my card was swallowed.")
    expect(customer.get_by_label("Your message")).to_have_value("")
    customer.screenshot(path=SCREENSHOTS / "support-chat.png", full_page=True)
    rep.screenshot(path=SCREENSHOTS / "support-conversation.png", full_page=True)
