"""Conversations with customers: start one, send the customer's message, send a rep's signed
reply, close or release. One path sends every Update and says how the conversation answered."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from agents.framework.reviewer_actions import Signature
from agents.framework.signing import signed_at_text
from agents.support.contract import (
    AGENT,
    CONVERSATION_CLOSED,
    CUSTOMER_MESSAGE,
    REP_ACTION_APPLIED,
    SUPPORT_WORKFLOW,
    CustomerMessage,
    RepAction,
    SupportInput,
    TurnReply,
)
from agents.support.rep_actions import rep_action_message
from reviewer_portal.accounts.roles import reviewer_roles_of
from reviewer_portal.conversations.tokens import new_conversation_id, token_for
from reviewer_portal.domains import domain_of
from reviewer_portal.history.services import workflow_chain
from reviewer_portal.intake.services import pinned_spec
from reviewer_portal.temporal_client import (
    START_TIMEOUT_SECONDS,
    TemporalBusy,
    TemporalUnreachable,
    client_for_agent,
    run_on_client_loop,
    start_slot,
)
from reviewer_portal.trust.keys import signing_key, trusted_keys

# A customer's turn runs the model and tools: give it longer than a reviewer's action.
TURN_TIMEOUT = timedelta(seconds=60)

ACCEPTED = "accepted"
REFUSED = "refused"
CLOSED = "closed"
GONE = "gone"
PENDING = "pending"  # sent, but the answer did not come in time: the transcript will show it
UNAVAILABLE = "unavailable"


class ConversationUnavailable(Exception):
    """Temporal could not be reached: no conversation was started; try again."""


@dataclass(frozen=True)
class Sent:
    status: str
    detail: str = ""
    reply: TurnReply | None = None


@dataclass(frozen=True)
class Started:
    id: str
    token: str


def conversation_start(*, customer_id: str, conversation_id: str = "") -> Started:
    """Start a conversation for `customer_id`; the token lets its holder speak in it. Given the
    id of one already started (the demo's), it starts nothing and answers with that one."""
    conversation_id = conversation_id or new_conversation_id()
    start = SupportInput(customer_id=customer_id, spec=pinned_spec(AGENT), trusted_keys=trusted_keys())

    async def run() -> None:
        client = await client_for_agent(AGENT)
        async with start_slot():
            with contextlib.suppress(WorkflowAlreadyStartedError):
                await client.start_workflow(
                    SUPPORT_WORKFLOW, start, id=conversation_id, task_queue=domain_of(AGENT).task_queue
                )

    try:
        run_on_client_loop(run(), timeout=START_TIMEOUT_SECONDS)
    except TemporalBusy as err:  # it may have started: say nothing about that, only what to do
        raise ConversationUnavailable("Our assistant is busy right now. Try again shortly.") from err
    except (TemporalUnreachable, RPCError) as err:
        raise ConversationUnavailable(
            "Our assistant cannot be reached right now, so no conversation started. Try again shortly."
        ) from err
    return Started(id=conversation_id, token=token_for(conversation_id))


def conversation_customer_message(*, conversation_id: str, text: str, message_id: str = "") -> Sent:
    """The customer's message; the answer is the agent's reply (or that a rep will answer).

    A client that sends its own `message_id` may send the message again (after a lost answer):
    it is the Update's id, so the run takes it once and answers both with the same reply.
    """
    update_id = f"customer-{message_id or uuid.uuid4().hex}"
    return _send(conversation_id, CUSTOMER_MESSAGE, CustomerMessage(text=text), update_id, TURN_TIMEOUT)


def conversation_rep_act(
    *, conversation_id: str, rep: AbstractBaseUser, action: str, text: str, submission_id: uuid.UUID
) -> Sent:
    """A rep's reply (`rep_reply`) or closing note (`rep_close`), or an admin's or supervisor's
    release (`rep_release`, `text` its reason), signed for this Update only.

    `submission_id` is the form's: the same form sent again (a double click, or a resend after the
    answer took too long) is the same action and the same Update, which the run applies once."""
    key = signing_key()
    action_id = f"rep-{rep.pk}-{submission_id.hex}"
    update_id = f"{action_id}#1"
    unsigned = RepAction(
        text=text,
        rep=rep.get_username(),
        rep_id=str(rep.pk),
        rep_roles=sorted(reviewer_roles_of(rep)),
        action_id=action_id,
        signature=Signature(
            key_id=key.key_id,
            signed_at=signed_at_text(timezone.now()),
            value="",
            endorsements=list(key.endorsements),
        ),
    )
    message = rep_action_message(action, unsigned, workflow_id=conversation_id, update_id=update_id)
    assert unsigned.signature is not None
    signed = replace(unsigned, signature=replace(unsigned.signature, value=key.sign(message)))
    timeout = timedelta(seconds=settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS)
    return _send(conversation_id, action, signed, update_id, timeout)


def _send(conversation_id: str, update: str, argument: object, update_id: str, timeout: timedelta) -> Sent:
    # Named by its handoff gate's chain, as the inbox's actions are (reviewer_portal.inbox.publishing):
    # a run started again under the conversation's id is not handed a rep's words.
    chain, _ = workflow_chain(conversation_id)

    async def execute() -> TurnReply:
        client = await client_for_agent(AGENT)
        handle = client.get_workflow_handle(conversation_id, first_execution_run_id=chain or None)
        reply: TurnReply = await handle.execute_update(
            update, argument, id=update_id, result_type=TurnReply, rpc_timeout=timeout
        )
        return reply

    try:
        # Past the Update's own timeout, the wait below only guards against a stuck loop.
        return Sent(ACCEPTED, reply=run_on_client_loop(execute(), timeout=timeout.total_seconds() + 30))
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        detail = str(getattr(cause, "message", None) or cause or err)
        kind = getattr(cause, "type", None)
        if kind == REP_ACTION_APPLIED:  # this form, sent before, reached the customer then
            return Sent(ACCEPTED)
        return Sent(CLOSED if kind == CONVERSATION_CLOSED else REFUSED, detail)
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        return Sent(PENDING, "The answer is taking a while; it will appear in the conversation.")
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return Sent(GONE, "This conversation has ended.")
        return Sent(UNAVAILABLE, "The conversation service is not reachable right now.")
    except TemporalBusy:
        return Sent(PENDING, "The answer is taking a while; it will appear in the conversation.")
    except TemporalUnreachable:
        return Sent(UNAVAILABLE, "The conversation service is not reachable right now.")
