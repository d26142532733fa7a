"""How an agent's team classifies its use under the EU AI Act (Regulation (EU) 2024/1689).

The classification is the team's own declaration, kept beside its spec: the portal shows it on
each decision's AI Act record and never infers it. It is not part of a run's input, so changing
it never affects a workflow's determinism.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AiActClass:
    """Whether the agent's cases make it a high-risk AI system, and on what basis.

    `basis` names the provision (e.g. an Annex III point) or, for a system that is not
    high-risk, why none applies; one line, as an auditor would quote it.
    """

    high_risk: bool
    basis: str


# What an agent that declares nothing gets: shown as undeclared, never as an assessment.
UNDECLARED = AiActClass(high_risk=False, basis="Not declared by the agent's team.")
