"""Where a run's carried state may come from: its own continue-as-new, nothing else.

A continued run's input carries its gates, applied actions and conversation (`AgentInput.carry`,
`SupportInput.carry`). Whoever starts a run writes its input, so a run started with a carry could
begin with a gate already "approved by" any officer: published, shown as theirs, and acted on,
with no Update for the worker's keyring to refuse. A carry is the run's own only when the server
says the run continues another (`continued_run_id`) and no cron schedule or retry policy would
have handed it the starter's input again, and the worker's interceptor checks that a worker sealed
that continue-as-new (agents.framework.seals). Pure: the workflow passes its
`workflow.info()`.
"""

from __future__ import annotations

from typing import Protocol

CARRY_REFUSED = "CarryRefused"


class RunInfo(Protocol):
    """What `workflow.info()` says of how the run began."""

    @property
    def continued_run_id(self) -> str | None: ...

    @property
    def cron_schedule(self) -> str | None: ...

    @property
    def retry_policy(self) -> object | None: ...


def carry_refusal(carried: bool, info: RunInfo) -> str | None:
    """Why a run given carried state must not start from it; None if it may (or carries none)."""
    if not carried:
        return None
    if info.continued_run_id and not info.cron_schedule and info.retry_policy is None:
        return None
    return (
        "This run was started with state carried from another run, which only a run's own "
        "continue-as-new may pass on: it was not started by the portal, and nothing was done."
    )
