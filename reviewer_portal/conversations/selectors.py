"""Reading conversations: the transcript the workflow holds, and who may take them over."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from agents.support.contract import AGENT, TRANSCRIPT_QUERY, Transcript
from agents.support.rep_actions import ACTING_ROLES
from reviewer_portal.accounts.roles import reviewer_roles_of
from reviewer_portal.temporal_client import TemporalUnreachable, client_for_agent


def conversation_transcript(*, conversation_id: str) -> Transcript | None:
    """The conversation's transcript (a closed one's too), or None if there is no such run."""

    async def query() -> Transcript:
        handle = (await client_for_agent(AGENT)).get_workflow_handle(conversation_id)
        timeout = timedelta(seconds=settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS)
        transcript: Transcript = await handle.query(
            TRANSCRIPT_QUERY, result_type=Transcript, rpc_timeout=timeout
        )
        return transcript

    try:
        return async_to_sync(query)()
    except (RPCError, WorkflowQueryFailedError, TemporalUnreachable):
        return None


def can_take_over(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Support representatives and admins take conversations over."""
    return bool(ACTING_ROLES & reviewer_roles_of(user))


def transcript_json(conversation_id: str, transcript: Transcript) -> dict[str, Any]:
    return {
        "id": conversation_id,
        "status": transcript.status,
        "summary": transcript.summary,
        "entries": [
            {"index": e.index, "author": e.author, "text": e.text, "at": e.at.isoformat(), "by": e.by}
            for e in transcript.entries
        ],
    }
