"""Reads for the prompt governance pages: every prompt version, its text, and where it was used.

Texts come from the registry the agent packages filled (`agents.framework.prompts.PROMPTS`);
usage comes from the gate projection, whose rows carry the prompt each run pinned. A run counts
once it has opened a gate; a decision is a gate a person approved or rejected (SLA expiry, decided
by "system", is not one).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from django.db.models import Count, Min, Q
from django.http import Http404

from agents.framework.contract import SYSTEM_DECIDER
from agents.framework.prompts import PROMPTS, Prompt
from reviewer_portal.inbox.models import Gate

HUMAN_DECISION = Q(status__in=[Gate.Status.APPROVED, Gate.Status.REJECTED]) & ~Q(decided_by=SYSTEM_DECIDER)
RUNS_SHOWN = 200


@dataclass(frozen=True)
class PromptUsage:
    runs: int = 0
    decisions: int = 0
    # Runs that pinned this id and version with another text: edited in place somewhere.
    other_text_runs: int = 0


@dataclass(frozen=True)
class PromptVersion:
    id: str
    version: int
    # None when runs used a version this portal has not registered (e.g. its package not loaded).
    prompt: Prompt | None
    usage: PromptUsage
    latest: bool

    @property
    def sha256(self) -> str:
        return self.prompt.sha256 if self.prompt else ""


@dataclass(frozen=True)
class PromptFamily:
    id: str
    versions: list[PromptVersion]  # newest first


@dataclass(frozen=True)
class DiffLine:
    kind: str  # header | hunk | added | removed | context
    text: str


@dataclass(frozen=True)
class PromptVersionDetail:
    version: PromptVersion
    previous: Prompt | None
    diff: list[DiffLine]
    runs: list[dict[str, object]] = field(default_factory=list)


def prompt_usage(*, prompt_id: str | None = None) -> dict[tuple[str, int], PromptUsage]:
    """Runs (distinct workflows) and human decisions per (prompt id, version), in one query."""
    gates = Gate.objects.exclude(prompt_version=None)
    if prompt_id is not None:
        gates = gates.filter(prompt_id=prompt_id)
    rows = (
        gates.values("prompt_id", "prompt_version", "prompt_sha256")
        .annotate(runs=Count("workflow_id", distinct=True), decisions=Count("pk", filter=HUMAN_DECISION))
        .order_by()
    )
    usage: dict[tuple[str, int], PromptUsage] = {}
    for row in rows:
        key = (row["prompt_id"], row["prompt_version"])
        registered = PROMPTS.get(key)
        other_text = registered is not None and row["prompt_sha256"] != registered.sha256
        seen = usage.get(key, PromptUsage())
        usage[key] = PromptUsage(
            runs=seen.runs + row["runs"],
            decisions=seen.decisions + row["decisions"],
            other_text_runs=seen.other_text_runs + (row["runs"] if other_text else 0),
        )
    return usage


def prompt_catalogue() -> list[PromptFamily]:
    """Every prompt id, registered or used by a run, with its versions newest first."""
    usage = prompt_usage()
    keys = set(PROMPTS) | set(usage)
    families = []
    for prompt_id in sorted({pid for pid, _ in keys}):
        numbers = sorted((v for pid, v in keys if pid == prompt_id), reverse=True)
        families.append(PromptFamily(prompt_id, [_version(prompt_id, n, usage) for n in numbers]))
    return families


def prompt_version_detail(*, prompt_id: str, version: int) -> PromptVersionDetail:
    """A registered version with its usage, its diff to the previous version and its runs; or 404."""
    prompt = PROMPTS.get((prompt_id, version))
    if prompt is None:
        raise Http404("No such prompt version.")
    previous = _previous(prompt)
    runs = (
        Gate.objects.filter(prompt_id=prompt_id, prompt_version=version)
        .values("workflow_id", "agent", "prompt_sha256")
        .annotate(opened_at=Min("opened_at"), gates=Count("pk"), decisions=Count("pk", filter=HUMAN_DECISION))
        .order_by("-opened_at")[:RUNS_SHOWN]
    )
    return PromptVersionDetail(
        version=_version(prompt_id, version, prompt_usage(prompt_id=prompt_id)),
        previous=previous,
        diff=prompt_diff(old=previous, new=prompt) if previous else [],
        runs=list(runs),
    )


def prompt_diff(*, old: Prompt, new: Prompt) -> list[DiffLine]:
    """The unified diff from `old` to `new`, one classified line each (empty when equal)."""
    lines = difflib.unified_diff(
        old.text.splitlines(),
        new.text.splitlines(),
        fromfile=f"{old.id}.v{old.version}.md",
        tofile=f"{new.id}.v{new.version}.md",
        lineterm="",
    )
    return [DiffLine(_diff_kind(line), line) for line in lines]


def _diff_kind(line: str) -> str:
    if line.startswith(("---", "+++")):
        return "header"
    if line.startswith("@@"):
        return "hunk"
    return {"+": "added", "-": "removed"}.get(line[:1], "context")


def _previous(prompt: Prompt) -> Prompt | None:
    older = [p for (pid, v), p in PROMPTS.items() if pid == prompt.id and v < prompt.version]
    return max(older, key=lambda p: p.version, default=None)


def _version(prompt_id: str, version: int, usage: dict[tuple[str, int], PromptUsage]) -> PromptVersion:
    registered = [v for pid, v in PROMPTS if pid == prompt_id]
    return PromptVersion(
        id=prompt_id,
        version=version,
        prompt=PROMPTS.get((prompt_id, version)),
        usage=usage.get((prompt_id, version), PromptUsage()),
        latest=bool(registered) and version == max(registered),
    )
