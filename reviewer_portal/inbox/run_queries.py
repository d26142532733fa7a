"""What the portal asks a run, by its queries: which actions it applied (a withdrawal or a hold
is settled by it), and its own view of a gate (the projection catches up with it: a reviewer's
view was stale, or a queued decision is to be checked again, reviewer_portal.inbox.resend_checks).

Only the gate's own chain of runs is asked (Gate.chain_id): a run started again under the gate's
workflow id, one the portal did not start for it, answers for nothing here."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from django.conf import settings
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from agents.framework.contract import ALL_GATES_QUERY, APPLIED_ACTIONS_QUERY
from agents.framework.types import GateSnapshot
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.projection import gate_apply_snapshot
from reviewer_portal.inbox.run_chain import chain_of, run_of_chain
from reviewer_portal.request_threads import async_to_sync_aside
from reviewer_portal.temporal_client import TemporalUnreachable, client_for_agent

REPLACED = (
    "The agent run that opened this gate was replaced by another run under the same id, one the "
    "portal did not start for this gate, so nothing was sent to it and the gate stays as it was. "
    "Tell the platform team."
)


class RunOutOfReach(Exception):
    """The run cannot be asked right now: Temporal, or the run's worker, does not answer."""


class RunReplaced(Exception):
    """Another chain of runs than the gate's runs under its workflow id (a copied start, say), and
    the gate's own chain cannot be found to ask."""


def applied_actions(attempt: ActionAttempt) -> set[str] | None:
    """The ids of the actions the run applied lately, or None if it cannot say right now."""
    try:
        return set(_ask(attempt.gate, APPLIED_ACTIONS_QUERY, list[str]))
    except (RPCError, RunReplaced) as err:
        if isinstance(err, RunReplaced) or err.status == RPCStatusCode.NOT_FOUND:
            # The chain's history is gone: its projection is the record of who decided.
            gate = Gate.objects.get(pk=attempt.gate_id)
            return {gate.decision_id} if gate.decision_id else set()
        return None
    except (TemporalUnreachable, WorkflowQueryFailedError, TimeoutError):
        return None


def gate_catch_up(gate: Gate) -> None:
    """Catch the projection up with the run's own view of the gate (nothing to do if the run is
    gone or answers no query). Raises RunOutOfReach while Temporal or the run's worker is down."""
    try:
        snapshots: list[GateSnapshot] = _ask(gate, ALL_GATES_QUERY, list[GateSnapshot])
    except (WorkflowQueryFailedError, RunReplaced):
        return  # a run that answers no query (a refused one), or the gate's cannot be found
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return
        raise RunOutOfReach(str(err)) from err
    except (TemporalUnreachable, TimeoutError) as err:
        raise RunOutOfReach(str(err) or "Temporal did not answer in time.") from err
    if current := next((s for s in snapshots if s.gate_id == gate.gate_id), None):
        # A query answers no digest: a row it changes holds none until the run next publishes.
        gate_apply_snapshot(snapshot=current, content="")


def run_replaced(gate: Gate) -> bool:
    """Whether another chain than the gate's runs under its workflow id (False if it cannot tell)."""

    async def asked() -> bool:
        _, chain = await chain_of(await client_for_agent(gate.agent), gate.workflow_id, timeout=_timeout())
        return bool(gate.chain_id and chain and chain != gate.chain_id)

    try:
        return async_to_sync_aside(asked)()
    except (RPCError, TemporalUnreachable, TimeoutError):
        return False


def _ask(gate: Gate, query: str, result_type: type) -> Any:
    """The answer of the gate's run to `query`, within the Update timeout."""

    async def asked() -> Any:
        # One deadline for the lot: finding the chain's own run may take several calls.
        async with asyncio.timeout(2 * _timeout().total_seconds()):
            handle = await _run_of(await client_for_agent(gate.agent), gate)
            return await handle.query(query, result_type=result_type, rpc_timeout=_timeout())

    return async_to_sync_aside(asked)()


async def _run_of(client: Client, gate: Gate) -> WorkflowHandle:
    """The latest run of the gate's chain, closed or not (run_chain.run_of_chain). Raises
    RunReplaced if another chain runs under the id and the gate's own cannot be found. A gate no
    chain has published to since it was recorded (an older row) is asked of whichever run is there."""
    if not gate.chain_id:
        return client.get_workflow_handle(gate.workflow_id)
    own = await run_of_chain(client, gate.workflow_id, gate.chain_id, _timeout(), known=gate.run_id)
    if own is None:
        raise RunReplaced(f"{gate.workflow_id} runs another chain than the gate's {gate.chain_id}")
    # That very run: one started again under the id meanwhile is not asked.
    return client.get_workflow_handle(gate.workflow_id, run_id=own)


def _timeout() -> timedelta:
    return timedelta(seconds=settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS)
