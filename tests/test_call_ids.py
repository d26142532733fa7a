"""A model that repeats a tool call's id cannot re-run an approved call or bypass its reviewer.

The workflow finds the gate of a gated call by the call's id. The id comes from the provider, and
nothing in the API promises it is unique: some OpenAI-compatible servers number calls from
`call_0` in every reply, some send "", and a prompt-injected model can repeat one on purpose.
Before the fix a gated call that repeated an earlier call's id was matched to that call's gate,
already approved: the earlier call ran again with the old arguments (a doubled action), and the
new arguments reached no reviewer. Two gated calls sharing an id in one turn left one gate
pending for ever while the other call ran twice.

Now the workflow gives each call of a reply an id that no earlier call of the chain has (and no
other call of the reply): a repeated, shared or empty id is replaced with a fresh one, before
the reply is kept, so the provider is sent the same ids back.

Through the real dev server and worker, the model being a real loopback OpenAI-compatible
server scripted to repeat ids; the rest of the run is the offline model's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

import agents.framework.planning as planning
from agents.finops import BUDGET_APPROVER, FINOPS_AGENT
from agents.finops.offline import INCREASE
from agents.framework.call_ids import numbered, taken_ids, unique_call_ids
from agents.framework.llm import LlmSettings
from agents.framework.patches import PATCH_UNIQUE_CALL_IDS
from agents.framework.types import AgentState, ChatMessage, ToolCall, ToolResult
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.audit.timeline import read_timeline
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from reviewer_portal.temporal_client import data_converter
from tests.actions import decide
from tests.conftest import (
    HISTORIES,
    activity_names,
    agent_input_for,
    record_history,
    start_run,
    wait_for_gate,
)
from tests.fake_openai import FakeOpenAI, Fault, scripted_reply

CASE = {"team": "search", "month": "2026-11", "budget": 100_000}


def increase(call_id: str, amount: int) -> dict:
    arguments = {**{k: CASE[k] for k in ("team", "month")}, "amount": amount, "justification": "peak"}
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": INCREASE, "arguments": json.dumps(arguments)},
    }


def reply(*calls: dict) -> Fault:
    return scripted_reply({"role": "assistant", "content": None, "tool_calls": list(calls)}, "tool_calls")


def all_gates(temporal, handle):
    return temporal.run(handle.query(AgentWorkflow.all_gates))


def wait_for_gates(temporal, handle, count: int, timeout: float = 20):
    """The run's gates once it has `count` (polled from this thread: the harness loop runs the
    queries)."""
    deadline = time.monotonic() + timeout
    while len(gates := all_gates(temporal, handle)) < count:
        assert time.monotonic() < deadline, f"{len(gates)} gates, not {count}"
        time.sleep(0.1)
    return gates


def approver_decides(temporal, handle, gate, decision: str) -> None:
    reason = "Seasonal peak." if decision == "approve" else "Not this month."
    decide(temporal, handle, gate.gate_id, decision, reason, reviewer="budget", roles=[BUDGET_APPROVER])


def run_with(temporal, script: list[Fault]):
    fake = FakeOpenAI(script)
    llm = LlmSettings(api_key="sk-test", base_url=fake.base_url)
    agent_input = agent_input_for(FINOPS_AGENT, "Cloud costs: search, 2026-11", CASE, submitted_by="lead")
    return fake, llm, agent_input


@pytest.mark.once
def test_a_gated_call_repeating_an_approved_calls_id_gets_a_gate_of_its_own(temporal, transactional_db):
    fake, llm, agent_input = run_with(
        temporal, [reply(increase("call_1", 100)), reply(increase("call_1", 5000))]
    )
    with fake, temporal.worker(llm=llm, portal_activities=PORTAL_ACTIVITIES) as queue:
        handle = start_run(temporal, queue, agent_input, prefix="finops")
        first = wait_for_gate(temporal, handle)
        call = first.tool_call
        assert (call.id, call.provider_id, call.arguments["amount"]) == ("wf0000001", "call_1", 100)
        approver_decides(temporal, handle, first, "approve")

        # Before the fix: no second gate; the approved call ran again, for 100.
        second = wait_for_gate(temporal, handle, until=lambda g: g.gate_id != first.gate_id, timeout=20)
        assert second.tool_call.arguments["amount"] == 5000 and second.status == "pending"
        assert (second.tool_call.id, second.tool_call.provider_id) == ("wf0000002", "call_1")
        approver_decides(temporal, handle, second, "reject")
        result = temporal.run(handle.result(), timeout=60)

    assert result.outcome == "completed"
    # The budget was raised once, by the approved 100: the rejected 5,000 never ran.
    assert activity_names(temporal, handle).count(INCREASE) == 1
    assert [g.status for g in result.gates] == ["approved", "rejected"]
    record_history(temporal, handle, "finops_repeated_call_id")


@pytest.mark.once
@pytest.mark.parametrize("call_id", ["call_0", ""], ids=["shared-id", "empty-id"])
def test_two_gated_calls_sharing_an_id_in_one_reply_each_wait_for_their_own_decision(
    temporal, transactional_db, call_id
):
    fake, llm, agent_input = run_with(temporal, [reply(increase(call_id, 100), increase(call_id, 200))])
    with fake, temporal.worker(llm=llm, portal_activities=PORTAL_ACTIVITIES) as queue:
        handle = start_run(temporal, queue, agent_input, prefix="finops")
        gates = wait_for_gates(temporal, handle, 2)
        assert [g.tool_call.arguments["amount"] for g in gates] == [100, 200]
        # Before the fix both gates kept the shared id: the run waited on the second twice and
        # left the first pending for ever.
        assert len({g.tool_call.id for g in gates}) == 2 and "" not in {g.tool_call.id for g in gates}
        approver_decides(temporal, handle, gates[0], "approve")
        approver_decides(temporal, handle, gates[1], "reject")
        result = temporal.run(handle.result(), timeout=60)

    assert result.outcome == "completed"
    assert activity_names(temporal, handle).count(INCREASE) == 1
    assert [g.status for g in result.gates] == ["approved", "rejected"]


@pytest.mark.once
def test_call_ids_stay_unique_over_a_continue_as_new_chain(temporal, transactional_db):
    """Found by a review: a provider numbering calls from `call_0` in every reply gave, after a
    continue-as-new (which drops the earlier turns' messages, not their results), a gated call
    the id of an earlier ungated one, and the regulatory report matches results to gates by id:
    a finding no reviewer saw was reported approved by another's reviewer. The workflow now
    numbers the calls over the chain."""
    lookups = [
        {**increase(f"call_{n}", 0), "function": {"name": name, "arguments": json.dumps(arguments)}}
        for n, (name, arguments) in enumerate(
            [
                ("finops.cost_lookup", {"team": "search", "month": "2026-11"}),
                ("finops.budget_check", {"team": "search", "month": "2026-11", "budget": 100_000}),
                ("finops.forecast", {"team": "search", "month": "2026-11"}),
            ]
        )
    ]
    fake, llm, agent_input = run_with(temporal, [reply(*lookups), reply(increase("call_0", 5000))])
    spec = dataclasses.replace(agent_input.spec, turns_per_run=1)
    with fake, temporal.worker(llm=llm, portal_activities=PORTAL_ACTIVITIES) as queue:
        handle = start_run(temporal, queue, dataclasses.replace(agent_input, spec=spec), prefix="finops")
        gate = wait_for_gate(temporal, handle, until=lambda g: g.tool_call is not None)
        approver_decides(temporal, handle, gate, "reject")
        result = temporal.run(handle.result(), timeout=60)
        outcome = next(
            e.data["arguments"]
            for e in temporal.run(
                read_timeline(temporal.client.data_converter, [temporal.run(handle.fetch_history())])
            )
            if e.data.get("tool") == "finops.publish_summary"
        )

    assert len(result.gates) == 1 and temporal.run(handle.describe()).run_id != handle.first_execution_run_id
    ids = [r["call_id"] for r in outcome["results"]]
    # Before the fix: call_0 for the cost lookup and again for the increase.
    assert len(ids) == len(set(ids)) >= 5, ids
    assert gate.tool_call.id in ids and gate.tool_call.provider_id == "call_0"
    record_history(temporal, handle, "finops_chain_call_ids")


# --- the renaming itself ---------------------------------------------------------------------


def calls_of(*ids: str) -> ChatMessage:
    return ChatMessage(role="assistant", tool_calls=[ToolCall(i, "t", {"n": n}) for n, i in enumerate(ids)])


def test_a_reply_whose_ids_are_new_and_distinct_is_kept_as_it_came():
    assert unique_call_ids(calls_of("call_a", "call_b"), taken={"call_c"}) is None
    assert unique_call_ids(ChatMessage(role="assistant", content="{}"), taken={"x"}) is None


def test_repeated_shared_and_empty_ids_are_replaced_and_the_rest_kept_in_order():
    renamed = unique_call_ids(calls_of("call_1", "call_2", "call_2", "", "call_3"), taken={"call_1"})

    assert renamed is not None
    ids = [c.id for c in renamed.tool_calls]
    assert ids[1] == "call_2" and ids[4] == "call_3"
    assert len(set(ids)) == 5 and "call_1" not in ids and "" not in ids
    # Nine letters and digits, which every OpenAI-compatible API accepts.
    assert all(len(i) == 9 and i.isalnum() for i in (ids[0], ids[2], ids[3]))
    assert [c.arguments["n"] for c in renamed.tool_calls] == [0, 1, 2, 3, 4]


def test_the_workflow_numbers_every_call_on_from_the_chains_count_keeping_the_providers_id():
    message, count = numbered(calls_of("call_0", "call_0", ""), last=7)
    assert [(c.id, c.provider_id) for c in message.tool_calls] == [
        ("wf0000008", "call_0"),
        ("wf0000009", "call_0"),
        ("wf0000010", ""),
    ]
    assert [c.arguments["n"] for c in message.tool_calls] == [0, 1, 2] and count == 10


def test_numbering_skips_an_id_a_chain_begun_before_it_used():
    """A chain that continued across the deploy carries results whose ids the provider chose
    (or unique-call-ids gave, `rid...`, a form numbering never takes); a new call never takes one
    of them, whatever the provider chose."""
    message, count = numbered(calls_of("call_0", "call_1"), last=0, taken={"wf0000001", "wf0000003"})
    assert [c.id for c in message.tool_calls] == ["wf0000002", "wf0000004"] and count == 4


def test_an_oversize_odd_unicode_id_reaches_the_provider_again_as_the_workflows_own():
    """A 10,000-character id of bidi overrides, a lone surrogate and a NUL: the provider is sent
    `wf0000001` back; what it sent is kept, unchanged, for the audit trail."""
    odd = "\u202e\ud800\x00" + "\u05e9" * 9_997
    message, _ = numbered(calls_of(odd, odd), last=0)
    assert [c.id for c in message.tool_calls] == ["wf0000001", "wf0000002"]
    assert [c.provider_id for c in message.tool_calls] == [odd, odd]


def test_a_forged_negative_count_numbers_from_zero():
    """Only a carry forged through a raw Temporal client holds one; the ids keep their form."""
    message, count = numbered(calls_of("call_0"), last=-5)
    assert [c.id for c in message.tool_calls] == ["wf0000001"] and count == 1


def test_the_ids_taken_include_the_carried_results():
    carried = [
        ToolResult("call_0", "regulatory.record_finding", ok=True),
        ToolResult("rid000001", "x", ok=True),
    ]
    assert taken_ids([], [], carried) == {"call_0", "rid000001"}


@pytest.mark.once
def test_a_chain_continued_from_a_carry_an_older_worker_wrote_numbers_past_its_carried_ids(
    temporal, transactional_db
):
    """The second review's case: a chain begun before the numbering continues as new on a worker
    with it; its carry has no count (0), and carried results whose ids its provider chose. The
    new run's calls take none of them (before: `wf0000001` again, beside the carried one)."""
    fake, llm, agent_input = run_with(temporal, [reply(increase("call_0", 5000))])
    case = ChatMessage(role="user", content=json.dumps(CASE, sort_keys=True))
    carried = [ToolResult("wf0000001", "finops.cost_lookup", ok=True, result={"spend_to_date": 1})]
    carry = AgentState(messages=[case], results=carried, turn=1)
    with fake, temporal.worker(llm=llm, portal_activities=PORTAL_ACTIVITIES) as queue:
        handle = start_run(temporal, queue, dataclasses.replace(agent_input, carry=carry), prefix="finops")
        gate = wait_for_gate(temporal, handle, until=lambda g: g.tool_call is not None)
        temporal.run(handle.terminate("test done"))

    assert (gate.tool_call.id, gate.tool_call.provider_id) == ("wf0000002", "call_0")


def test_a_fresh_id_skips_one_already_taken():
    taken = {"call_1", "rid000001", "rid000002"}
    renamed = unique_call_ids(calls_of("call_1"), taken=taken)
    assert renamed is not None and renamed.tool_calls[0].id not in taken


# --- runs recorded before the fix --------------------------------------------------------------


def replay(path: Path, **options) -> Exception | None:
    recorded = json.loads(path.read_text())
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
    replayer = Replayer(workflows=[AgentWorkflow], data_converter=data_converter(), **options)
    return asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False)).replay_failure


def test_a_run_recorded_before_the_fix_replays_the_way_it_ran_only_through_the_patch(monkeypatch):
    """Recorded with patch-set-2026-11b: the model repeated `call_1`, the approved call ran twice
    and no second gate opened. It replays as it ran; taking the renaming on it would open the
    gate it never opened."""
    before = HISTORIES / "patch_set" / "finops_repeated_call_id_before_fix.json"
    events = json.loads(before.read_text())["history"]["events"]
    scheduled = [
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in events
        if "activityTaskScheduledEventAttributes" in e
    ]
    assert scheduled.count(INCREASE) == 2

    assert replay(before) is None

    asked = planning.patched
    monkeypatch.setattr(planning, "patched", lambda patch: patch == PATCH_UNIQUE_CALL_IDS or asked(patch))
    failure = replay(before, workflow_runner=UnsandboxedWorkflowRunner())
    assert isinstance(failure, NondeterminismError), failure
