"""Binding the rows written before chains were recorded (`manage.py bind_chains`, once after the
upgrade, and again after restoring a backup from before it): a gate row or a submission whose
chain is empty is bound to the chain of the first run started under its workflow id.

Until then such a row is open to any run under its id: its run, closed, never publishes again, so
nothing else binds it, and one start under the id made its trail read that start's run (found by
the second review of run chains). The portal starts a workflow id once (it rejects duplicates), so
its run is the first under it:
- where that run is archived, the oldest archived record under the id whose first run started
  before the row's gate opened names its chain (a run that ended another closes after it);
- otherwise the oldest run Temporal lists under the id, if it started before the row's gate
  opened (or within a minute of its submission): a run started later, when the first is gone past
  retention, is someone else's, and binding to it would make the row theirs (found by the third
  review). Such an id is named for a person to look at, and left as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio.client import Client
from temporalio.service import RPCError

from reviewer_portal.archive.export import record_start
from reviewer_portal.archive.models import ArchiveRecord
from reviewer_portal.history.models import Submission
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.run_chain import MAX_RUNS_WALKED, chain_of, listable
from reviewer_portal.temporal_client import TemporalUnreachable, client_for_agent, run_on_client_loop

# Archived records of one workflow id read for their chain, oldest first.
MAX_RECORDS_READ = 20
# A submission's run starts within this of its record (the start's own wait and lifetime are less).
START_WITHIN = timedelta(minutes=1)


@dataclass
class Bound:
    gates: int = 0
    submissions: int = 0
    not_found: list[str] = field(default_factory=list)  # neither Temporal nor the archive knows it
    failed: list[str] = field(default_factory=list)  # Temporal did not answer for it: run it again
    ambiguous: list[str] = field(default_factory=list)  # no run listed started before the row's


def bind_unbound_chains() -> Bound:
    """Bind every gate row and submission without a chain, where its chain can be told."""
    bound = Bound()
    for workflow_id, (agent, before) in sorted(_unbound().items()):
        chain = _first_chain_archived(workflow_id, before)
        if not chain:
            try:
                chain, found = _first_chain_in_temporal(workflow_id, agent, before)
            except (RPCError, TemporalUnreachable) as err:  # slow or down: the others go on
                bound.failed.append(f"{workflow_id} ({err})")
                continue
            if not chain:
                (bound.ambiguous if found else bound.not_found).append(workflow_id)
                continue
        bound.gates += Gate.objects.filter(workflow_id=workflow_id, chain_id="").update(chain_id=chain)
        bound.submissions += Submission.objects.filter(workflow_id=workflow_id, chain_id="").update(
            chain_id=chain
        )
    return bound


def _unbound() -> dict[str, tuple[str, datetime]]:
    """Each workflow id with an unbound row: its agent, and by when its first run had started."""
    ids: dict[str, tuple[str, datetime]] = {}
    submissions = Submission.objects.filter(chain_id="", started=True)
    for workflow_id, agent, submitted_at in submissions.values_list("workflow_id", "agent", "submitted_at"):
        ids[workflow_id] = (agent, submitted_at + START_WITHIN)
    gates = Gate.objects.filter(chain_id="").values_list("workflow_id", "agent", "opened_at")
    for workflow_id, agent, opened_at in gates.order_by("-opened_at"):
        ids[workflow_id] = (agent, min(opened_at, ids.get(workflow_id, (agent, opened_at))[1]))
    return ids


def _first_chain_archived(workflow_id: str, before: datetime) -> str:
    """The chain of the oldest archived record under `workflow_id` whose first run started by
    `before` (a record of a run started later is someone else's)."""
    records = ArchiveRecord.objects.filter(kind=ArchiveRecord.Kind.RUN, workflow_id=workflow_id)
    for record in records.order_by("closed_at", "seq")[:MAX_RECORDS_READ]:
        found = record_start(record)
        if found and found[0] and found[1] <= before:
            return found[0]
    return ""


def _first_chain_in_temporal(workflow_id: str, agent: str, before: datetime) -> tuple[str, bool]:
    """The chain of the oldest run listed under `workflow_id`, if it started by `before` and the
    listing is whole; and whether any run was listed."""
    if not listable(workflow_id):
        return "", False

    async def first() -> tuple[str, bool]:
        client: Client = await client_for_agent(agent)
        runs = [
            r async for r in client.list_workflows(f"WorkflowId = '{workflow_id}'", limit=MAX_RUNS_WALKED + 1)
        ]
        if not runs or len(runs) > MAX_RUNS_WALKED:
            return "", bool(runs)
        oldest = min(runs, key=lambda r: r.start_time)
        if oldest.start_time > before:
            return "", True
        return oldest.raw_info.first_run_id or (await chain_of(client, workflow_id, oldest.run_id))[1], True

    return run_on_client_loop(first())
