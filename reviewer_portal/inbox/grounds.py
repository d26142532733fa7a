"""The grounds a reviewer rejects on: what the gate's agent declares for its kind of gate
(`AgentSpec.rejection_grounds`), else a generic few; "Other" always, with the reviewer's words."""

from __future__ import annotations

from agents.framework.registry import AGENTS

OTHER = "Other"
GENERIC = ("Insufficient evidence", "Policy breach")


def rejection_grounds(agent: str, kind: str) -> tuple[str, ...]:
    spec = AGENTS.get(agent)
    declared = tuple(spec.rejection_grounds.get(kind, ())) if spec is not None else ()
    return (*(declared or GENERIC), OTHER)
