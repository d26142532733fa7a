"""Where a document review stands, for its uploader: being read and reviewed, finished with its
report's counts, or stopped because the file could not be read (with the reason the run gave)."""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from agents.framework.contract import UNPROCESSABLE
from agents.framework.types import AgentResult
from agents.regulatory import REGULATORY_AGENT
from reviewer_portal.history.models import Submission
from reviewer_portal.history.services import workflow_chain
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.run_chain import run_of_chain
from reviewer_portal.intake.models import DocumentUpload
from reviewer_portal.temporal_client import TemporalUnreachable, client_for_agent, run_on_client_loop

IN_PROGRESS = "in_progress"
FINISHED = "finished"
UNREADABLE = "unreadable"
STOPPED = "stopped"
# How the run words an unreadable file; the page says it in its own heading.
UNREADABLE_PREFIX = "Could not read this document. "
UNKNOWN = "unknown"  # Temporal could not be asked; the page asks again
STOPPED_BECAUSE = {
    WorkflowExecutionStatus.FAILED: "The review failed before it finished; an admin can see why in the audit trail.",
    WorkflowExecutionStatus.TERMINATED: "The review was stopped by an operator before it finished.",
    WorkflowExecutionStatus.CANCELED: "The review was cancelled before it finished.",
    WorkflowExecutionStatus.TIMED_OUT: "The review ran out of time before it finished.",
}


REVIEW_REPLACED = (
    "Another run was started under this review's id, and the review's own run cannot be found: "
    "tell the platform team."
)


@dataclass(frozen=True)
class ReviewState:
    state: str
    detail: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.state in (FINISHED, UNREADABLE, STOPPED)


@dataclass(frozen=True)
class DocumentReview:
    upload: DocumentUpload
    state: ReviewState
    gates: list[Gate]


def document_review(*, upload: DocumentUpload) -> DocumentReview:
    gates = list(Gate.objects.filter(workflow_id=upload.workflow_id).order_by("opened_at"))
    kept = Submission.objects.filter(workflow_id=upload.workflow_id, started=False).first()
    if kept is not None and kept.start_error:
        state = ReviewState(STOPPED, f"The review could not be started: {kept.start_error} Upload it again.")
    elif kept is not None:  # Temporal was too busy to confirm the start (intake.pending_starts)
        state = ReviewState(UNKNOWN, "Temporal was busy: the portal starts the review as soon as it answers.")
    else:
        try:
            chain, known = workflow_chain(upload.workflow_id)
            state = run_on_client_loop(_state(upload.workflow_id, chain, known), timeout=30)
        except (TemporalUnreachable, RPCError):
            state = ReviewState(UNKNOWN, "Temporal cannot be reached right now; this page tries again.")
    return DocumentReview(upload=upload, state=state, gates=gates)


async def _state(workflow_id: str, chain: str, known: str = "") -> ReviewState:
    """The review's state, read from its chain of runs (its gates', or the one the portal started)
    where one is known: a run started again under the id is not the review
    (reviewer_portal.inbox.run_chain)."""
    client = await client_for_agent(REGULATORY_AGENT.name)
    run_id = await run_of_chain(client, workflow_id, chain, known=known) if chain else ""
    if run_id is None:
        return ReviewState(STOPPED, REVIEW_REPLACED)
    handle = client.get_workflow_handle(workflow_id, run_id=run_id or None, result_type=AgentResult)
    status = (await handle.describe()).status
    if status == WorkflowExecutionStatus.RUNNING:
        return ReviewState(IN_PROGRESS, "The agent is reading and reviewing the document.")
    if status != WorkflowExecutionStatus.COMPLETED:
        return ReviewState(STOPPED, STOPPED_BECAUSE.get(status, "The review stopped before it finished."))
    result = await handle.result()
    if result.outcome == UNPROCESSABLE:
        reason = str(result.action.get("reason", ""))
        return ReviewState(UNREADABLE, reason.removeprefix(UNREADABLE_PREFIX))
    report = result.action
    return ReviewState(FINISHED, str(report.get("summary", "")), dict(report.get("counts", {})))
