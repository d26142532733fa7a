"""`manage.py check`: every role an agent's gates name is a role some agent declares (else nobody
could ever hold it, and its gates would wait for their SLA policy alone)."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

from agents.framework.registry import AGENTS
from reviewer_portal.accounts.roles import REVIEWER_ROLES


@register()
def gate_roles_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    for spec in AGENTS.values():
        policies = [p for p in (spec.gate, spec.approval_gate) if p is not None]
        named = {p.role for p in policies} | {step.role for p in policies for step in p.escalations}
        for role in sorted(named - set(REVIEWER_ROLES)):
            errors.append(
                Error(
                    f"Agent {spec.name}'s gates name the role {role!r}, which no agent declares.",
                    hint="Add ReviewerRole(name, label) to the agent's AgentSpec.roles.",
                    id="accounts.E001",
                )
            )
    return errors
