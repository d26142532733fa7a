"""Versioned system prompts: files named `<id>.v<version>.md` in a team's `prompts/` folder.

A run pins a PromptRef (id, version, sha256) when it starts; the LLM activity loads exactly that
text and refuses to run if the file was edited in place, so history never lies about a prompt.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from agents.framework.types import PromptRef

_FILE_NAME = re.compile(r"^(?P<id>[a-z0-9_.-]+)\.v(?P<version>\d+)\.md$")


@dataclass(frozen=True)
class Prompt:
    id: str
    version: int
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def ref(self) -> PromptRef:
        return PromptRef(id=self.id, version=self.version, sha256=self.sha256)


PROMPTS: dict[tuple[str, int], Prompt] = {}
# The framework's own prompt (agents/framework/prompts/), used when a loop is summarised.
SUMMARISE_PROMPT = "framework.summarise"


def register_prompts(folder: Path) -> None:
    """Load every prompt file in `folder`; ids are global, so prefix them with the team."""
    for path in sorted(folder.glob("*.md")):
        match = _FILE_NAME.match(path.name)
        if match:
            prompt = Prompt(match["id"], int(match["version"]), path.read_text())
            PROMPTS[(prompt.id, prompt.version)] = prompt


def latest_prompt(prompt_id: str) -> Prompt:
    versions = [p for (pid, _), p in PROMPTS.items() if pid == prompt_id]
    if not versions:
        raise LookupError(f"No prompt registered with id '{prompt_id}'.")
    return max(versions, key=lambda p: p.version)


def pinned_prompt(ref: PromptRef) -> Prompt:
    """The exact prompt a run pinned; raises if it is gone or its text changed."""
    prompt = PROMPTS.get((ref.id, ref.version))
    if prompt is None:
        raise LookupError(f"Prompt {ref.id} v{ref.version} is not registered on this worker.")
    if prompt.sha256 != ref.sha256:
        raise LookupError(f"Prompt {ref.id} v{ref.version} was edited in place; add a new version.")
    return prompt


register_prompts(Path(__file__).parent / "prompts")
