"""How the offline model reviews a document: section by section, read, search, record, move on.

Progress comes from the tool calls in the transcript, including the "CALL <tool> <json>" lines of
the offline digest that replaces pruned turns after continue-as-new, so the review resumes where
it was; the digest lists only the latest calls, and counts the earlier ones by tool on a
`CALLS {"<tool>": n}` line (agents/framework/summarise.py), which the answer's totals add in. Only tool calls and the rulebook's structured matches drive it: the document's text is
data the policy never interprets, so instructions hidden in it change nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

READ = "regulatory.read_section"
SEARCH = "regulatory.rulebook_search"
RECORD = "regulatory.record_finding"
SUMMARY_PREFIX = "Summary of the earlier turns:"
TALLY = "CALLS "
# How the framework tells the model a reviewer sent its call back; their instructions follow "): ".
CHANGES_ASKED = "A reviewer asked for changes to this call ("


@dataclass
class Step:
    """One tool call seen in the transcript; `result` is None when its turn was pruned."""

    name: str
    index: int | None
    result: dict[str, Any] | None = None
    arguments: dict[str, Any] | None = None
    turn: int = -1  # which live assistant message asked for it; -1 for a digest line


def regulatory_policy(messages: list[dict[str, Any]]) -> dict[str, Any]:
    case = json.loads(next(m["content"] for m in messages if m["role"] == "user"))
    document_id, total = case["document_id"], int(case["sections"])
    steps = _steps(messages)
    if not steps:
        return _call(READ, document_id, 0)
    last = steps[-1]
    current = max((s.index for s in steps if s.name in (READ, SEARCH) and s.index is not None), default=0)
    if last.name in (READ, SEARCH) and last.result is not None and "error" in last.result:
        problem = f"Section {current} could not be reviewed: {last.result['error']}"
        return _answer(case, steps, problem, earlier=_earlier_calls(messages))
    if last.name == READ:
        return _call(SEARCH, document_id, current)
    if last.name == SEARCH:
        if last.result is None:  # the search result was pruned with its turn: search again
            return _call(SEARCH, document_id, current)
        if last.result["matches"]:
            return {"tool_calls": [_finding(document_id, current, m) for m in last.result["matches"]]}
    if last.name == RECORD and last.turn >= 0:
        # A reviewer sent a finding back with instructions: propose it again, revised as asked.
        sent_back = [s for s in steps if s.turn == last.turn and _changes_asked(s)]
        if sent_back:
            return {"tool_calls": [_revised(s) for s in sent_back]}
    # The section's findings are recorded or decided (or it had none): on to the next one.
    if current + 1 < total:
        return _call(READ, document_id, current + 1)
    return _answer(case, steps, earlier=_earlier_calls(messages))


def _steps(messages: list[dict[str, Any]]) -> list[Step]:
    steps: list[Step] = []
    live: dict[str, Step] = {}
    for turn, message in enumerate(messages):
        content = message.get("content") or ""
        if message["role"] == "user" and content.startswith(SUMMARY_PREFIX):
            steps.extend(_digest_steps(content))
        for call in message.get("tool_calls") or []:
            arguments = json.loads(call["function"]["arguments"])
            live[call["id"]] = Step(call["function"]["name"], _index(arguments), None, arguments, turn)
            steps.append(live[call["id"]])
        if message["role"] == "tool" and message.get("tool_call_id") in live:
            live[message["tool_call_id"]].result = json.loads(content)
    return steps


def _earlier_calls(messages: list[dict[str, Any]]) -> dict[str, int]:
    """The calls a digest only counts (its `CALLS` line), by tool; none in a digest without one."""
    for message in messages:
        content = message.get("content") or ""
        if message["role"] != "user" or not content.startswith(SUMMARY_PREFIX):
            continue
        for line in content.splitlines():
            if line.startswith(TALLY):
                try:
                    counts = json.loads(line.removeprefix(TALLY))
                except json.JSONDecodeError:
                    continue
                if isinstance(counts, dict):
                    return {str(k): v for k, v in counts.items() if isinstance(v, int)}
    return {}


def _digest_steps(summary: str) -> list[Step]:
    """The calls of an offline digest: lines "CALL <tool> <json args>", possibly cut short."""
    steps = []
    for line in summary.splitlines():
        if not line.startswith("CALL "):
            continue
        name, _, arguments = line.removeprefix("CALL ").partition(" ")
        try:
            index = _index(json.loads(arguments))
        except json.JSONDecodeError:  # a long line the digest shortened: the call still counts
            index = None
        steps.append(Step(name, index))
    return steps


def _index(arguments: Any) -> int | None:
    index = arguments.get("index") if isinstance(arguments, dict) else None
    return index if isinstance(index, int) else None


def _changes_asked(step: Step) -> bool:
    error = (step.result or {}).get("error")
    return step.name == RECORD and isinstance(error, str) and error.startswith(CHANGES_ASKED)


def _revised(step: Step) -> dict[str, Any]:
    """The finding again, its proposed action now the reviewer's instructions (they are trusted
    staff; the document's text never gets here)."""
    assert step.arguments is not None and step.result is not None
    instructions = step.result["error"].partition("): ")[2].strip()
    return {"name": RECORD, "arguments": {**step.arguments, "proposed_action": instructions}}


def _call(name: str, document_id: str, index: int) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": {"document_id": document_id, "index": index}}]}


def _finding(document_id: str, index: int, match: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": RECORD,
        "arguments": {
            "document_id": document_id,
            "index": index,
            "rule": match["rule"],
            "severity": match["severity"],
            "excerpt": match["excerpt"],
            "proposed_action": match["proposed_action"],
            "rationale": f"{match['title']} ({match['source']}).",
        },
    }


def _answer(
    case: dict[str, Any], steps: list[Step], problem: str = "", *, earlier: dict[str, int]
) -> dict[str, Any]:
    # Sections are read once each, in order: the reads a digest only counts are other sections.
    reviewed = earlier.get(READ, 0) + len({s.index for s in steps if s.name == READ and s.index is not None})
    proposed = earlier.get(RECORD, 0) + sum(1 for s in steps if s.name == RECORD)
    rationale = (
        f"Reviewed {reviewed} of {case['sections']} sections of '{case['title']}' and proposed "
        f"{proposed} findings; the review report lists each one with its compliance decision."
    )
    answer = {
        "outcome": "report",
        "rationale": f"{problem} {rationale}" if problem else rationale,
        "risk_factors": ["review incomplete"] if problem else [],
        "proposal": {
            "sections_reviewed": reviewed,
            "sections": case["sections"],
            "findings_proposed": proposed,
        },
    }
    return {"content": json.dumps(answer)}
