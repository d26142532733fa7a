"""A run continued as new with a carry of the test's choosing, as only a run's own
continue-as-new may make one (agents/framework/carry_origin.py): a relay workflow the tests'
workers serve, whose one step continues as new into the agent workflow with the input it was
given (a chain begun by an older worker, say)."""

from __future__ import annotations

from temporalio import workflow

from agents.framework.contract import AGENT_WORKFLOW

with workflow.unsafe.imports_passed_through():
    from agents.framework.types import AgentInput


@workflow.defn(name="TestContinueIntoAgent")
class ContinueIntoAgent:
    @workflow.run
    async def run(self, agent_input: AgentInput) -> None:
        workflow.continue_as_new(agent_input, workflow=AGENT_WORKFLOW)
