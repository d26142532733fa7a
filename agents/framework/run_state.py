"""What one run of the agent workflow holds, shared by the workflow's parts (planning, gates,
pruning), each a mixin of AgentWorkflow in its own module."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    # The sandbox resolves a dataclass's type hints in its own module, which it must hold too:
    # AgentInput's spec is a run_spec.AgentRunSpec.
    import agents.framework.run_spec  # noqa: F401
    from agents.framework.types import AgentInput, AgentState, GateSnapshot


class AgentRunState:
    _input: AgentInput | None
    _state: AgentState
    # Every gate of the run by id, and the version of each the projection has been sent.
    _gates: dict[str, GateSnapshot]
    _published: dict[str, int]
    # The last snapshot of each gate sent to the projection: the next publish sends the change.
    _published_gates: dict[str, GateSnapshot]
    # Model turns taken in this run (not the chain), for `turns_per_run`.
    _runs_turns: int
