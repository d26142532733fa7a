"""`python manage.py list_agents`: one line per registered agent, for a platform engineer checking
what a deployment runs: name, title, namespace and task queue, roles, tools, prompt versions."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from agents.framework.prompts import PROMPTS
from agents.framework.registry import AGENTS, AgentSpec
from reviewer_portal.domains import domain_of


class Command(BaseCommand):
    help = "List the registered agents: namespace and task queue, roles, tools, prompt versions."

    def handle(self, *args: object, **options: object) -> None:
        if not AGENTS:
            self.stderr.write("No agents are registered: check AGENT_PACKAGES.")
            raise SystemExit(1)
        for name in sorted(AGENTS):
            self.stdout.write(agent_line(AGENTS[name]))


def agent_line(spec: AgentSpec) -> str:
    domain = domain_of(spec.name)
    versions = sorted(version for (prompt_id, version) in PROMPTS if prompt_id == spec.prompt_id)
    roles = sorted({role.name for role in spec.roles} | _gate_roles(spec))
    return (
        f"{spec.name}: {spec.title} | namespace {domain.namespace}, task queue {domain.task_queue} | "
        f"roles {', '.join(roles) or '-'} | tools {', '.join(spec.tools) or '-'} | "
        f"prompt {spec.prompt_id} v{', v'.join(map(str, versions))}"
    )


def _gate_roles(spec: AgentSpec) -> set[str]:
    """The roles its gate policies name (the gate's own, then each escalation's)."""
    policies = [p for p in (spec.gate, spec.approval_gate) if p is not None]
    return {p.role for p in policies} | {step.role for p in policies for step in p.escalations}
