"""A reviewer's edits side by side: for each edited field, the agent's text and the approved text
in two columns, line against line, with the changed words marked. Built from the gate's proposal
and edits; a gate that kept only its unified diff (Gate.edit_diff) is read back from that.
Pieces are plain text: the template escapes them and adds the marks."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# A word and the spaces after it: changes are marked word by word, spacing kept.
_WORDS = re.compile(r"\S+\s*|\s+")
_FIELD_HEADER = re.compile(r"^--- (?P<name>.+) \(proposed\)$")


@dataclass(frozen=True)
class Piece:
    text: str
    changed: bool = False


@dataclass(frozen=True)
class Row:
    before: list[Piece]  # empty: the line was added
    after: list[Piece]  # empty: the line was removed
    kind: str  # "same", "changed", "added", "removed"


@dataclass(frozen=True)
class FieldDiff:
    name: str
    rows: list[Row]


def field_diffs(proposal: Mapping[str, Any], edits: Mapping[str, Any], unified: str = "") -> list[FieldDiff]:
    """Each edited field's rows, in field order; from `unified` when the edits are not known."""
    if edits:
        pairs = [(name, str(proposal.get(name, "")), str(value)) for name, value in sorted(edits.items())]
    else:
        pairs = _from_unified(unified)
    return [FieldDiff(name, rows(before, after)) for name, before, after in pairs]


def rows(before: str, after: str) -> list[Row]:
    """Line against line; a replaced block pairs its lines in order, the rest stand alone."""
    old, new = before.splitlines(), after.splitlines()
    result: list[Row] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            result += [Row([Piece(line)], [Piece(line)], "same") for line in old[i1:i2]]
            continue
        removed, added = old[i1:i2], new[j1:j2]
        for n in range(max(len(removed), len(added))):
            if n < len(removed) and n < len(added):
                result.append(Row(*_words(removed[n], added[n]), "changed"))
            elif n < len(removed):
                result.append(Row([Piece(removed[n], True)], [], "removed"))
            else:
                result.append(Row([], [Piece(added[n], True)], "added"))
    return result


def _words(before: str, after: str) -> tuple[list[Piece], list[Piece]]:
    old, new = _WORDS.findall(before), _WORDS.findall(after)
    left: list[Piece] = []
    right: list[Piece] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        same = tag == "equal"
        if i2 > i1:
            left.append(Piece("".join(old[i1:i2]), not same))
        if j2 > j1:
            right.append(Piece("".join(new[j1:j2]), not same))
    return left, right


def _from_unified(diff: str) -> list[tuple[str, str, str]]:
    """(field, before, after) from a unified diff of whole fields, as agents.framework.gates
    writes it; context lines belong to both sides."""
    fields: list[tuple[str, list[str], list[str]]] = []
    for line in diff.splitlines():
        header = _FIELD_HEADER.match(line)
        if header:
            fields.append((header["name"], [], []))
        elif not fields or line.startswith(("+++ ", "@@")):
            continue
        elif line.startswith("-"):
            fields[-1][1].append(line[1:])
        elif line.startswith("+"):
            fields[-1][2].append(line[1:])
        elif line.startswith(" "):
            fields[-1][1].append(line[1:])
            fields[-1][2].append(line[1:])
    return [(name, "\n".join(before), "\n".join(after)) for name, before, after in fields]
