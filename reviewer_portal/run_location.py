"""Which namespace holds a run, for pages that know only its workflow id (the audit trail)."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from agents.regulatory import REGULATORY_AGENT
from reviewer_portal.domains import domain_of, namespaces
from reviewer_portal.inbox.models import Gate
from reviewer_portal.intake.models import DocumentUpload
from reviewer_portal.temporal_client import client_for_agent, get_client


def known_agent(workflow_id: str) -> str | None:
    """The agent of a run the portal has a record of (a gate, an upload), else None."""
    agent = Gate.objects.filter(workflow_id=workflow_id).values_list("agent", flat=True).first()
    if agent is None and DocumentUpload.objects.filter(workflow_id=workflow_id).exists():
        agent = REGULATORY_AGENT.name
    return agent


def known_namespace(workflow_id: str) -> str:
    agent = known_agent(workflow_id)
    return domain_of(agent).namespace if agent else settings.TEMPORAL_NAMESPACE


async def client_for_run(workflow_id: str) -> Client:
    """The Client of the namespace holding the run: its agent's, else the first that knows it.
    A run nobody knows gets the default namespace's Client (which then answers NOT_FOUND)."""
    agent = await sync_to_async(known_agent)(workflow_id)
    if agent is not None:
        return await client_for_agent(agent)
    for namespace in namespaces():
        client = await get_client(namespace)
        try:
            await client.get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            continue
        return client
    return await get_client()
