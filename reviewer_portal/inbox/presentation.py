"""An agent's data as reviewers read it, from what the agent declares (AgentSpec.case_fields,
evidence and flags; agents.framework.presentation): labelled, formatted facts for the case and
each tool's evidence, the Details and Amount columns of the inbox, the fields search covers, and
the flags the agent raises. An agent that declares nothing still reads plainly."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma

from agents.framework.presentation import CaseField, Format, Shown
from agents.framework.registry import AGENTS, AgentSpec
from agents.framework.types import BY_FRAMEWORK, BY_MODEL

logger = logging.getLogger(__name__)

CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}
# A column of a table inside a fact (a list of records, such as holdings) is at most this many.
TABLE_COLUMNS = 8


@dataclass(frozen=True)
class Fact:
    label: str
    text: str = ""
    # A list of records reads as a table: its header and its rows of text.
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


@dataclass(frozen=True)
class Evidence:
    title: str
    ok: bool
    facts: list[Fact]
    error: str = ""
    # Fetched by the framework before the AI's first turn (an opening call), not at its choice.
    by_framework: bool = False


def label_of(key: str) -> str:
    """`annual_income` -> `Annual income`."""
    return key.replace("_", " ").capitalize()


def formatted(value: Any, fmt: Format = "text") -> str:
    """`value` in `fmt`; a value that is not what the format expects reads as it is."""
    if value is None or value == "" or value == []:
        return "none"
    number = _number(value) if fmt in ("currency", "percent", "integer", "months", "position") else None
    if fmt == "currency" and number is not None:
        symbol = CURRENCY_SYMBOLS.get(settings.CURRENCY)
        figure = f"{number:,.0f}" if number == number.to_integral() else f"{number:,.2f}"
        return f"{symbol}{figure}" if symbol else f"{figure} {settings.CURRENCY}"
    if fmt == "percent" and number is not None:
        return f"{(number * 100).normalize():f} %" if abs(number) < 10 else f"{number:f} %"
    if fmt == "integer" and number is not None:
        return intcomma(int(number))
    if fmt == "months" and number is not None:
        return f"{int(number)} month{'' if int(number) == 1 else 's'}"
    if fmt == "position" and number is not None and number == number.to_integral():
        return intcomma(int(number) + 1)
    if fmt == "hidden":
        return ""
    if fmt == "date" and isinstance(value, str):
        return value[:10]
    return plain(value)


def case_facts(agent: str, case: Mapping[str, Any]) -> list[Fact]:
    """The case: declared fields first, in their order and format; the rest plainly."""
    declared = _case_fields(agent)
    facts = [
        Fact(f.label, formatted(case[f.name], f.format))
        for f in declared
        if f.name in case and f.format != "hidden"
    ]
    named = {f.name for f in declared}
    return facts + _facts({k: v for k, v in case.items() if k not in named}, _shown(agent))


def proposal_facts(agent: str, proposal: Mapping[str, Any]) -> list[Fact]:
    """What the AI proposes (a tool call's arguments, a draft), labelled and formatted as the
    agent declares its evidence, in the order it declares them; internal ids it declares hidden
    are left out."""
    shown = _shown(agent)
    order = {key: n for n, key in enumerate(shown)}
    return _facts(dict(sorted(proposal.items(), key=lambda item: order.get(item[0], len(order)))), shown)


def approved_proposal(agent: str, proposal: Mapping[str, Any], edits: Mapping[str, Any]) -> dict[str, Any]:
    """The proposal as approved with a reviewer's edits, as the agent declares it reads
    (AgentSpec.after_review), else the edits laid over the proposal."""
    spec = AGENTS.get(agent)
    if spec is not None and spec.after_review is not None:
        return spec.after_review(proposal, edits)
    return {**proposal, **edits}


def risk_factor(agent: str, text: str) -> str:
    """A risk factor as the workflow words a gated argument ("severity: high"), with the agent's
    label for the argument ("Severity: high"); other words as they are."""
    key, colon, value = text.partition(": ")
    if colon and key.isidentifier() and key == key.lower():
        return f"{field_label(agent, key)}: {value}"
    return text


def field_label(agent: str, name: str) -> str:
    """The label `agent` declares for a case, evidence or proposal field, else one from its key."""
    how = _shown(agent).get(name)
    return how.label if how else label_of(name)


def tool_label(name: str) -> str:
    """What a tool does, as its agent declares it (AgentSpec.tool_labels), else from its name:
    `regulatory.record_finding` -> `Record finding`; never the registry name."""
    for spec in AGENTS.values():
        if name in spec.tool_labels:
            return spec.tool_labels[name]
    return label_of(name.rsplit(".", 1)[-1])


def evidence_of(agent: str, tool_results: Iterable[Mapping[str, Any]]) -> list[Evidence]:
    """Each tool's result as labelled facts, under the tool's action as its title."""
    shown = _shown(agent)
    evidence = []
    for result in tool_results:
        title = tool_label(str(result.get("name", "")))
        values = result.get("result")
        by_framework = result.get("requested_by") == BY_FRAMEWORK
        if result.get("ok") and isinstance(values, Mapping):
            evidence.append(Evidence(title, True, _facts(values, shown), by_framework=by_framework))
        elif result.get("ok"):
            evidence.append(Evidence(title, True, [Fact("Result", plain(values))], by_framework=by_framework))
        else:
            error = str(result.get("error") or "failed")
            evidence.append(Evidence(title, False, [], error, by_framework=by_framework))
    return evidence


# Said when an agent's rule fails on a gate's data: the gate is then flagged, never offered in bulk.
UNCHECKED = "The agent's checks could not be run on this gate's data: read it in full before deciding."


def flags_of(agent: str, case: Mapping[str, Any], tool_results: Iterable[Mapping[str, Any]]) -> list[str]:
    """The flags the agent raises from its case and evidence (AgentSpec.flags). A rule that fails
    on odd data flags the gate with UNCHECKED: it must never take the gate page down, nor leave a
    gate it could not judge open to a bulk decision."""
    spec = AGENTS.get(agent)
    if spec is None or spec.flags is None:
        return []
    try:
        usable = [r for r in tool_results if r.get("ok") and isinstance(r.get("result"), Mapping)]
        results = {str(r.get("name")): r["result"] for r in usable}
        made_by = {str(r.get("name")): str(r.get("requested_by") or BY_MODEL) for r in usable}
        return [str(flag) for flag in spec.flags(case, results, made_by)]
    except Exception:
        logger.exception("The flags of agent %s failed on gate data", agent)
        return [UNCHECKED]


@dataclass(frozen=True)
class WorkspaceLink:
    label: str
    url: str


def workspace_of(agent: str, kind: str, workflow_id: str) -> WorkspaceLink | None:
    """Where reviewers act on this gate, when its agent says it is not the decision panel."""
    spec = AGENTS.get(agent)
    found = spec.workspaces.get(kind) if spec else None
    if found is None:
        return None
    return WorkspaceLink(found.label, found.path.replace("{workflow_id}", workflow_id))


def amount_field(agent: str) -> str | None:
    """The case field the inbox's Amount column, filter and sort read for `agent`."""
    return next((f.name for f in _case_fields(agent) if f.amount), None)


def column_fields(agent: str) -> list[CaseField]:
    return [f for f in _case_fields(agent) if f.column]


def search_fields() -> list[str]:
    """Every case field some agent makes searchable, each once."""
    return sorted({f.name for spec in AGENTS.values() for f in spec.case_fields if f.searchable})


def detail_fields() -> list[str]:
    """Every case field some agent shows in the inbox's Details column, each once."""
    return sorted({f.name for spec in AGENTS.values() for f in spec.case_fields if f.column})


def search_labels() -> list[str]:
    return sorted({f.label for spec in AGENTS.values() for f in spec.case_fields if f.searchable})


def details_of(agent: str, values: Mapping[str, Any]) -> str:
    """The inbox's Details column: the agent's column fields, as 'Term 48 months · Purpose car'."""
    return " · ".join(
        f"{f.label} {formatted(values[f.name], f.format)}"
        for f in column_fields(agent)
        if values.get(f.name) not in (None, "")
    )


def _case_fields(agent: str) -> tuple[CaseField, ...]:
    spec: AgentSpec | None = AGENTS.get(agent)
    return tuple(spec.case_fields) if spec else ()


def _shown(agent: str) -> Mapping[str, Shown]:
    spec = AGENTS.get(agent)
    if spec is None:
        return {}
    return {**{f.name: Shown(f.label, f.format) for f in spec.case_fields}, **spec.evidence}


def _facts(values: Mapping[str, Any], shown: Mapping[str, Shown]) -> list[Fact]:
    return [_fact(k, v, shown) for k, v in values.items() if k not in shown or shown[k].format != "hidden"]


def _fact(key: str, value: Any, shown: Mapping[str, Shown]) -> Fact:
    how = shown.get(key, Shown(label_of(key)))
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        header = [
            k
            for k in dict.fromkeys(k for record in value for k in record)
            if k not in shown or shown[k].format != "hidden"
        ][:TABLE_COLUMNS]
        rows = [[_cell(record.get(k), shown.get(k)) for k in header] for record in value]
        return Fact(
            how.label, header=[shown[k].label if k in shown else label_of(k) for k in header], rows=rows
        )
    if isinstance(value, Mapping) and value and how.format != "text":
        # A declared format applies to each value: "Cash: 5.7 %", not "Cash: 0.057".
        return Fact(
            how.label, "\n".join(f"{label_of(str(k))}: {formatted(v, how.format)}" for k, v in value.items())
        )
    return Fact(how.label, formatted(value, how.format))


def _cell(value: Any, how: Shown | None) -> str:
    return "" if value is None else formatted(value, how.format if how else "text")


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def plain(value: Any) -> str:
    """A value of no declared format, for people: Yes/No, none, thousands separators, records
    one per line; never a Python repr."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if value is None or value == [] or value == "":
        return "none"
    if isinstance(value, Mapping):
        return ", ".join(f"{label_of(str(k))}: {plain(v)}" for k, v in value.items())
    if isinstance(value, list):
        separator = "\n" if any(isinstance(v, Mapping) for v in value) else "; "
        return separator.join(plain(v) for v in value)
    if isinstance(value, float) and not value.is_integer():
        return intcomma(f"{value:.2f}") if abs(value) >= 1 else f"{value:g}"
    if isinstance(value, int | float):
        return intcomma(int(value))
    return str(value)
