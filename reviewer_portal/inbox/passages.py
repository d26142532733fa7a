"""The document passage a gate is about, as the reviewer reads it: the section's heading and text
cut around the quoted words, which the page marks. The agent says where the passage is
(AgentSpec.passage); a long section shows its quote in context, the whole of it on request.
Pieces are plain text: the template escapes them and adds the <mark>."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agents.framework.presentation import Passage
from agents.framework.registry import AGENTS
from reviewer_portal.domains import domain_of

logger = logging.getLogger(__name__)

# A section up to this long is shown whole; a longer one shows this much either side of the quote.
WHOLE_SECTION_CHARS = 1500
CONTEXT_CHARS = 400


@dataclass(frozen=True)
class Marked:
    """Text in three pieces: before the quote, the quote as the section has it, and after."""

    before: str
    quote: str
    after: str


@dataclass(frozen=True)
class SectionPassage:
    heading: str
    shown: Marked  # the quote in context (the whole section when it is short)
    whole: Marked | None  # the whole section, when `shown` is only part of it
    found: bool  # the quote occurs in the section


def passage_of(
    agent: str,
    case: Mapping[str, Any],
    proposal: Mapping[str, Any],
    tool_results: list[Mapping[str, Any]],
) -> SectionPassage | None:
    """The passage a gate of `agent` is about, ready to read; None if the agent declares none or
    cannot find it (a document since deleted)."""
    spec = AGENTS.get(agent)
    if spec is None or spec.passage is None or not proposal:
        return None
    try:
        passage = spec.passage(case, proposal, tool_results, domain_of(agent).namespace)
    except Exception:  # an agent's lookup must never take the gate page down
        logger.exception("The passage of agent %s failed on gate data", agent)
        return None
    return readable(passage) if passage is not None else None


def readable(passage: Passage, *, whole_chars: int = WHOLE_SECTION_CHARS) -> SectionPassage:
    text = passage.text
    found = _find(text, passage.quote)
    if found is None:
        whole = Marked(text, "", "")
        return SectionPassage(passage.heading, whole, None, False)
    start, end = found
    whole = Marked(text[:start], text[start:end], text[end:])
    if len(text) <= whole_chars:
        return SectionPassage(passage.heading, whole, None, True)
    before, after = _word_cut_left(text[:start]), _word_cut_right(text[end:])
    return SectionPassage(passage.heading, Marked(before, text[start:end], after), whole, True)


def _find(text: str, quote: str) -> tuple[int, int] | None:
    """Where `quote` occurs in `text`, matched as the agent's tools match it: any run of spaces
    for a space, any case."""
    words = quote.split()
    if not words:
        return None
    match = re.search(r"\s+".join(map(re.escape, words)), text, re.IGNORECASE)
    return (match.start(), match.end()) if match else None


def _word_cut_left(text: str) -> str:
    if len(text) <= CONTEXT_CHARS:
        return text
    tail = text[-CONTEXT_CHARS:]
    return "… " + tail.split(None, 1)[-1] if " " in tail else "… " + tail


def _word_cut_right(text: str) -> str:
    if len(text) <= CONTEXT_CHARS:
        return text
    head = text[:CONTEXT_CHARS]
    return head.rsplit(None, 1)[0] + " …" if " " in head else head + " …"
