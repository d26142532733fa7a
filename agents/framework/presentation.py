"""How an agent's data reads to reviewers, declared with the agent: case fields (which are inbox
columns, which are searchable, which one is the amount the inbox filters and sorts by), labels and
formats for the evidence its tools return, and the flags it raises from what they found (a
declared credit score the bureau contradicts). Nothing here imports Django; the portal renders it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

# text as it is; currency in the portal's currency; percent from a ratio (0.079 -> 7.9 %);
# integer with thousands separators; months as "48 months"; date as an ISO date; position, a
# place counted from 0, as people count it (index 2 -> 3); hidden, not shown (an internal id).
Format = Literal["text", "currency", "percent", "integer", "months", "date", "position", "hidden"]


@dataclass(frozen=True)
class Shown:
    """A value's label and format."""

    label: str
    format: Format = "text"


@dataclass(frozen=True)
class CaseField:
    name: str  # the key in the run's case
    label: str
    format: Format = "text"
    column: bool = False  # shown in the inbox's Details column
    searchable: bool = False  # the inbox's search covers it
    amount: bool = False  # the inbox's Amount column, filter and sort read it (one per agent)


@dataclass(frozen=True)
class Passage:
    """The part of a document a gate is about: its section, and the words in it the gate quotes
    (as quoted: the section may differ in spacing or case)."""

    heading: str
    text: str
    quote: str = ""


# The passage a gate is about, from its case, its proposal (a tool call's arguments), the results
# its tools returned, and the Temporal namespace whose document store holds the document; None if
# it has none.
PassageOf = Callable[[Mapping[str, Any], Mapping[str, Any], Sequence[Mapping[str, Any]], str], Passage | None]
# What an approved proposal reads as once a reviewer's edits apply (proposal, edits) -> proposal,
# where more than the edited fields follow from them (advice: products the edited text no longer
# names drop out). Undeclared: the proposal with the edits laid over it.
AfterReview = Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]


# The flags an agent raises for a reviewer, from the case, its tools' results by tool name (the
# last successful one of each) and who asked for each of those results ("framework" for an opening
# call, else "model"): plain sentences ("Declared credit score 668; the bureau reports 658.").
# Pure and fast.
Flags = Callable[[Mapping[str, Any], Mapping[str, Mapping[str, Any]], Mapping[str, str]], list[str]]


@dataclass(frozen=True)
class Workspace:
    """Where reviewers act on a kind of gate, instead of the gate page's Approve and Reject (a
    support rep takes a handed-off conversation over on its own page). `path` may name
    `{workflow_id}`."""

    label: str  # the gate page's button: "Take over the conversation"
    path: str
