"""The notification bell in real browsers (issue 11), at 1366x900 and 390x844: its count goes up
live when a gate is assigned to the reviewer or escalates to their role, clicking it opens the
list, and marking read brings the count down. The portal runs under daphne, so the push travels
worker -> channel layer -> portal -> browser as in production (see tests/test_browser_live.py)."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from reviewer_portal.notices.models import Notification
from reviewer_portal.notices.services import NoticeEvent, notification_create_for_user
from tests import actions, test_browser_live
from tests.browser import (
    SCREENSHOTS,
    assert_same_document,
    log_in,
    mark_document,
    new_page,
    wait_for_projected_gates,
)
from tests.conftest import loan_input, make_user, start_loan
from tests.test_sidecar import poll_until

pytestmark = pytest.mark.browser

# The portal under daphne (pytest-django's live server has no WebSockets).
asgi_portal = test_browser_live.asgi_portal
LIVE_TIMEOUT_MS = test_browser_live.LIVE_TIMEOUT_MS

VIEWPORTS = [pytest.param((1366, 900), id="1366x900"), pytest.param((390, 844), id="390x844")]
BELL = re.compile(r"^Notifications")


def bell_page(
    browser: Browser, base_url: str, username: str, size: tuple[int, int], *, fake_clock: bool = False
) -> Page:
    """A reviewer signed in at `size`, with the live socket open and the document tagged."""
    page = new_page(browser, size[0])
    page.set_viewport_size({"width": size[0], "height": size[1]})
    if fake_clock:  # before any script runs, so every timer is on it
        page.clock.install()
    log_in(page, base_url, username)
    expect(page.locator("#live-status")).to_have_text("Live")
    mark_document(page)
    return page


def stored(**notice: str) -> None:
    """Wait (up to 30 s) until such a notification is stored, before timing its push."""
    poll_until(lambda: Notification.objects.filter(**notice).exists(), timeout=30)
    assert Notification.objects.filter(**notice).exists(), notice


def expect_count(page: Page, count: int) -> None:
    bell = page.get_by_role("link", name=BELL)
    if count:
        expect(bell).to_have_accessible_name(f"Notifications {count} unread", timeout=LIVE_TIMEOUT_MS)
    else:
        expect(bell).to_have_accessible_name("Notifications 0 unread", timeout=LIVE_TIMEOUT_MS)


def fits(page: Page) -> None:
    """The bell is on screen and the header does not make the page scroll sideways."""
    box = page.get_by_role("link", name=BELL).bounding_box()
    width = page.viewport_size["width"]
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("size", VIEWPORTS)
def test_the_bell_counts_an_assignment_live_and_marking_read_drops_it(
    asgi_portal,
    temporal,
    worker,
    browser,
    size,
):
    make_user("officer", "credit_officer")
    make_user("colleague", "credit_officer")
    colleague = bell_page(browser, asgi_portal.url, "colleague", size)
    expect_count(colleague, 0)
    fits(colleague)

    handle = start_loan(temporal, worker, loan_input())
    (gate,) = wait_for_projected_gates(handle)
    actions.assign(temporal, handle, gate.gate_id, "officer", actions.OFFICER, "colleague")
    stored(recipient__username="colleague")  # the live budget is the push's, not the run's

    expect_count(colleague, 1)
    assert_same_document(colleague)  # a push brought it, not a reload
    told = Notification.objects.get(recipient__username="colleague").created_at
    print(f"notice stored -> bell updated: {(time.time() - told.timestamp()) * 1000:.0f} ms or less")
    assert Notification.objects.filter(recipient__username="officer").count() == 0
    fits(colleague)
    colleague.screenshot(path=SCREENSHOTS / f"notices-bell-{size[0]}.png")

    colleague.get_by_role("link", name=BELL).click()
    expect(colleague.get_by_role("heading", level=1)).to_have_text("Notifications")
    # The page's scripts have run (its socket is live): a click before htmx took the form would
    # send it as a page load, as a browser without scripts does (seen once on a loaded CI pass).
    expect(colleague.locator("#live-status")).to_have_text("Live")
    item = colleague.locator("li.notice")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(f"Assigned to you: {gate.subject}.")
    colleague.screenshot(path=SCREENSHOTS / f"notices-list-{size[0]}.png", full_page=True)
    mark_document(colleague)
    colleague.get_by_role("button", name=re.compile("^Mark read")).click()

    expect(colleague.locator("li.notice.unread")).to_have_count(0)
    expect_count(colleague, 0)
    assert_same_document(colleague)  # htmx swapped the list in place
    item.get_by_role("link", name=f"Assigned to you: {gate.subject}.").click()
    expect(colleague).to_have_url(re.compile(f"/gates/{re.escape(gate.gate_id)}/$"))
    temporal.run(handle.terminate("test done"))


@pytest.mark.parametrize("size", VIEWPORTS)
def test_the_bell_counts_an_escalation_live_and_mark_all_clears_it(
    asgi_portal,
    temporal,
    worker,
    browser,
    size,
):
    make_user("officer", "credit_officer")
    make_user("senior", "senior_credit_officer")
    make_user("adviser", "licensed_adviser")
    senior = bell_page(browser, asgi_portal.url, "senior", size)
    adviser = bell_page(browser, asgi_portal.url, "adviser", size)
    expect_count(senior, 0)

    handle = start_loan(temporal, worker, loan_input(sla_seconds=3, escalation_sla_seconds=3600))
    stored(recipient__username="senior")  # the run, its SLA and the notice: not the push's budget

    expect_count(senior, 1)
    assert_same_document(senior)
    senior.get_by_role("link", name=BELL).click()
    expect(senior.locator("li.notice")).to_contain_text("Escalated to your role because its SLA ran out")
    senior.get_by_role("button", name="Mark all as read").click()
    expect_count(senior, 0)
    expect(senior.get_by_role("button", name="Mark all as read")).to_have_count(0)
    expect_count(adviser, 0)  # another role's reviewer hears nothing
    temporal.run(handle.terminate("test done"))


@pytest.mark.parametrize("size", VIEWPORTS)
def test_without_the_socket_the_bell_polls_and_with_it_it_does_not(
    asgi_portal, temporal, worker, browser, size
):
    make_user("officer", "credit_officer")
    make_user("colleague", "credit_officer")
    # A proxy that refuses WebSockets: the officer's page never gets a socket.
    cut_off = new_page(browser, size[0])
    cut_off.set_viewport_size({"width": size[0], "height": size[1]})
    cut_off.clock.install()
    cut_off.route_web_socket(re.compile("/ws/gates/"), lambda ws: ws.close())
    log_in(cut_off, asgi_portal.url, "officer")
    expect(cut_off.locator("#live-status")).to_have_text("Reconnecting…")
    live = bell_page(browser, asgi_portal.url, "colleague", size, fake_clock=True)
    polls: list[str] = []
    live.on(
        "request",
        lambda request: polls.append(request.url) if "/notifications/count/" in request.url else None,
    )

    notification_create_for_user(
        user=User.objects.get(username="officer"),
        event=NoticeEvent(
            kind="sla_warning", gate_id="loan-x--g1", subject="Case", text="SLA soon.", event_key="k"
        ),
    )
    expect_count(cut_off, 0)  # no push reaches it
    with cut_off.expect_request(re.compile("/notifications/count/")) as poll:
        cut_off.clock.fast_forward(31_000)
    expect_count(cut_off, 1)  # its poll found it
    # Not the user's activity: a bell left polling does not keep an idle session alive.
    assert poll.value.headers.get("x-portal-background") == "1"

    live.clock.fast_forward(61_000)
    live.wait_for_timeout(500)
    assert polls == []  # a live page never polls
