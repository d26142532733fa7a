"""What the gate page shows a user, shared by its views: the gate, the forms they may use, the
decision of theirs still waiting to be delivered, who holds the gate and the queue around it."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from reviewer_portal.htmx_request import HtmxHttpRequest
from reviewer_portal.inbox.confirmation import ConfirmStep
from reviewer_portal.inbox.forms import AnnotationForm, AssignForm, ClaimForm, DecisionForm
from reviewer_portal.inbox.grounds import rejection_grounds
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.outcomes import action_noun, outcome_text
from reviewer_portal.inbox.permissions import gate_permissions_for
from reviewer_portal.inbox.seen import LABELS, NOTES, shown_token
from reviewer_portal.inbox.selectors import (
    action_attempts_for,
    gate_assignees_for,
    gate_neighbours_for,
    open_decision_of,
)

Status = ActionAttempt.Status


# The parts of what a reviewer saw (reviewer_portal.inbox.seen) that the case column shows.
CASE_PARTS = {"case", "recommendation", "evidence"}
# `queued` not given: read the user's open decision on the gate.
UNREAD: Any = object()


def decision_response(
    request: HtmxHttpRequest, gate: Gate, *, status: int = 200, **extra: Any
) -> HttpResponse:
    """The decision panel alone for htmx (nothing of the workspace around it is read), else the
    whole page."""
    if request.htmx:
        return render(
            request, "inbox/gate.html#decision-panel", panel_context(request, gate, **extra), status=status
        )
    return render(request, "inbox/gate.html", gate_context(request, gate, **extra), status=status)


def gate_context(request: HtmxHttpRequest, gate: Gate, **panel: Any) -> dict[str, Any]:
    """Everything the gate page shows: the decision panel, notes, the actions sent (for auditors)
    and the neighbours in the user's queue."""
    previous, following = gate_neighbours_for(user=request.user, gate=gate)
    return {
        **panel_context(request, gate, **panel),
        "annotation_form": AnnotationForm(initial={"submission_id": uuid.uuid4()}),
        "attempts": list(action_attempts_for(gate=gate)),
        "prev_gate_url": reverse("inbox:gate", args=[previous.gate_id]) if previous else "",
        "next_gate_url": reverse("inbox:gate", args=[following.gate_id]) if following else "",
    }


def panel_context(
    request: HtmxHttpRequest,
    gate: Gate,
    *,
    form: DecisionForm | None = None,
    attempt: ActionAttempt | None = None,
    notice: str = "",
    assign_form: AssignForm | None = None,
    confirmation: str = "",
    confirm: ConfirmStep | None = None,
    queued: ActionAttempt | None = UNREAD,
) -> dict[str, Any]:
    """What the decision panel shows: the gate's state, the user's queued decision or the form,
    the outcome of what they just did, who holds the gate. Reads nothing but the user's open
    decision (unless given) and, only if the panel shows the assign form, their colleagues."""
    if queued is UNREAD:
        queued = open_decision_of(user=request.user, gate=gate)
    may = gate_permissions_for(user=request.user, gate=gate)
    if attempt is not None and attempt.pk == getattr(queued, "pk", None):
        attempt = None  # the queued panel below says it all
    return {
        "gate": gate,
        "form": form or _next_form(gate, attempt, request.user.pk),
        "may_decide": may.decide,
        "may_annotate": may.annotate,
        "may_take_over": may.take_over,
        "queued": queued,
        "queued_text": outcome_text(queued) if queued else "",
        "queued_noun": action_noun(queued) if queued else "",
        "attempt": attempt,
        "outcome_text": outcome_text(attempt) if attempt else "",
        "notice": notice,
        "confirm": confirm,
        "claim_first": may.claim_first,
        "moved_on": may.moved_on,
        "sla_note": sla_note(gate),
        "holds_gate": may.holds,
        "held_by_other": may.held_by_other,
        "may_assign": may.assign,
        "may_claim": may.claim,
        "supervises": may.supervises,
        "claim_form": ClaimForm(initial={"submission_id": uuid.uuid4()}, auto_id="claim_%s"),
        # Read only when the panel shows it (a pending gate the user may assign).
        "assign_form": assign_form or SimpleLazyObject(lambda: assign_form_for(request, gate)),
        "confirmation": confirmation,
        # The panel gives the reviewer's own words back with why they were refused (a form bound
        # to what they sent, the confirm step): static/js/live.js keeps it from a push that leaves
        # the gate waiting in the same queue. An outcome or a notice is not kept from pushes.
        "answered": bool(
            confirm
            or (form is not None and form.is_bound)
            or (assign_form is not None and assign_form.is_bound)
        ),
    }


def changed_since_shown_response(
    request: HtmxHttpRequest, gate: Gate, *, changed: list[str], queued: ActionAttempt | None
) -> HttpResponse:
    """A decision refused, nothing recorded, because the gate changed since the page showed it
    (`changed`: reviewer_portal.inbox.seen's parts): the panel keeps the reviewer's words and now
    carries what the page shows, and what changed comes along out of band, as it is now."""
    data = request.POST.copy()
    data["shown"] = shown_token(gate, reviewer_id=request.user.pk)
    form = DecisionForm(data, editable=gate.editable, proposal=gate.proposal, grounds=grounds_of(gate))
    words = ", ".join(LABELS[part] for part in changed)
    notice = f"The gate changed since the page showed it ({words}): read what changed, then decide."
    response = decision_response(request, gate, status=409, form=form, notice=notice, queued=queued)
    if request.htmx:
        response.content += changed_out_of_band(request, gate, changed).encode()
    return response


def changed_out_of_band(request: HtmxHttpRequest, gate: Gate, changed: list[str]) -> str:
    """The parts of the gate page beside the decision panel that show what changed (the case
    column, the list of notes), as they are now, to swap in out of band; "" if none did. The
    notes' own form is left alone: a note being written is kept."""
    parts = {"gate": gate, "case_out_of_band": True, "notes_out_of_band": True}
    names = (["case-column"] if set(changed) & CASE_PARTS else []) + (
        ["notes-list"] if NOTES in changed else []
    )
    return "".join(render_to_string(f"inbox/gate.html#{name}", parts, request) for name in names)


def sla_note(gate: Gate) -> str:
    """What the SLA clock did when the agent revised, in words ("" before any revision)."""
    if not gate.revisions or gate.status != Gate.Status.PENDING:
        return ""
    given = (gate.deadline - gate.opened_at).total_seconds()
    if given < gate.sla_seconds:
        return (
            "The SLA clock paused while the agent revised: this revision has the "
            f"{duration_words(given)} that were left when changes were requested."
        )
    return "The SLA restarted in full when the agent revised."


def duration_words(seconds: float) -> str:
    """1h 12m, 12m, 45s: short enough for a sentence."""
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m" if minutes else f"{secs}s"


def _next_form(gate: Gate, attempt: ActionAttempt | None, reviewer_id: object) -> DecisionForm:
    """A fresh form with a new submission id (a new decision is a new action) and what the page
    shows of the gate; a refused one keeps the reviewer's reason and edits, so nothing they typed
    is lost."""
    initial: dict[str, Any] = {
        "submission_id": uuid.uuid4(),
        "revision": len(gate.revisions),
        "shown": shown_token(gate, reviewer_id=reviewer_id),
    }
    if (
        attempt is not None
        and attempt.action == ActionAttempt.Action.DECIDE
        and attempt.status == Status.REFUSED
    ):
        initial.update(DecisionForm.initial_reason(attempt.decision, attempt.reason, grounds_of(gate)))
        initial.update({f"edit_{k}": v for k, v in attempt.edits.items()})
    return DecisionForm(
        initial=initial, editable=gate.editable, proposal=gate.proposal, grounds=grounds_of(gate)
    )


def grounds_of(gate: Gate) -> tuple[str, ...]:
    return rejection_grounds(gate.agent, gate.kind)


def assign_form_for(request: HtmxHttpRequest, gate: Gate, data: Any = None) -> AssignForm:
    """Colleagues to hand the gate to (the reviewer themselves claims it instead)."""
    colleagues = gate_assignees_for(gate=gate).exclude(pk=request.user.pk)
    choices = [(u.get_username(), _user_label(u)) for u in colleagues]
    return AssignForm(data, initial={"submission_id": uuid.uuid4()}, assignees=choices, auto_id="assign_%s")


def _user_label(user: Any) -> str:
    full = user.get_full_name()
    return f"{full} ({user.get_username()})" if full else user.get_username()
