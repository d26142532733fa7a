"""Rebuild the gate projection from Temporal, the source of truth.

For a portal database restored from backup, rows lost to an outage, or fields added to the
projection later: every agent run still in Temporal is read back (running runs by query, closed
ones from their result) and each gate is applied with the usual version check, so rows that are
already current are left alone. A gate is taken only from the run it belongs to, of its agent's
namespace; a row keeps its agent and its chain of runs (a lost row: the chain the portal's start
recorded), as the publish activities check. A run's query answers what the run says, and whoever
starts a run writes its input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError

from agents.framework.contract import AGENT_WORKFLOW, ALL_GATES_QUERY
from agents.framework.types import AgentResult, GateSnapshot
from reviewer_portal.history.services import started_chain
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.projection import gate_apply_snapshot
from reviewer_portal.inbox.publishing import chain_refusal, publisher_refusal
from reviewer_portal.inbox.run_chain import chain_of
from reviewer_portal.temporal_client import run_on_client_loop

AGENT_RUNS = f"WorkflowType = '{AGENT_WORKFLOW}'"
# A query needs a worker: without one, give up on that run after this long and say so.
QUERY_TIMEOUT = timedelta(seconds=10)


@dataclass(frozen=True)
class Reconciled:
    gates_read: int
    rows_changed: int
    # Running runs that did not answer the query (no worker serving their task queue).
    unanswered: list[str]
    # Why a gate a run reported was not applied (another run's, another namespace's agent).
    refused: list[str] = field(default_factory=list)


def projection_reconcile(*, client: Client, task_queue: str = "") -> Reconciled:
    """Apply every gate Temporal knows (of one task queue, if given)."""
    query = AGENT_RUNS + (f" AND TaskQueue = '{task_queue}'" if task_queue else "")
    reported, unanswered = run_on_client_loop(_gates_in_temporal(client, query), timeout=None)
    changed, refused = 0, []
    for workflow_id, chain, run, snapshot in reported:
        refusal = reconcile_refusal(
            snapshot, workflow_id=workflow_id, namespace=client.namespace, chain=chain
        )
        if refusal:
            refused.append(refusal)
        else:
            # A query answers no digest: a row it changes holds none until the run next publishes.
            # The run it came from is recorded: a run set back later is told from it (inbox.set_back).
            changed += gate_apply_snapshot(snapshot=snapshot, chain=chain, run=run, content="")
    return Reconciled(len(reported), changed, unanswered, refused)


def reconcile_refusal(snapshot: GateSnapshot, *, workflow_id: str, namespace: str, chain: str) -> str | None:
    """Why the report of `snapshot` by run `workflow_id` of chain `chain` is not applied; None if it is."""
    refusal = publisher_refusal(
        snapshot.gate_id, snapshot.agent, workflow_id=workflow_id, namespace=namespace
    )
    existing = Gate.objects.filter(gate_id=snapshot.gate_id).values_list("agent", "chain_id").first()
    if refusal is None and existing is not None and existing[0] != snapshot.agent:
        refusal = f"Gate {snapshot.gate_id} belongs to agent {existing[0]}, not {snapshot.agent}."
    if refusal is None:  # a missing row (a restore) is of the chain the portal started, if recorded
        bound = existing[1] if existing is not None else started_chain(workflow_id)
        refusal = chain_refusal(snapshot.gate_id, bound, chain)
    return refusal


async def _gates_in_temporal(
    client: Client, query: str
) -> tuple[list[tuple[str, str, str, GateSnapshot]], list[str]]:
    """Each gate a run reports, with the workflow id, chain and id of the run that reported it;
    the runs that did not answer."""
    reported: list[tuple[str, str, str, GateSnapshot]] = []
    unanswered: list[str] = []
    async for execution in client.list_workflows(query):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id, result_type=AgentResult)
        snapshots: list[GateSnapshot] = []
        if execution.status == WorkflowExecutionStatus.RUNNING:
            try:
                snapshots = await handle.query(
                    ALL_GATES_QUERY, result_type=list[GateSnapshot], rpc_timeout=QUERY_TIMEOUT
                )
            except (RPCError, WorkflowQueryFailedError):
                unanswered.append(execution.id)
        elif execution.status == WorkflowExecutionStatus.COMPLETED:
            result = await handle.result()
            snapshots = result.gates or ([result.gate] if result.gate else [])
        chain = execution.raw_info.first_run_id
        if snapshots and not chain:  # the visibility store may not list it; the run itself says
            try:
                _, chain = await chain_of(client, execution.id, execution.run_id)
            except RPCError:
                unanswered.append(execution.id)  # gone since it was listed
                continue
        reported += [(execution.id, chain, execution.run_id, snapshot) for snapshot in snapshots]
    return reported, unanswered
