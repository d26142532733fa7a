"""A reviewer's own history: the decisions they made or tried to make, and the runs they started,
each with where it stands now. Always scoped to the user by immutable id (by name only on rows
recorded before ids were)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.contrib.auth.models import AbstractBaseUser
from django.core.paginator import Page, Paginator
from django.db.models import Exists, F, Min, OuterRef, QuerySet

from agents.framework.contract import SYSTEM_DECIDER
from agents.framework.registry import AGENTS
from reviewer_portal.audit.trail_access import readable_runs
from reviewer_portal.history.models import Submission
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.outcomes import ARRIVED, LATE
from reviewer_portal.inbox.own_cases import own_case
from reviewer_portal.inbox.selectors import decided_by, gate_visible_to
from reviewer_portal.intake.models import DocumentUpload

PER_PAGE = 25
DECISIONS = {"approve": "Approve", "reject": "Reject", "request_changes": "Request changes"}
ATTEMPT_STATES: dict[str, str] = {
    ActionAttempt.Status.ACCEPTED: "Recorded by the agent",
    ActionAttempt.Status.REFUSED: "Refused",
    ActionAttempt.Status.WITHDRAWN: "Withdrawn",
    ActionAttempt.Status.WITHDRAWING: "Being withdrawn",
    # The portal stopped sending it (reviewer_portal.inbox.resend_checks); the detail says why.
    ActionAttempt.Status.HELD: "Held back by the portal",
}

# A submission kept while Temporal was too busy to confirm its start (reviewer_portal.intake.pending_starts).
STARTING = "Kept; the portal starts it as soon as Temporal answers"


@dataclass(frozen=True)
class DecisionRow:
    gate: Gate
    at: datetime
    decision: str  # what the user chose, as its button reads
    state: str  # what became of it
    detail: str  # why it was refused, where it was
    outcome: str  # where the gate stands now
    case: bool  # the user may open the gate: a record of what they did is not a way back into it
    trail: bool  # the user may read the run's trail


@dataclass(frozen=True)
class SubmissionRow:
    workflow_id: str
    agent: str
    subject: str
    at: datetime
    status: str  # starting, not_started, with_agent, pending, changes_requested, approved, rejected
    status_text: str
    gate: Gate | None  # its latest gate, if the user may open it
    trail: bool


def gate_status_text(gate: Gate) -> tuple[str, str]:
    """Where a gate stands, as a status key and the words a submitter reads."""
    if gate.status == Gate.Status.PENDING:
        held = f", held by {gate.assignee}" if gate.assignee else ""
        return "pending", f"Waiting for review by {gate.role_label.lower()}{held}"
    if gate.status == Gate.Status.CHANGES_REQUESTED:
        return "changes_requested", f"Changes requested by {gate.decided_by}: with the agent"
    if gate.decided_by == SYSTEM_DECIDER:
        return gate.status, f"{gate.status.capitalize()} by the SLA policy: {gate.reason}"
    return gate.status, f"{gate.status.capitalize()} by {gate.decided_by}"


class _NewestFirst:
    """Two querysets read as one list, newest first, for a Paginator: a page reads only as many
    rows of each as the page's end needs."""

    def __init__(self, *sources: tuple[QuerySet[Any], str]) -> None:
        self.sources = [(qs.order_by(F(field).desc(nulls_last=True), "-pk"), field) for qs, field in sources]

    def count(self) -> int:
        return sum(qs.count() for qs, _ in self.sources)

    def __getitem__(self, page: slice) -> list[tuple[datetime, Any]]:
        rows = [(getattr(row, field), row) for qs, field in self.sources for row in qs[: page.stop]]
        rows.sort(key=lambda row: row[0], reverse=True)
        return rows[page]


def decisions_page_for(
    *, user: AbstractBaseUser, page_number: str | int | None
) -> tuple[Page[Any], list[DecisionRow]]:
    """The user's decisions, newest first: every decision they sent from the portal (refused and
    withdrawn ones too), and gates recorded as decided by them that the portal did not send (the
    operator command, or before the portal recorded its attempts). Returns the page and its rows."""
    sent = ActionAttempt.objects.filter(reviewer_id=user.pk, action=ActionAttempt.Action.DECIDE).exclude(
        status__in=[ActionAttempt.Status.SENDING, ActionAttempt.Status.UNDELIVERED]
    )
    accepted = sent.filter(gate=OuterRef("pk"), status=ActionAttempt.Status.ACCEPTED)
    unsent = Gate.objects.filter(decided_by(user)).exclude(Exists(accepted))
    merged = _NewestFirst((sent.select_related("gate"), "created_at"), (unsent, "decided_at"))
    page: Page[Any] = Paginator(cast(Any, merged), PER_PAGE).get_page(page_number)
    rows: list[tuple[datetime, ActionAttempt | Gate]] = list(page.object_list)
    gates = [_gate_of(row) for _, row in rows]
    cases = set(
        gate_visible_to(user=user).filter(gate_id__in=[g.gate_id for g in gates]).values_list("pk", flat=True)
    )
    trails = _trails_of(user, (gate.workflow_id for gate in gates))
    return page, [_decision_row(at, row, cases, trails) for at, row in rows]


def _gate_of(row: ActionAttempt | Gate) -> Gate:
    return row.gate if isinstance(row, ActionAttempt) else row


def _decision_row(at: datetime, row: ActionAttempt | Gate, cases: set[str], trails: set[str]) -> DecisionRow:
    gate = _gate_of(row)
    outcome = gate_status_text(gate)[1]
    if isinstance(row, ActionAttempt):
        decision = DECISIONS.get(row.decision, row.decision)
        state = ATTEMPT_STATES.get(row.status, row.status)
        told = row.status in (ActionAttempt.Status.REFUSED, ActionAttempt.Status.HELD) or row.detail in (
            LATE,
            ARRIVED,
        )
        detail = row.detail if told else ""
    else:
        decision = {"approved": "Approve", "rejected": "Reject"}.get(gate.status, "Request changes")
        state, detail = "Recorded by the agent", ""
    return DecisionRow(
        gate, at, decision, state, detail, outcome, gate.gate_id in cases, gate.workflow_id in trails
    )


def submissions_page_for(
    *, user: AbstractBaseUser, page_number: str | int | None
) -> tuple[Page[Any], list[SubmissionRow]]:
    """The runs the user started, newest first, with where each stands now: the portal's record
    of submissions, document uploads and, for runs started before it kept one, their gates."""
    recorded = Submission.objects.filter(submitted_by_id=user.pk).values("workflow_id")
    uploads = DocumentUpload.objects.filter(uploaded_by_id=user.pk).exclude(workflow_id__in=recorded)
    # Each part unordered (models' default orderings are not allowed inside a UNION).
    older = (
        Gate.objects.filter(own_case(user))
        .order_by()
        .exclude(workflow_id__in=recorded)
        .exclude(workflow_id__in=uploads.values("workflow_id"))
        .values("workflow_id")
        .annotate(at=Min("opened_at"))
        .values_list("workflow_id", "at")
    )
    runs = (
        Submission.objects.filter(submitted_by_id=user.pk)
        .annotate(at=F("submitted_at"))
        .values_list("workflow_id", "at")
        .order_by()
        .union(
            uploads.annotate(at=F("uploaded_at")).order_by().values_list("workflow_id", "at"), older, all=True
        )
        .order_by("-at", "-workflow_id")
    )
    page: Page[Any] = Paginator(runs, PER_PAGE).get_page(page_number)
    return page, _submission_rows(user, list(page.object_list))


def _submission_rows(user: AbstractBaseUser, runs: list[tuple[str, datetime]]) -> list[SubmissionRow]:
    ids = [workflow_id for workflow_id, _ in runs]
    latest: dict[str, Gate] = {}
    for gate in Gate.objects.filter(workflow_id__in=ids).order_by("opened_at", "gate_id"):
        latest[gate.workflow_id] = gate
    subjects = dict(Submission.objects.filter(workflow_id__in=ids).values_list("workflow_id", "subject"))
    subjects |= dict(DocumentUpload.objects.filter(workflow_id__in=ids).values_list("workflow_id", "title"))
    agents = dict(Submission.objects.filter(workflow_id__in=ids).values_list("workflow_id", "agent"))
    kept = dict(
        Submission.objects.filter(workflow_id__in=ids, started=False).values_list(
            "workflow_id", "start_error"
        )
    )
    visible = set(gate_visible_to(user=user).filter(workflow_id__in=ids).values_list("gate_id", flat=True))
    trails = _trails_of(user, ids)
    rows = []
    for workflow_id, at in runs:
        last = latest.get(workflow_id)
        status, text = gate_status_text(last) if last else ("with_agent", "With the agent")
        if last is None and workflow_id in kept:  # Temporal was too busy to confirm the start
            error = kept[workflow_id]
            status, text = ("not_started", f"Not started: {error}") if error else ("starting", STARTING)
        agent = last.agent if last else agents.get(workflow_id, "regulatory")
        rows.append(
            SubmissionRow(
                workflow_id=workflow_id,
                agent=AGENTS[agent].title if agent in AGENTS else agent,
                subject=last.subject if last else subjects.get(workflow_id, workflow_id),
                at=at,
                status=status,
                status_text=text,
                gate=last if last and last.gate_id in visible else None,
                trail=workflow_id in trails,
            )
        )
    return rows


def _trails_of(user: AbstractBaseUser, workflow_ids: Iterable[str]) -> set[str]:
    return readable_runs(user=user, workflow_ids=set(workflow_ids))
