"""Reading conversations: the transcript the workflow holds, and who may take them over."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from agents.support.contract import AGENT, TRANSCRIPT_QUERY, Transcript
from reviewer_portal.accounts.roles import ADMIN_ROLE, reviewer_roles_of
from reviewer_portal.history.services import workflow_chain
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.permissions import gate_permissions_for
from reviewer_portal.inbox.run_chain import run_of_chain
from reviewer_portal.request_threads import async_to_sync_aside
from reviewer_portal.temporal_client import TemporalUnreachable, client_for_agent


def conversation_transcript(*, conversation_id: str) -> Transcript | None:
    """The conversation's transcript (a closed one's too), or None if there is no such run."""
    # Its handoff gate's chain of runs once one names it: a run started again under the id is not
    # the conversation (reviewer_portal.inbox.run_chain).
    chain, known = workflow_chain(conversation_id)

    async def query() -> Transcript | None:
        client = await client_for_agent(AGENT)
        run_id = await run_of_chain(client, conversation_id, chain, known=known) if chain else ""
        if run_id is None:
            return None
        handle = client.get_workflow_handle(conversation_id, run_id=run_id or None)
        timeout = timedelta(seconds=settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS)
        transcript: Transcript = await handle.query(
            TRANSCRIPT_QUERY, result_type=Transcript, rpc_timeout=timeout
        )
        return transcript

    try:
        return async_to_sync_aside(query)()
    except (RPCError, WorkflowQueryFailedError, TemporalUnreachable):
        return None


@dataclass(frozen=True)
class RepAccess:
    """What a portal user may do with a conversation: only one handed to the representatives
    (its handoff gate) opens, to that gate's role, its supervisors and admins; only the rep who
    holds it, or anyone of the role while nobody does, answers it (and admins); an admin or a
    supervisor frees it from its holder."""

    handoff: Gate
    may_reply: bool
    refusal: str  # why not, when they may not reply
    releases: bool = False  # an admin or a supervisor of the role: may free it from its holder

    @property
    def may_release(self) -> bool:
        """Someone holds the pending handoff and the user may free it for the other reps."""
        return self.releases and self.handoff.status == Gate.Status.PENDING and bool(self.handoff.assignee)


def rep_access_for(*, user: AbstractBaseUser, conversation_id: str) -> RepAccess | None:
    """None when the user may not even read the conversation (never handed off, or not theirs)."""
    handoff = Gate.objects.filter(workflow_id=conversation_id, agent=AGENT).order_by("-opened_at").first()
    if handoff is None:
        return None
    roles = reviewer_roles_of(user)
    admin = ADMIN_ROLE in roles
    releases = admin or bool(roles & set(handoff.supervisors))
    if handoff.role not in roles and not releases:
        return None
    may = gate_permissions_for(user=user, gate=handoff)
    if handoff.status != Gate.Status.PENDING:
        return RepAccess(handoff, False, "This conversation is closed.", releases)
    if handoff.role not in roles and not admin:
        return RepAccess(
            handoff, False, "Only its representatives, or an admin, answer a customer.", releases
        )
    if may.held_by_other and not admin:
        refusal = f"{handoff.assignee} has this conversation; only they answer it."
        return RepAccess(handoff, False, refusal, releases)
    return RepAccess(handoff, True, "", releases)


def transcript_json(conversation_id: str, transcript: Transcript) -> dict[str, Any]:
    """The transcript as the customer reads it: a representative is "Support", never a username."""
    return {
        "id": conversation_id,
        "status": transcript.status,
        "summary": transcript.summary,
        "entries": [
            {
                "index": e.index,
                "author": e.author,
                "text": e.text,
                "at": e.at.isoformat(),
                "by": "Support" if e.by else "",
            }
            for e in transcript.entries
        ],
    }
