"""The audit index: one row per agent run (not per gate), newest first, from the gate projection
(which the portal keeps after Temporal deletes the run) and the archive. A run's outcome is its
last gate's: approved or rejected by a person, closed by the SLA policy (said so), or pending;
with who decided, when, the model and the prompt version the run pinned, and whether (and where)
it is archived. A run that opened no gate (the AI's outcome alone: a transaction scored
legitimate, findings recorded without review) is listed too, from the portal's record of its
submission or the archive's of its close: "no gate opened", with how the run ended once known."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django import forms
from django.core.paginator import Page, Paginator
from django.db.models import F, Max, Q, QuerySet

from agents.framework.registry import AGENTS
from reviewer_portal.archive.models import ArchiveRecord, ChainHead
from reviewer_portal.audit.prompt_selectors import SYSTEM_DECIDER
from reviewer_portal.history.models import Submission
from reviewer_portal.inbox.models import Gate

PER_PAGE = 50
OUTCOMES = {
    "pending": Q(status=Gate.Status.PENDING),
    "approved": Q(status=Gate.Status.APPROVED) & ~Q(decided_by=SYSTEM_DECIDER),
    "rejected": Q(status=Gate.Status.REJECTED) & ~Q(decided_by=SYSTEM_DECIDER),
    "sla": Q(decided_by=SYSTEM_DECIDER),
}
NO_GATE = "nogate"


class RunFilters(forms.Form):
    q = forms.CharField(
        required=False, max_length=200, label="Search", help_text="case, workflow id or reviewer"
    )
    agent = forms.ChoiceField(required=False, choices=[])
    outcome = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any outcome"),
            ("pending", "Pending"),
            ("approved", "Approved by a person"),
            ("rejected", "Rejected by a person"),
            ("sla", "Closed by the SLA policy"),
            (NO_GATE, "No gate opened (the AI's outcome alone)"),
        ],
    )
    archived = forms.ChoiceField(
        required=False, choices=[("", "Archived or not"), ("yes", "Archived"), ("no", "Not archived yet")]
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["agent"].choices = [("", "Any agent")] + [(n, a.title) for n, a in sorted(AGENTS.items())]


@dataclass(frozen=True)
class RunRow:
    workflow_id: str
    agent: str
    subject: str
    outcome: str
    decided_by: str
    opened_at: datetime | None
    decided_at: datetime | None
    model: str
    prompt: str
    gates: int
    archive: ArchiveRecord | None


def run_page(filters: RunFilters, page_number: str | int | None) -> Page:
    """The page of runs matching `filters` (ignored where invalid); its object_list is RunRows."""
    data = filters.cleaned_data if filters.is_valid() else {}
    gated = _matching(data).order_by().values("workflow_id").annotate(at=Max("opened_at"))
    submitted, archived = _ungated(data)
    runs = (
        gated.values_list("workflow_id", "at")
        .union(submitted, archived, all=True)
        .order_by("-at", "-workflow_id")
    )
    page = Paginator(runs, PER_PAGE).get_page(page_number)
    page.object_list = _rows([workflow_id for workflow_id, _ in page.object_list])
    return page


def chain_heads() -> list[ChainHead]:
    return list(ChainHead.objects.order_by("namespace"))


def _matching(data: dict) -> QuerySet[Gate]:
    if data.get("outcome") == NO_GATE:
        return Gate.objects.none()
    gates = Gate.objects.all()
    if data.get("q"):
        q = data["q"]
        gates = gates.filter(Q(subject__icontains=q) | Q(workflow_id__icontains=q) | Q(decided_by__iexact=q))
    if data.get("agent"):
        gates = gates.filter(agent=data["agent"])
    if data.get("outcome"):
        gates = gates.filter(OUTCOMES[data["outcome"]])
    if data.get("archived"):
        archived = ArchiveRecord.objects.filter(kind=ArchiveRecord.Kind.RUN).values("workflow_id")
        gates = (
            gates.filter(workflow_id__in=archived)
            if data["archived"] == "yes"
            else gates.exclude(workflow_id__in=archived)
        )
    return gates


def _ungated(data: dict) -> tuple[QuerySet, QuerySet]:
    """(workflow id, when) of the runs that opened no gate: the ones the portal submitted (when:
    submitted), and the others the archive holds (when: closed)."""
    gated = Gate.objects.values("workflow_id")
    submitted = Submission.objects.filter(started=True).exclude(workflow_id__in=gated)
    archived = ArchiveRecord.objects.filter(kind=ArchiveRecord.Kind.RUN).exclude(workflow_id__in=gated)
    archived = archived.exclude(workflow_id__in=Submission.objects.values("workflow_id"))
    if data.get("outcome") not in ("", None, NO_GATE):
        submitted, archived = submitted.none(), archived.none()
    if data.get("q"):
        q = Q(subject__icontains=data["q"]) | Q(workflow_id__icontains=data["q"])
        submitted, archived = submitted.filter(q), archived.filter(q)
    if data.get("agent"):
        submitted, archived = submitted.filter(agent=data["agent"]), archived.filter(agent=data["agent"])
    if data.get("archived"):
        in_archive = ArchiveRecord.objects.filter(kind=ArchiveRecord.Kind.RUN).values("workflow_id")
        if data["archived"] == "yes":
            submitted = submitted.filter(workflow_id__in=in_archive)
        else:
            submitted, archived = submitted.exclude(workflow_id__in=in_archive), archived.none()
    return (
        submitted.order_by().annotate(at=F("submitted_at")).values_list("workflow_id", "at"),
        archived.order_by()
        .values("workflow_id")
        .annotate(at=Max("closed_at"))
        .values_list("workflow_id", "at"),
    )


def _rows(workflow_ids: list[str]) -> list[RunRow]:
    by_run: dict[str, list[Gate]] = {}
    for gate in Gate.objects.filter(workflow_id__in=workflow_ids).order_by("opened_at"):
        by_run.setdefault(gate.workflow_id, []).append(gate)
    archives = {
        r.workflow_id: r
        for r in ArchiveRecord.objects.filter(kind=ArchiveRecord.Kind.RUN, workflow_id__in=workflow_ids)
        .defer("sealed")
        .order_by("seq")
    }
    submissions = {s.workflow_id: s for s in Submission.objects.filter(workflow_id__in=workflow_ids)}
    return [
        _row(by_run[w], archives.get(w))
        if w in by_run
        else _gateless_row(w, submissions.get(w), archives.get(w))
        for w in workflow_ids
    ]


def _gateless_row(workflow_id: str, submission: Submission | None, archive: ArchiveRecord | None) -> RunRow:
    known = submission or archive
    assert known is not None  # the run was listed from one of them
    ended = (
        f"run {archive.status}"
        if archive is not None and archive.status
        else "run not closed, or not archived yet"
    )
    opened = submission.submitted_at if submission is not None else archive.closed_at if archive else None
    return RunRow(
        workflow_id=workflow_id,
        agent=known.agent,
        subject=known.subject or workflow_id,
        outcome=f"No gate opened: the AI's outcome alone ({ended})",
        decided_by="",
        opened_at=opened,
        decided_at=None,
        model="",
        prompt="",
        gates=0,
        archive=archive,
    )


def _row(gates: list[Gate], archive: ArchiveRecord | None) -> RunRow:
    first, last = gates[0], gates[-1]
    prompt = f"{last.prompt_id} v{last.prompt_version}" if last.prompt_id else ""
    return RunRow(
        workflow_id=first.workflow_id,
        agent=first.agent,
        subject=first.subject,
        outcome=outcome_words(last),
        decided_by="" if last.decided_by == SYSTEM_DECIDER else last.decided_by,
        opened_at=first.opened_at,
        decided_at=last.decided_at,
        model="offline model" if last.offline_model else last.model,
        prompt=prompt,
        gates=len(gates),
        archive=archive,
    )


def outcome_words(gate: Gate) -> str:
    if gate.decided_by == SYSTEM_DECIDER:
        return f"{gate.get_status_display()} by the SLA policy (no one decided in time)"
    return gate.get_status_display()
