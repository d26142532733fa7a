"""The publish activities: who may publish what to the gate projection (reviewer_portal.inbox.projection
writes it).

Only an agent's own run may publish its gates. The activities refuse, for good (a retry would be
refused too), a gate:
- of another run (the gate id starts with the run's workflow id);
- of an agent that runs in another namespace;
- of an agent other than the one its row already names (a run of another namespace under the same
  workflow id);
- of another chain of runs than the one its row is bound to, or, for a new row, than the one the
  portal started under the workflow id (`chain_refusal`): a run started again under the gate's
  workflow id, from a copy of the portal's signed start, say, which "terminate existing" let
  replace the portal's run.

So a workflow anyone starts beside the agents cannot forge or overwrite one.
"""

from __future__ import annotations

from django.db import close_old_connections
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.framework.contract import PUBLISH_ACTIVITY, PUBLISH_CHANGE_ACTIVITY
from agents.framework.gate_changes import GatePublication
from agents.framework.types import GateSnapshot
from reviewer_portal.domains import domain_of
from reviewer_portal.history.services import started_chain
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.projection import gate_apply_patch, gate_apply_snapshot
from reviewer_portal.inbox.run_chain import calling_chain
from reviewer_portal.inbox.set_back import set_back

FORGED_GATE = "GateNotOfThisRun"


@activity.defn(name=PUBLISH_CHANGE_ACTIVITY)
def publish_gate_change(publication: GatePublication) -> bool:
    """Activity: a gate's first snapshot or a change to it; False asks for the whole gate."""
    close_old_connections()
    try:
        return apply_publication(publication)
    finally:
        close_old_connections()


def apply_publication(publication: GatePublication) -> bool:
    """`publish_gate_change` on the caller's connection (the activity's checks of who may publish).
    A publication that names no chain (workflow code from before chains, on an older worker during
    a rollout or after a rollback) is of the chain Temporal says the calling run is of."""
    if publication.snapshot is not None:
        apply_snapshot(publication.snapshot, publication.chain, publication.content)
        return True
    if publication.patch is None:
        return False
    gate_id = publication.patch.gate_id
    row = Gate.objects.filter(gate_id=gate_id).values_list("agent", "chain_id").first()
    agent, chain_id = row if row is not None else (None, "")
    _check_publisher(gate_id, agent)
    chain = _named(publication.chain)
    _check_chain(gate_id, chain_id, chain)
    return gate_apply_patch(
        patch=publication.patch,
        chain=chain,
        run=_calling_run(),
        content=publication.content,
        base_content=publication.base_content,
    )


def apply_snapshot(snapshot: GateSnapshot, chain: str = "", content: str = "") -> bool:
    """`gate_apply_snapshot` once the calling run (of `chain`, or of the chain Temporal names) may
    publish the gate; True if the row changed (False: it was already at this version or newer,
    with the same content). `content`: the run's digest of the gate ("" from runs before it)."""
    _check_publisher(snapshot.gate_id, snapshot.agent)
    chain = _named(chain)
    existing = Gate.objects.filter(gate_id=snapshot.gate_id).values_list("agent", "chain_id").first()
    if existing is not None and existing[0] != snapshot.agent:
        # Workflow ids are unique per namespace only: a run of another namespace under the same id
        # names an agent of its own. The row says whose the gate is, and a gate keeps its agent.
        _check_publisher(snapshot.gate_id, existing[0])
        raise ApplicationError(
            f"Gate {snapshot.gate_id} belongs to agent {existing[0]}, not {snapshot.agent}.",
            type=FORGED_GATE,
            non_retryable=True,
        )
    # A new gate's row is bound to the chain the portal started under the workflow id, where it
    # recorded one: a run started again under the id before the gate opened does not open it.
    _check_chain(snapshot.gate_id, existing[1] if existing else started_chain(snapshot.workflow_id), chain)
    run = _calling_run()
    if gate_apply_snapshot(snapshot=snapshot, chain=chain, run=run, content=content):
        return True
    return set_back(snapshot, chain=chain, run=run, content=content)


@activity.defn(name=PUBLISH_ACTIVITY)
def publish_gate(snapshot: GateSnapshot) -> bool:
    """Activity: the whole gate, as the support conversation and runs recorded before gate patches
    publish it. These name no chain, so Temporal is asked which the calling run is of: one
    describe, on a path that publishes a gate once or seldom."""
    close_old_connections()
    try:
        return apply_snapshot(snapshot)
    finally:
        close_old_connections()


def chain_refusal(gate_id: str, bound: str, chain: str) -> str | None:
    """Why a run of `chain` may not change gate `gate_id`, whose row is bound to chain `bound`; None
    if it may. A row no chain has published to since (written before chains were recorded) is
    bound by the first that does. An empty `chain` is one nobody could tell (an old server, a
    reconcile that lost the run), never taken for another chain."""
    if not bound or not chain or bound == chain:
        return None
    return (
        f"Gate {gate_id} belongs to another chain of runs of its workflow ({bound}) than this run's "
        f"({chain}): a run started again under its id does not open or change it."
    )


def _named(chain: str) -> str:
    """`chain` as the publication named it, else as Temporal names the calling run's; a try that
    cannot tell yet fails, to be tried again, rather than write unchecked."""
    if chain := chain or calling_chain():
        return chain
    raise ApplicationError("Temporal did not say which chain of runs this run is of; tried again.")


def _calling_run() -> str:
    return activity.info().workflow_run_id or ""


def _check_chain(gate_id: str, bound: str, chain: str) -> None:
    if refusal := chain_refusal(gate_id, bound, chain):
        raise ApplicationError(refusal, type=FORGED_GATE, non_retryable=True)


def _check_publisher(gate_id: str, agent: str | None) -> None:
    """Refuse (for good: a retry would be refused too) a gate the calling run may not publish."""
    info = activity.info()
    refusal = publisher_refusal(gate_id, agent, workflow_id=info.workflow_id, namespace=info.namespace)
    if refusal:
        raise ApplicationError(refusal, type=FORGED_GATE, non_retryable=True)


def publisher_refusal(gate_id: str, agent: str | None, *, workflow_id: str, namespace: str) -> str | None:
    """Why run `workflow_id` of `namespace` may not publish gate `gate_id` of `agent`; None if it may
    (its own gate, of an agent of its namespace). The publish activities and reconcile ask it."""
    if not gate_id.startswith(f"{workflow_id}--g"):
        return f"Run {workflow_id} may not publish gate {gate_id} of another run."
    if agent is not None and domain_of(agent).namespace != namespace:
        return f"Agent {agent} runs in namespace {domain_of(agent).namespace}, not {namespace}."
    return None
