"""Binding the rows written before chains were recorded (`manage.py bind_chains`, once after the
upgrade): a gate row or a submission whose chain is empty is bound to the chain of the first run
ever started under its workflow id.

Until then such a row is open to any run under its id: its run, closed, never publishes again, so
nothing else binds it, and one start under the id made its trail read that start's run (found by
the second review of run chains). The portal starts a workflow id once (it rejects duplicates), so
the first run under it is the portal's; every later one is someone else's. Temporal's runs are
read first, the archive's records (oldest first) for ids Temporal no longer has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio.client import Client

from reviewer_portal.archive.export import record_chain
from reviewer_portal.archive.models import ArchiveRecord
from reviewer_portal.history.models import Submission
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.run_chain import MAX_RUNS_WALKED, chain_of, listable
from reviewer_portal.temporal_client import client_for_agent, run_on_client_loop


@dataclass
class Bound:
    gates: int = 0
    submissions: int = 0
    not_found: list[str] = field(default_factory=list)


def bind_unbound_chains() -> Bound:
    """Bind every gate row and submission without a chain; the workflow ids whose first run was
    found neither in Temporal nor in the archive are named."""
    bound = Bound()
    ids = dict(Gate.objects.filter(chain_id="").values_list("workflow_id", "agent"))
    ids.update(
        (w, a)
        for w, a in Submission.objects.filter(chain_id="", started=True).values_list("workflow_id", "agent")
    )
    for workflow_id, agent in sorted(ids.items()):
        chain = _first_chain_in_temporal(workflow_id, agent) or _first_chain_archived(workflow_id)
        if not chain:
            bound.not_found.append(workflow_id)
            continue
        bound.gates += Gate.objects.filter(workflow_id=workflow_id, chain_id="").update(chain_id=chain)
        bound.submissions += Submission.objects.filter(workflow_id=workflow_id, chain_id="").update(
            chain_id=chain
        )
    return bound


def _first_chain_in_temporal(workflow_id: str, agent: str) -> str:
    async def first() -> str:
        client: Client = await client_for_agent(agent)
        runs = [
            r async for r in client.list_workflows(f"WorkflowId = '{workflow_id}'", limit=MAX_RUNS_WALKED)
        ]
        if not runs:
            return ""
        oldest = min(runs, key=lambda r: r.start_time)
        return oldest.raw_info.first_run_id or (await chain_of(client, workflow_id, oldest.run_id))[1]

    return run_on_client_loop(first()) if listable(workflow_id) else ""


def _first_chain_archived(workflow_id: str) -> str:
    records = ArchiveRecord.objects.filter(kind=ArchiveRecord.Kind.RUN, workflow_id=workflow_id).order_by(
        "seq"
    )
    return next((chain for record in records[:20] if (chain := record_chain(record))), "")
