"""The decide view, async: the checks and the recorded-first write in one trip to a thread for the
database, the Update awaited on the server's own event loop, then one more trip to render the
decision panel (reviewer_portal.inbox.deciding has the fast write). An acceptance is shown from
the Update's own answer and change, and kept (the answer, then the projection) once the reply has
gone (reviewer_portal.after_reply). The htmx reply is the panel alone; a decision that changed the
case (edits, a change request) adds the case column, out of band. Nothing of the workspace around
them (queue neighbours, the actions list) is read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from copy import copy
from dataclasses import dataclass
from functools import partial

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from reviewer_portal.after_reply import AfterReply
from reviewer_portal.htmx_request import HtmxHttpRequest
from reviewer_portal.inbox.confirmation import NO_REASON, confirm_step, confirmation_refusal
from reviewer_portal.inbox.deciding import RecordedDecision, decision_gate_for, decision_record_signed
from reviewer_portal.inbox.delivery import ActionConflict, action_answer
from reviewer_portal.inbox.forms import DecisionForm
from reviewer_portal.inbox.gate_context import (
    UNREAD,
    changed_since_shown_response,
    decision_response,
    grounds_of,
    panel_context,
)
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.outcomes import LEVEL, one_at_a_time_text, outcome_text
from reviewer_portal.inbox.permissions import gate_permissions_for
from reviewer_portal.inbox.presentation import workspace_of
from reviewer_portal.inbox.projection import gate_as_patched
from reviewer_portal.inbox.seen import changed_since_shown, seen_of
from reviewer_portal.inbox.sending import Answer, send_async
from reviewer_portal.request_threads import step_aside

Status = ActionAttempt.Status


@dataclass(frozen=True)
class Sending:
    """A decision recorded and on its way: the gate it is on, and whether it was recorded just now
    (then no other decision of the user's waits on the gate)."""

    gate: Gate
    recorded: RecordedDecision
    fresh: bool


@require_POST
async def gate_decide_view(request: HtmxHttpRequest, gate_id: str) -> HttpResponse:
    # Signed in, checked in the thread with the ORM: `login_required` would load the user a second
    # time, through `request.auser`, beside the `request.user` the middleware already read.
    checked = await sync_to_async(_check_and_record)(request, gate_id)
    if isinstance(checked, HttpResponse):
        return checked
    envelope = checked.recorded.envelope
    answer = None
    if envelope is not None:
        step_aside()  # the next request may run on the thread lent to this one while it waits
        answer = await send_async(checked.recorded.attempt, checked.gate, envelope)
    # Shielded: a reviewer who goes away meanwhile (Django then cancels this view and never closes
    # the reply) still has the run's answer kept, here, before the request ends.
    answered = asyncio.ensure_future(sync_to_async(_answered)(request, checked, answer))
    try:
        return await asyncio.shield(answered)
    except asyncio.CancelledError:
        reply = await answered
        if isinstance(reply, AfterReply):
            await sync_to_async(reply.run_after)()
        raise


def _check_and_record(request: HtmxHttpRequest, gate_id: str) -> HttpResponse | Sending:
    """Everything before the Update: who may decide, the form, the confirm step, the record."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    gate, queued = decision_gate_for(user=request.user, gate_id=gate_id)

    def refuse(status: int, **extra: object) -> HttpResponse:
        return decision_response(request, gate, status=status, queued=queued, **extra)

    if place := workspace_of(gate.agent, gate.kind, gate.workflow_id):
        return refuse(409, notice=f"This gate is not decided here: use “{place.label}” ({place.url}).")
    may = gate_permissions_for(user=request.user, gate=gate)
    if may.own_case:  # the workflow would refuse it too, in the same words
        return refuse(409, notice="Four-eyes rule: you submitted this case, so someone else must decide it.")
    if not may.decide:
        return refuse(409, notice="This gate is no longer waiting for a decision from your role.")
    form = DecisionForm(
        request.POST, editable=gate.editable, proposal=gate.proposal, grounds=grounds_of(gate)
    )
    if not form.is_valid():
        return refuse(400, form=form)
    seen = seen_of(gate, reviewer_id=request.user.pk)  # kept with the decision, if it is recorded
    if changed := changed_since_shown(seen, form.cleaned_data["shown"]):
        return changed_since_shown_response(request, gate, changed=changed, queued=queued)
    if may.claim_first and may.claim:  # a submitter is told the four-eyes rule by the workflow instead
        return refuse(409, notice="Claim this gate to decide it.")
    if queued and not queued.action_id.endswith(f":{form.cleaned_data['submission_id']}"):
        # One decision of theirs at a time: say so before any confirm step (the same form sent
        # again goes on to be recorded, which knows it: the same decision, or other content).
        return refuse(409, notice=one_at_a_time_text(queued))
    # A confirmation is bound to the reviewer too: another's token confirms nothing here.
    data = {**form.cleaned_data, "reviewer": str(request.user.pk)}
    if data["confirmed"]:
        if refusal := confirmation_refusal(gate, data, data["reason"]):
            step = confirm_step(gate, data, keyboard=True) if refusal == NO_REASON else None
            return refuse(400, notice=refusal, form=form, confirm=step)
    elif queued is None and (step := confirm_step(gate, data, keyboard=data["keyboard"])):
        # Nothing is recorded or sent: the panel asks first (reviewer_portal.inbox.confirmation).
        return refuse(200, form=form, confirm=step)
    try:
        recorded = decision_record_signed(
            gate=gate,
            reviewer=request.user,
            decision=data["decision"],
            reason=data["reason"],
            submission_id=str(data["submission_id"]),
            revision=data["revision"],
            edits=form.edits(),
            seen=seen,
        )
    except PermissionError as err:
        return refuse(403, notice=str(err))
    except ActionConflict as err:
        return refuse(409, notice=str(err))
    return Sending(gate, recorded, fresh=queued is None and recorded.envelope is not None)


def _answered(request: HtmxHttpRequest, sending: Sending, answer: Answer | None) -> HttpResponse:
    """Keep the run's answer (if this request sent it) and reply with the panel.

    An acceptance the htmx panel can show at once is kept after the reply has gone (AfterReply):
    the panel shows the gate as the Update's change leaves it, and the writes (the answer, then
    the projection with its notices, live push and inbox versions) follow. Until then the record
    says `sending`, which is true, and is never lost: the run's publish accepts it and writes the
    same change, and a portal that died meanwhile leaves it for redelivery, which the run applies
    once.
    """
    attempt, gate = sending.recorded.attempt, sending.gate
    if request.htmx and answer is not None and _shown_at_once(answer, gate):
        shown = copy(attempt)
        shown.status, shown.detail = answer.status, answer.detail
        return _panel(request, sending, shown, gate, after=partial(action_answer, attempt, answer))
    if answer is not None:
        attempt = action_answer(attempt, answer)
    if not request.htmx:
        messages.add_message(request, LEVEL.get(attempt.status, messages.INFO), outcome_text(attempt))
        return redirect("inbox:gate", gate_id=gate.gate_id)
    gate.refresh_from_db()
    return _panel(request, sending, attempt, gate)


def _shown_at_once(answer: Answer, gate: Gate) -> bool:
    """An acceptance whose change follows on from the gate as read (now changed in memory to
    match); anything else is kept before the reply, which then reads what was kept."""
    return (
        answer.status == Status.ACCEPTED
        and answer.change is not None
        and gate_as_patched(gate, answer.change)
    )


def _panel(
    request: HtmxHttpRequest,
    sending: Sending,
    attempt: ActionAttempt,
    gate: Gate,
    after: Callable[[], object] | None = None,
) -> HttpResponse:
    # Recorded just now, no other decision of theirs waits: this one, if it still does.
    waiting = attempt if attempt.status in ActionAttempt.OPEN else None
    queued = waiting if sending.fresh else UNREAD
    context = panel_context(request, gate, attempt=attempt, queued=queued)
    content = render_to_string("inbox/gate.html#decision-panel", context, request)
    if attempt.status == Status.ACCEPTED and (attempt.edits or attempt.decision == "request_changes"):
        # The case changed beyond the panel (an edit's diff; after a change request, the poll for
        # the agent's revision, or already its new recommendation): its column comes along.
        column = {**context, "case_out_of_band": True}
        content += render_to_string("inbox/gate.html#case-column", column, request)
    return HttpResponse(content) if after is None else AfterReply(content, after=after)
