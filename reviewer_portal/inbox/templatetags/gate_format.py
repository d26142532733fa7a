"""Show agent data (JSON from workflow history) to people: labels and values, not Python reprs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template

from reviewer_portal.dashboard.verdicts import verdict_of
from reviewer_portal.inbox import passages, presentation, side_by_side
from reviewer_portal.inbox.bulk import shown_of

register = template.Library()


@register.filter
def label(key: str) -> str:
    """`annual_income` -> `Annual income`."""
    return presentation.label_of(key)


@register.filter
def tool_label(name: str) -> str:
    """`regulatory.record_finding` -> `Record finding`: what a tool does, as its agent declares
    it, not its registry name."""
    return presentation.tool_label(name)


@register.filter
def recommendation_label(gate: Any) -> str:
    """What the AI recommends, in words: a tool call's action, or the outcome (`no_action` ->
    `No action`), never a registry name."""
    if getattr(gate, "tool_call", None):
        return tool_label(
            gate.tool_call.get("name", "") if isinstance(gate.tool_call, dict) else gate.tool_call.name
        )
    return label(gate.recommendation)


@register.filter
def display(value: Any) -> str:
    return presentation.plain(value)


@register.filter
def iso_datetime(value: str) -> datetime | None:
    """An ISO 8601 string from workflow data as a datetime, for the `date` filter."""
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


@register.filter
def case_facts(gate: Any) -> list[presentation.Fact]:
    """The gate's case as its agent declares it reads (labels, formats, order)."""
    return presentation.case_facts(gate.agent, gate.case or {})


@register.filter
def proposal_facts(gate: Any) -> list[presentation.Fact]:
    """What the AI proposes, labelled and formatted as its agent declares (no internal ids); once
    approved with edits, what was approved (the edits shown side by side below it)."""
    proposal = gate.proposal or {}
    if gate.edits and gate.status == "approved":
        proposal = presentation.approved_proposal(gate.agent, proposal, gate.edits)
    return presentation.proposal_facts(gate.agent, proposal)


@register.filter
def passage(gate: Any) -> passages.SectionPassage | None:
    """The document passage the gate is about, if its agent says where it is."""
    return passages.passage_of(gate.agent, gate.case or {}, gate.proposal or {}, gate.tool_results or [])


@register.filter
def edit_rows(gate: Any) -> list[side_by_side.FieldDiff]:
    """The reviewer's edits, field by field, side by side with what the agent proposed."""
    return side_by_side.field_diffs(gate.proposal or {}, gate.edits or {}, gate.edit_diff or "")


@register.filter
def risk_factor(text: str, agent: str) -> str:
    return presentation.risk_factor(agent, text)


@register.filter
def field_label(name: str, agent: str) -> str:
    """A field's label as `agent` declares it (`proposed_action` -> `Proposed action`)."""
    return presentation.field_label(agent, name)


@register.filter
def evidence(gate: Any) -> list[presentation.Evidence]:
    return presentation.evidence_of(gate.agent, gate.tool_results or [])


@register.filter
def flags(gate: Any) -> list[str]:
    return presentation.flags_of(gate.agent, gate.case or {}, gate.tool_results or [])


@register.filter
def amount(gate: Any) -> str:
    """An inbox row's Amount, in the portal's currency; empty where the agent declares none."""
    return "" if gate.amount is None else presentation.formatted(gate.amount, "currency")


@register.filter
def details(gate: Any) -> str:
    """An inbox row's Details: the agent's column fields (read by the row query, not the case)."""
    values = {f.name: getattr(gate, f"detail_{f.name}", None) for f in presentation.column_fields(gate.agent)}
    return presentation.details_of(gate.agent, values)


@register.filter
def tone(outcome: str, agent: str) -> str:
    """The badge class of an AI outcome of `agent`: `tone-approve` or `tone-reject` for the
    verdicts the agent declares (AgentSpec.verdicts), `tone-none` for the rest (refer, a tool call)."""
    return f"tone-{verdict_of(agent, outcome) or 'none'}"


@register.filter
def workspace(gate: Any) -> presentation.WorkspaceLink | None:
    return presentation.workspace_of(gate.agent, gate.kind, gate.workflow_id)


@register.filter
def listed_as(gate: Any) -> str:
    """What an inbox row sends of its gate for the bulk form (reviewer_portal.inbox.bulk.shown_of)."""
    return shown_of(gate.version, gate.content_digest)
