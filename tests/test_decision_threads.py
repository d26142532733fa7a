"""The decision view on the portal's request threads (issue 12; reviewer_portal/http_handler.py): it
is a coroutine, served through the real handler with its sync parts on a lent thread, and while it
awaits its Update it lets the next request run. Real dev server; the run's worker has stopped, so
the Update waits in Temporal until TEMPORAL_UPDATE_TIMEOUT_SECONDS."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import httpx
import pytest

from reviewer_portal import request_threads
from reviewer_portal.http_handler import PortalHTTPHandler
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from reviewer_portal.request_threads import RequestThreads
from tests.conftest import loan_input, logged_in, make_user, projected_gate, start_loan

HTMX = {"HX-Request": "true"}
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
UPDATE_TIMEOUT_SECONDS = 3


@pytest.fixture
def officer(portal_settings):
    return make_user("officer", "credit_officer")


@pytest.fixture
def claimed_gate_without_worker(settings, temporal, portal_settings, officer) -> Gate:
    """A loan gate the officer claimed while its worker ran; the worker has stopped since."""
    with temporal.worker(portal_activities=PORTAL_ACTIVITIES) as queue:
        settings.TEMPORAL_TASK_QUEUE = queue
        gate = projected_gate(start_loan(temporal, queue, loan_input(submitted_by="intake")))
        claimed = logged_in(officer).post(
            f"/gates/{gate.gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers=HTMX
        )
        assert "You claimed this gate." in claimed.content.decode()
    settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS = UPDATE_TIMEOUT_SECONDS
    return Gate.objects.get(pk=gate.pk)


def test_a_decision_awaiting_its_update_lets_the_next_request_run_at_once(
    monkeypatch, officer, claimed_gate_without_worker
):
    """Two lent threads, one running at a time, and RUNNING_SECONDS far above the Update's wait: the
    inbox page asked for while the decision waits on Temporal is answered on the other thread at
    once, not after the decision. The decision then says it is recorded and will be sent."""
    monkeypatch.setattr(request_threads, "RUNNING_SECONDS", 30.0)
    gate = claimed_gate_without_worker
    session = logged_in(officer).cookies
    two = RequestThreads(2)
    handler = PortalHTTPHandler(two)

    async def scenario() -> tuple[httpx.Response, float, httpx.Response]:
        transport = httpx.ASGITransport(app=handler)
        cookies = {name: morsel.value for name, morsel in session.items()}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", cookies=cookies, timeout=60
        ) as http:
            page = await http.get(f"/gates/{gate.gate_id}/")
            form = {
                "decision": "approve",
                "reason": "Affordable.",
                "submission_id": str(uuid.uuid4()),
                "revision": str(len(gate.revisions)),
            }
            headers = {**HTMX, "X-CSRFToken": TOKEN.search(page.text).group(1)}
            deciding = asyncio.create_task(
                http.post(f"/gates/{gate.gate_id}/decide/", data=form, headers=headers)
            )
            recorded = ActionAttempt.objects.filter(gate_id=gate.pk, action="decide").exists
            while not await asyncio.to_thread(recorded):
                await asyncio.sleep(0.02)  # recorded: the Update is on its way
            await asyncio.sleep(0.2)
            assert not deciding.done()
            began = time.monotonic()
            inbox = await http.get("/")
            waited = time.monotonic() - began
            return inbox, waited, await deciding

    try:
        inbox, waited, decided = asyncio.run(scenario())
    finally:
        two.close()
    assert inbox.status_code == 200
    assert waited < UPDATE_TIMEOUT_SECONDS / 2, waited
    assert decided.status_code == 200
    assert "Your approval is recorded and will be sent." in decided.text
