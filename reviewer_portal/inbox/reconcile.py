"""Rebuild the gate projection from Temporal, the source of truth.

For a portal database restored from backup, rows lost to an outage, or fields added to the
projection later: every agent run still in Temporal is read back (running runs by query, closed
ones from their result) and each gate is applied with the usual version check, so rows that are
already current are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError

from agents.framework.contract import AGENT_WORKFLOW, ALL_GATES_QUERY
from agents.framework.types import AgentResult, GateSnapshot
from reviewer_portal.inbox.projection import gate_apply_snapshot
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


def projection_reconcile(*, client: Client, task_queue: str = "") -> Reconciled:
    """Apply every gate Temporal knows (of one task queue, if given)."""
    query = AGENT_RUNS + (f" AND TaskQueue = '{task_queue}'" if task_queue else "")
    snapshots, unanswered = run_on_client_loop(_gates_in_temporal(client, query), timeout=None)
    changed = sum(gate_apply_snapshot(snapshot=s) for s in snapshots)
    return Reconciled(len(snapshots), changed, unanswered)


async def _gates_in_temporal(client: Client, query: str) -> tuple[list[GateSnapshot], list[str]]:
    snapshots: list[GateSnapshot] = []
    unanswered: list[str] = []
    async for execution in client.list_workflows(query):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id, result_type=AgentResult)
        if execution.status == WorkflowExecutionStatus.RUNNING:
            try:
                snapshots += await handle.query(
                    ALL_GATES_QUERY, result_type=list[GateSnapshot], rpc_timeout=QUERY_TIMEOUT
                )
            except (RPCError, WorkflowQueryFailedError):
                unanswered.append(execution.id)
        elif execution.status == WorkflowExecutionStatus.COMPLETED:
            result = await handle.result()
            snapshots += result.gates or ([result.gate] if result.gate else [])
    return snapshots, unanswered
