"""What the portal asks a run, by its queries: which actions it applied (a withdrawal or a hold
is settled by it), and its own view of a gate (the projection catches up with it: a reviewer's
view was stale, or a queued decision is to be checked again, reviewer_portal.inbox.resend_checks)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from agents.framework.contract import ALL_GATES_QUERY, APPLIED_ACTIONS_QUERY
from agents.framework.types import GateSnapshot
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.projection import gate_apply_snapshot
from reviewer_portal.request_threads import async_to_sync_aside
from reviewer_portal.temporal_client import TemporalUnreachable, client_for_agent


class RunOutOfReach(Exception):
    """The run cannot be asked right now: Temporal, or the run's worker, does not answer."""


def applied_actions(attempt: ActionAttempt) -> set[str] | None:
    """The ids of the actions the run applied lately, or None if it cannot say right now."""
    try:
        return set(_ask(attempt.gate, APPLIED_ACTIONS_QUERY, list[str]))
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            # The run's history is gone: its projection is the record of who decided.
            gate = Gate.objects.get(pk=attempt.gate_id)
            return {gate.decision_id} if gate.decision_id else set()
        return None
    except (TemporalUnreachable, WorkflowQueryFailedError):
        return None


def gate_catch_up(gate: Gate) -> None:
    """Catch the projection up with the run's own view of the gate (nothing to do if the run is
    gone or answers no query). Raises RunOutOfReach while Temporal or the run's worker is down."""
    try:
        snapshots: list[GateSnapshot] = _ask(gate, ALL_GATES_QUERY, list[GateSnapshot])
    except WorkflowQueryFailedError:
        return  # a run that answers no query (a refused one)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return
        raise RunOutOfReach(str(err)) from err
    except TemporalUnreachable as err:
        raise RunOutOfReach(str(err)) from err
    if current := next((s for s in snapshots if s.gate_id == gate.gate_id), None):
        gate_apply_snapshot(snapshot=current)


def _ask(gate: Gate, query: str, result_type: type) -> Any:
    """The answer of the gate's run to `query`, within the Update timeout."""

    async def asked() -> Any:
        handle = (await client_for_agent(gate.agent)).get_workflow_handle(gate.workflow_id)
        timeout = timedelta(seconds=settings.TEMPORAL_UPDATE_TIMEOUT_SECONDS)
        return await handle.query(query, result_type=result_type, rpc_timeout=timeout)

    return async_to_sync_aside(asked)()
