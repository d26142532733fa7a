"""Which Temporal namespace and task queue each agent domain runs in.

`AGENT_DOMAINS` maps an agent to its namespace and task queue; an agent it does not name runs in
`TEMPORAL_NAMESPACE` on `TEMPORAL_TASK_QUEUE` (one namespace for everything, the default). A
domain's payloads are encrypted with its namespace's keys (PAYLOAD_KEYS), so a worker or a key
of one domain cannot read another's. Read at call time: tests and `make dev` change the settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from agents.framework.registry import AGENTS

FIELDS = ("namespace", "task_queue")


@dataclass(frozen=True)
class Domain:
    agent: str
    namespace: str
    task_queue: str


def domain_of(agent: str) -> Domain:
    configured = settings.AGENT_DOMAINS.get(agent, {})
    return Domain(
        agent=agent,
        namespace=configured.get("namespace") or settings.TEMPORAL_NAMESPACE,
        task_queue=configured.get("task_queue") or settings.TEMPORAL_TASK_QUEUE,
    )


def all_domains() -> list[Domain]:
    return [domain_of(agent) for agent in sorted(AGENTS)]


def namespaces() -> list[str]:
    """Every namespace the deployment uses (each needs payload keys)."""
    return sorted({settings.TEMPORAL_NAMESPACE, *(d.namespace for d in all_domains())})


def configuration_errors() -> list[str]:
    """What is wrong with AGENT_DOMAINS, in words for `manage.py check`."""
    errors = []
    for agent, configured in settings.AGENT_DOMAINS.items():
        if agent not in AGENTS:
            errors.append(f"AGENT_DOMAINS names {agent!r}, which is not a registered agent.")
        elif not isinstance(configured, dict) or set(configured) - set(FIELDS):
            errors.append(f"AGENT_DOMAINS[{agent!r}] may set only {' and '.join(FIELDS)}.")
        elif not all(isinstance(v, str) and v.strip() for v in configured.values()):
            errors.append(f"AGENT_DOMAINS[{agent!r}] has an empty namespace or task queue.")
    return errors
