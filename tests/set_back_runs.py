"""A loan run set back by a reset, on the dev server, for the tests of gate content and set-back:
a client allowed to reset a run resets it to before the model's last step, and the model (a real
loopback OpenAI-compatible server) answers otherwise when asked again."""

from __future__ import annotations

import html
import json
import re
import uuid
from contextlib import contextmanager

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest

from agents.framework.contract import LLM_ACTIVITY
from agents.framework.llm import LlmSettings
from agents.framework.types import ToolResult
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from tests.conftest import (
    loan_input,
    start_loan,
)
from tests.fake_openai import FakeOpenAI, Fault, scripted_reply
from tests.outage import wait_until
from tests.test_gate_rules import gate as gate_snapshot

SECOND_ANSWER = "Approve: the applicant is well known to the branch manager."
SHOWN = re.compile(r'name="shown" value="([^"]*)"')
HTMX = {"HX-Request": "true"}


def opened_gate():
    """A loan gate as a run opens it, with a case and evidence."""
    bureau = ToolResult("c1", "loans.credit_bureau", True, {"bureau_score": 742, "defaults": 0})
    return gate_snapshot(case={"amount": 18_000, "applicant_name": "Amira Haddad"}, tool_results=[bureau])


def answer(outcome: str, rationale: str) -> Fault:
    """The model's final answer, as the chat-completions API sends it."""
    content = json.dumps({"outcome": outcome, "rationale": rationale, "risk_factors": []})
    return scripted_reply({"role": "assistant", "content": content}, "stop")


def reset_to_before_the_last_model_step(temporal, handle) -> str:
    """What a client allowed to reset can do: set the run back to the task that asked the model
    for its recommendation, so that the model is asked again."""

    async def reset() -> str:
        history = await handle.fetch_history()
        asked = [
            e.activity_task_scheduled_event_attributes
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
            and e.activity_task_scheduled_event_attributes.activity_type.name == LLM_ACTIVITY
        ]
        request = ResetWorkflowExecutionRequest(
            namespace=temporal.client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=handle.id, run_id=handle.result_run_id),
            reason="set back to the model's step",
            workflow_task_finish_event_id=asked[-1].workflow_task_completed_event_id,
            request_id=str(uuid.uuid4()),
        )
        return (await temporal.client.workflow_service.reset_workflow_execution(request)).run_id

    return temporal.run(reset())


def run_gate(temporal, handle):
    """The gate as the latest run holds it (None while a reset run has not opened it yet)."""
    gates = temporal.run(temporal.client.get_workflow_handle(handle.id).query(AgentWorkflow.all_gates))
    return gates[0] if gates else None


def holds_the_second_answer(temporal, handle) -> bool:
    gate = run_gate(temporal, handle)
    return gate is not None and gate.recommendation.rationale == SECOND_ANSWER


def shown_on(client, gate: Gate) -> str:
    """The token the gate page's decision form carries (the gate claimed by its reader first)."""
    client.post(f"/gates/{gate.gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers=HTMX)
    page = client.get(f"/gates/{gate.gate_id}/").content.decode()
    return html.unescape(SHOWN.search(page).group(1))


@contextmanager
def a_run_set_back(temporal, settings):
    """A loan run on a worker whose model answers SECOND_ANSWER when asked again: yields a
    function that resets the run to before the model's last step and waits for the answer."""
    fake = FakeOpenAI()
    llm = LlmSettings(api_key="sk-test", base_url=fake.base_url)
    with fake, temporal.worker(llm=llm, portal_activities=PORTAL_ACTIVITIES) as queue:
        settings.TEMPORAL_TASK_QUEUE = queue
        handle = start_loan(temporal, queue, loan_input())

        def set_back() -> str:
            fake.script.append(answer("approve", SECOND_ANSWER))
            old_run = handle.result_run_id
            reset_to_before_the_last_model_step(temporal, handle)
            wait_until(lambda: holds_the_second_answer(temporal, handle))
            return old_run

        yield handle, set_back
