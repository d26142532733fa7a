"""Which chain of runs a run belongs to, by Temporal's word: the chain's first run id, which
continue-as-new and reset keep (Gate.chain_id binds a gate to the chain that opened it).

A run cannot name another chain as its own here: the answer is the server's, never the run's.
The description's `first_run_id` is a recent field; a server that leaves it empty is asked for the
run's started event instead, which has carried `first_execution_run_id` for years. An empty
answer means "cannot tell", never "another chain".
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from reviewer_portal.temporal_client import get_client, run_on_client_loop

# A chain's runs walked, first to latest (a 1,000-section review continues as new about 300 times).
MAX_RUNS_WALKED = 1_000
# Runs listed under one workflow id, newest first, looked through for a reset run of a chain.
MAX_RUNS_LISTED = 50
# How long an activity waits on Temporal's answer, each call.
ASK_TIMEOUT = timedelta(seconds=3)


async def chain_of(
    client: Client, workflow_id: str, run_id: str = "", timeout: timedelta | None = None
) -> tuple[str, str]:
    """(run id, chain) of run `run_id` of `workflow_id`, or of its latest run."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id or None)
    described = await handle.describe(rpc_timeout=timeout)
    chain = described.raw_description.workflow_execution_info.first_run_id
    if not chain:
        run = client.get_workflow_handle(workflow_id, run_id=described.run_id)
        async for event in run.fetch_history_events(page_size=1, rpc_timeout=timeout):
            chain = event.workflow_execution_started_event_attributes.first_execution_run_id
            break
    return described.run_id, chain


def calling_chain() -> str:
    """The chain of the run that scheduled the current activity, from its thread (the portal's
    client loop asks). Within seconds, well inside the publish activities' own timeout: a slow
    Temporal fails the try (it is retried), never holds a worker's thread for long."""
    info = activity.info()

    async def ask() -> str:
        client = await get_client(info.namespace)
        return (await chain_of(client, info.workflow_id or "", info.workflow_run_id or "", ASK_TIMEOUT))[1]

    return run_on_client_loop(ask(), timeout=ASK_TIMEOUT.total_seconds() * 2 + 1)


def calling_run_is_open() -> bool:
    """Whether the run that scheduled the current activity is still running (a run a reset ended
    may have an activity under way still), within seconds as `calling_chain`."""
    info = activity.info()

    async def ask() -> bool:
        client = await get_client(info.namespace)
        handle = client.get_workflow_handle(info.workflow_id or "", run_id=info.workflow_run_id or None)
        return (await handle.describe(rpc_timeout=ASK_TIMEOUT)).status == WorkflowExecutionStatus.RUNNING

    return run_on_client_loop(ask(), timeout=ASK_TIMEOUT.total_seconds() + 1)


async def run_of_chain(
    client: Client, workflow_id: str, chain: str, timeout: timedelta | None = None, known: str = ""
) -> str | None:
    """The id of `chain`'s latest run under `workflow_id`, closed or not: the latest run under the
    id, unless that is of another chain (a run started again under the id: then the chain's own,
    `latest_run_of_chain`, walked from `known`, a run of the chain); None if the chain's runs are
    gone."""
    run_id, latest = await chain_of(client, workflow_id, timeout=timeout)
    if not latest or latest == chain:
        return run_id
    return await latest_run_of_chain(client, workflow_id, chain, timeout, known)


async def latest_run_of_chain(
    client: Client, workflow_id: str, chain: str, timeout: timedelta | None = None, known: str = ""
) -> str | None:
    """The id of the latest run of `chain` under `workflow_id` (another chain's run is the latest
    there now), or None if its runs are gone. Walked forward, continued run by continued run, from
    `known` (the run that last published the gate, say), else from the chain's first run: nobody
    but the chain's own workers can lengthen that walk, however many runs others start under the
    id. A walk that ends at a terminated run (a reset ends the run it resets, and links no
    successor) looks for a later run of the chain among the newest listed."""
    run_id, last = known or chain, None
    try:
        for _ in range(MAX_RUNS_WALKED):
            last = await _last_event(client, workflow_id, run_id, timeout)
            if last is None or not last.HasField("workflow_execution_continued_as_new_event_attributes"):
                break
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return None  # deleted (retention): the archive holds the chain
    if last is not None and last.HasField("workflow_execution_terminated_event_attributes"):
        return await _listed_run_of_chain(client, workflow_id, chain, timeout) or run_id
    return run_id


async def _last_event(
    client: Client, workflow_id: str, run_id: str, timeout: timedelta | None
) -> HistoryEvent | None:
    """The run's last event, read alone: how it closed, and as what it continued, if it did."""
    request = GetWorkflowExecutionHistoryReverseRequest(
        namespace=client.namespace,
        execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        maximum_page_size=1,
    )
    answer = await client.workflow_service.get_workflow_execution_history_reverse(request, timeout=timeout)
    return answer.history.events[0] if answer.history.events else None


async def _listed_run_of_chain(
    client: Client, workflow_id: str, chain: str, timeout: timedelta | None
) -> str | None:
    """The newest run of `chain` among the newest runs listed under `workflow_id`."""
    if not listable(workflow_id):
        return None
    runs = client.list_workflows(f"WorkflowId = '{workflow_id}'", limit=MAX_RUNS_LISTED, rpc_timeout=timeout)
    async for execution in runs:  # newest first
        listed = execution.raw_info.first_run_id
        if not listed:
            _, listed = await chain_of(client, workflow_id, execution.run_id, timeout)
        if listed == chain:
            return execution.run_id
    return None


def listable(workflow_id: str) -> bool:
    """An id a visibility query can name literally (the portal's ids are letters, digits and dashes)."""
    return bool(workflow_id) and not any(c in workflow_id for c in "'\"\\") and workflow_id.isprintable()
