"""A decision's reply goes before the writes the run makes anyway (issue 12, decision latency;
reviewer_portal/after_reply.py): through the portal's ASGI handler, as daphne and uvicorn run it, the
reply's last byte is sent before the answer is kept and the projection takes the change, all
within the request; a reviewer who goes away meanwhile still has the answer kept; a write that
fails after the reply is logged, and the run's publish brings the row and the answer."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any
from urllib.parse import urlencode

import uvloop
from asgiref.sync import async_to_sync
from django.db import OperationalError
from django.test import Client

from reviewer_portal.http_handler import PortalHTTPHandler
from reviewer_portal.inbox import decide_views
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.sending import Answer
from reviewer_portal.request_threads import RequestThreads
from tests import test_decision_latency
from tests.conftest import logged_in, projected_gate
from tests.test_decision_latency import HTMX, claimed, form, workflow_gate

officer = test_decision_latency.officer  # the fixture, shared with the fast path's tests


def asgi_post(
    client: Client,
    path: str,
    data: dict[str, str],
    happened: list[str],
    gone: threading.Event | None = None,
    *,
    on_uvloop: bool = False,
) -> None:
    """POST `data` as htmx does through the portal's ASGI handler (what daphne and uvicorn run), as
    `client`'s signed-in browser; adds "reply sent (<status>)" to `happened` once its last byte
    went out. The browser goes away (closes the connection) once `gone` is set. On an asyncio
    event loop, or with `on_uvloop` on uvloop's, as each `serve_portal` process runs."""
    cookies = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"cookie", cookies.encode()),
            (b"x-csrftoken", client.cookies["csrftoken"].value.encode()),
            (b"hx-request", b"true"),
            (b"content-type", b"application/x-www-form-urlencoded"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    body = urlencode(data).encode()
    status: list[int] = []

    requests = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, object]:
        if requests:
            return requests.pop()
        if gone is not None:
            await asyncio.to_thread(gone.wait, 30)
            return {"type": "http.disconnect"}
        await asyncio.Event().wait()  # the client stays connected; the handler cancels this
        raise AssertionError("unreachable")

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))  # type: ignore[call-overload]
        elif not message.get("more_body"):
            happened.append(f"reply sent ({status[0]})")

    threads = RequestThreads(1)
    handler = PortalHTTPHandler(threads)
    try:
        if on_uvloop:
            uvloop.run(handler(scope, receive, send))
        else:
            async_to_sync(handler)(scope, receive, send)
    finally:
        threads.close()


def test_the_reply_goes_before_the_answer_and_projection_are_written_which_is_done_when_the_request_ends(
    temporal, portal, officer, loan_gate, monkeypatch
):
    _handle, gate = loan_gate
    client = logged_in(officer)
    gate = claimed(client, gate)
    client.get(f"/gates/{gate.gate_id}/")  # the CSRF cookie, as the browser holds it
    happened: list[str] = []
    keep = decide_views.action_answer

    def kept(attempt: ActionAttempt, answer: Answer) -> ActionAttempt:
        happened.append(f"answer kept ({attempt.status} until now)")
        return keep(attempt, answer)

    monkeypatch.setattr(decide_views, "action_answer", kept)
    asgi_post(client, f"/gates/{gate.gate_id}/decide/", form(gate), happened)

    assert happened == ["reply sent (200)", "answer kept (sending until now)"]
    # (The run's own publish may have brought the row first: the second write is then a no-op.)
    assert Gate.objects.get(gate_id=gate.gate_id).status == "approved"
    assert ActionAttempt.objects.get(gate_id=gate.gate_id, action="decide").status == "accepted"


def test_a_decision_served_on_uvloop_as_serve_portal_serves_it_reaches_the_run_and_is_kept(
    temporal, portal, officer, loan_gate, monkeypatch
):
    """Each `serve_portal` process runs uvloop's event loop: the decide view awaits the run's
    Update there, with the Client connected on the portal's own client loop."""
    _handle, gate = loan_gate
    client = logged_in(officer)
    gate = claimed(client, gate)
    client.get(f"/gates/{gate.gate_id}/")
    loops: list[str] = []
    send = decide_views.send_async

    async def sending(*args: Any, **kwargs: Any) -> Answer:
        loops.append(type(asyncio.get_running_loop()).__module__)
        return await send(*args, **kwargs)

    monkeypatch.setattr(decide_views, "send_async", sending)
    happened: list[str] = []
    asgi_post(client, f"/gates/{gate.gate_id}/decide/", form(gate), happened, on_uvloop=True)

    assert loops == ["uvloop"]
    assert happened == ["reply sent (200)"]
    assert Gate.objects.get(gate_id=gate.gate_id).status == "approved"
    assert ActionAttempt.objects.get(gate_id=gate.gate_id, action="decide").status == "accepted"


def test_a_reviewer_who_goes_away_before_the_reply_still_has_the_runs_answer_kept_by_the_request(
    temporal, portal, officer, loan_gate, monkeypatch
):
    """Django cancels the view of a client that went away and never closes its reply: the answer
    is kept by the view itself (attacker's review of issue 12), not left to the run's publish."""
    _handle, gate = loan_gate
    client = logged_in(officer)
    gate = claimed(client, gate)
    client.get(f"/gates/{gate.gate_id}/")
    happened: list[str] = []
    gone = threading.Event()
    views: list[asyncio.Task[Any]] = []  # the task that runs the view, seen as it sends the decision
    keep, context, send = decide_views.action_answer, decide_views.panel_context, decide_views.send_async

    def kept(attempt: ActionAttempt, answer: Answer) -> ActionAttempt:
        happened.append(f"answer kept ({answer.status})")
        return keep(attempt, answer)

    async def sending(*args: Any, **kwargs: Any) -> Answer:
        view = asyncio.current_task()
        assert view is not None
        views.append(view)
        return await send(*args, **kwargs)

    def slow_context(*args: object, **kwargs: object) -> dict[str, object]:
        gone.set()  # the browser closes the tab while the panel is being made,
        until_cancelled(views[0])  # and Django's handler cancels the view once it has seen it go
        return context(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(decide_views, "action_answer", kept)
    monkeypatch.setattr(decide_views, "send_async", sending)
    monkeypatch.setattr(decide_views, "panel_context", slow_context)
    asgi_post(client, f"/gates/{gate.gate_id}/decide/", form(gate), happened, gone)

    assert happened == ["answer kept (accepted)"]  # and no reply sent
    assert ActionAttempt.objects.get(gate_id=gate.gate_id, action="decide").status == "accepted"


def test_a_write_failing_after_the_reply_is_logged_and_the_runs_publish_brings_the_row_and_the_answer(
    temporal, portal, officer, loan_gate, monkeypatch, caplog
):
    handle, gate = loan_gate
    client = logged_in(officer)
    gate = claimed(client, gate)

    def database_gone(attempt: ActionAttempt, answer: Answer) -> ActionAttempt:
        raise OperationalError("the database went away")

    monkeypatch.setattr(decide_views, "action_answer", database_gone)
    response = client.post(f"/gates/{gate.gate_id}/decide/", form(gate), headers=HTMX)

    # The reply already said what the run answered, from the Update's own answer and change.
    assert response.status_code == 200 and "Approval recorded by the agent." in response.content.decode()
    assert "Work after the reply failed" in caplog.text
    assert workflow_gate(temporal, handle).status == "approved"
    assert projected_gate(handle, version=gate.version + 1).status == "approved"
    # The gate names the action that decided it: the publish accepts the record left `sending`,
    # just after its commit of the gate's row (on_commit), so the row may be read first.
    assert decide_status_once_settled(gate) == "accepted"


def until_cancelled(task: asyncio.Task[Any], timeout: float = 10) -> None:
    """Wait, in another thread than the one running `task`'s event loop, until something has asked
    to cancel `task` (read from here: a counter, which that thread raises as it cancels the task)."""
    deadline = time.monotonic() + timeout
    while not task.cancelling():
        assert time.monotonic() < deadline, f"{task} was not cancelled within {timeout} s"
        time.sleep(0.01)


def decide_status_once_settled(gate: Gate, timeout: float = 10) -> str:
    """The gate's decide action's status once it has left `sending`, or still `sending` after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        status = ActionAttempt.objects.get(gate_id=gate.gate_id, action="decide").status
        if status != "sending" or time.monotonic() > deadline:
            return status
        time.sleep(0.05)
