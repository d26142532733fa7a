"""Opening calls: the tool calls an agent's spec makes before the model's first turn, their
arguments read from the case. The loan agent fetches the credit file and the affordability
figures that way, so the model starts from the evidence and a run reaches the same gate with one
model call fewer. The calls are data in the pinned spec, so what a run fetches first is decided
in code, never by the model. (Whoever can start a workflow on Temporal directly chooses its whole
input, spec included, for opening calls as for every other field: the portal's own starts pin
the registered spec.)"""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from agents.framework.opening_calls import opening_turn
from agents.framework.registry import AGENTS
from agents.framework.types import AgentState, ApprovalRule, ChatMessage, OpeningCall
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.audit.timeline import read_timeline
from reviewer_portal.temporal_client import data_converter
from tests import actions
from tests.conftest import (
    DECLINABLE,
    HISTORIES,
    activity_names,
    loan_input,
    logged_in,
    make_user,
    projected_gate,
    record_history,
    start_loan,
    wait_for_gate,
)

pytestmark = pytest.mark.once  # mostly the framework on Temporal: one CI pass (SQLite)

LLM = "llm_complete"
OPENING = ["loans.credit_bureau", "loans.affordability"]


def with_opening(agent_input, calls):
    return dataclasses.replace(agent_input, spec=dataclasses.replace(agent_input.spec, opening_calls=calls))


def trail(temporal, handle):
    return temporal.run(read_timeline(temporal.client.data_converter, [temporal.run(handle.fetch_history())]))


def model_inputs(temporal, handle) -> list[list[dict]]:
    """The messages each model call was sent, in order, as the audit trail decodes them."""
    return [e.data["input"]["messages"] for e in trail(temporal, handle) if e.kind == "llm"]


def test_the_loan_agent_pins_its_opening_calls():
    assert [c.tool for c in loan_input().spec.opening_calls] == OPENING
    bureau = loan_input().spec.opening_calls[0]
    assert bureau.arguments == {"applicant_name": "applicant_name", "declared_score": "credit_score"}


@pytest.mark.parametrize("spec", [s for s in AGENTS.values() if s.opening_calls], ids=lambda s: s.name)
def test_every_demo_case_of_an_agent_gets_all_its_opening_calls(spec):
    """`pin()` cannot know a case's fields, and a misnamed one only leaves its call to the model
    (slower, and the evidence no longer fetched by code): every agent's own cases catch it here."""
    assert spec.demo_cases is not None, f"{spec.name} has opening calls but no demo cases to check them"
    for demo in spec.demo_cases():
        turn = opening_turn(list(spec.opening_calls), demo.case)
        made = [c.name for c in turn.tool_calls] if turn is not None else []
        assert made == [c.tool for c in spec.opening_calls], (demo.key, sorted(demo.case))


def test_a_loan_run_reaches_the_same_gate_with_one_model_call_fewer(temporal, worker):
    without = start_loan(temporal, worker, with_opening(loan_input(), []))
    opened = start_loan(temporal, worker)
    plain_gate, gate = wait_for_gate(temporal, without), wait_for_gate(temporal, opened)

    assert gate.recommendation == plain_gate.recommendation
    assert gate.recommendation.outcome == "approve"
    assert [(r.name, r.ok, r.result) for r in gate.tool_results] == [
        (r.name, r.ok, r.result) for r in plain_gate.tool_results
    ]
    assert activity_names(temporal, without).count(LLM) == 3
    assert activity_names(temporal, opened).count(LLM) == 2
    # The bureau ran before the first model call, which was sent both results.
    names = activity_names(temporal, opened)
    assert names.index("loans.credit_bureau") < names.index(LLM)
    first = model_inputs(temporal, opened)[0]
    assert [m["role"] for m in first] == ["user", "assistant", "tool", "tool"]
    assert [c["name"] for c in first[1]["tool_calls"]] == OPENING
    assert "before your first turn" in first[1]["content"]  # the model is told who asked
    assert [m["tool_call_id"] for m in first[2:]] == ["opening01", "opening02"]
    assert first[1]["tool_calls"][0]["arguments"] == {"applicant_name": "Amira Haddad", "declared_score": 742}

    actions.decide(temporal, opened, gate.gate_id, "approve", "Affordable", "officer", ["credit_officer"])
    result = temporal.run(opened.result())
    assert (result.outcome, result.action["action"]) == ("approved", "offer issued")
    temporal.run(without.terminate("test done"))
    record_history(temporal, opened, "loan_opening_calls_approved")

    # The AI Act record says which evidence the framework fetched, not the AI.
    projected = projected_gate(opened, version=gate.version + 1)
    assert [r.get("requested_by") for r in projected.tool_results] == ["framework", "framework", None]
    auditor = logged_in(make_user("auditor", "auditor"))
    page = auditor.get(f"/audit/decisions/{gate.gate_id}/").content.decode()
    assert page.count("fetched by the framework before the AI's first turn") == 2


def test_a_declined_case_reads_the_same_with_opening_calls(temporal, worker):
    opened = start_loan(temporal, worker, loan_input(DECLINABLE))
    without = start_loan(temporal, worker, with_opening(loan_input(DECLINABLE), []))
    gate, plain = wait_for_gate(temporal, opened), wait_for_gate(temporal, without)
    assert gate.recommendation == plain.recommendation
    assert gate.recommendation.outcome == "decline"
    for handle in (opened, without):
        temporal.run(handle.terminate("test done"))


def test_a_case_without_a_field_an_opening_call_reads_leaves_that_call_to_the_model(temporal, worker):
    """The call is not made with an argument missing; the model asks for the tool itself."""
    agent_input = loan_input()
    bureau, affordability = agent_input.spec.opening_calls
    misnamed = dataclasses.replace(bureau, arguments={**bureau.arguments, "declared_score": "score"})
    handle = start_loan(temporal, worker, with_opening(agent_input, [misnamed, affordability]))
    gate = wait_for_gate(temporal, handle)

    first = model_inputs(temporal, handle)[0]
    assert [c["name"] for c in first[1]["tool_calls"]] == ["loans.affordability"]
    # The model then called the bureau itself, in a turn of its own, and (the offline model
    # asks for both together) the calculator a second time: the same figures, shown twice.
    assert activity_names(temporal, handle).count("loans.credit_bureau") == 1
    last = model_inputs(temporal, handle)[-1]
    assert sum(c["name"] == "loans.affordability" for m in last for c in m.get("tool_calls") or []) == 2
    assert activity_names(temporal, handle).count(LLM) == 3
    assert gate.recommendation.outcome == "approve"
    temporal.run(handle.terminate("test done"))


@pytest.mark.parametrize(
    "forged",
    [
        OpeningCall("loans.issue_offer", {"gate_id": "applicant_name"}),  # an action, not one of its tools
        OpeningCall("loans.credit_bureau\u202e", {"applicant_name": "applicant_name"}),  # bidi look-alike
        OpeningCall("x" * 10_000, {}),
    ],
    ids=["action", "look-alike", "oversize"],
)
def test_an_opening_call_to_a_tool_outside_the_spec_runs_nothing(temporal, worker, forged):
    """A raw Temporal client starting a run with a forged spec: the call is refused as an unknown
    tool, which the model hears as missing evidence; no such activity is scheduled, and the run
    reaches its gate referred to a person."""
    handle = start_loan(temporal, worker, with_opening(loan_input(), [forged]))
    gate = wait_for_gate(temporal, handle)
    assert forged.tool not in activity_names(temporal, handle)
    assert "loans.issue_offer" not in activity_names(temporal, handle)
    first = model_inputs(temporal, handle)[0]
    assert json.loads(first[2]["content"]) == {"error": f"Unknown tool '{forged.tool}'."}
    assert gate.recommendation.outcome == "refer"
    assert "Evidence is missing" in gate.recommendation.rationale
    temporal.run(handle.terminate("test done"))


BUREAU_ARGUMENTS = {"applicant_name": "applicant_name", "declared_score": "credit_score"}


@pytest.mark.parametrize(
    ("call", "approvals", "refusal"),
    [
        (OpeningCall("loans.issue_offer", {}), [], "does not have: loans.issue_offer"),
        (OpeningCall("loans.credit_bureau", {"applicant_name": "applicant_name"}), [], "must map exactly"),
        (OpeningCall("loans.credit_bureau", {**BUREAU_ARGUMENTS, "x": "amount"}), [], "must map exactly"),
        (
            OpeningCall("loans.credit_bureau", BUREAU_ARGUMENTS),
            [ApprovalRule(tool="loans.credit_bureau")],
            "needs approval first",
        ),
    ],
    ids=["not-its-tool", "argument-missing", "argument-unknown", "needs-approval"],
)
def test_pin_refuses_an_opening_call_that_could_never_run_as_meant(call, approvals, refusal):
    with pytest.raises(ValueError, match=refusal):
        AGENTS["loans"].pin(opening_calls=[call], approvals=approvals)


@pytest.mark.parametrize("value", [None, "absent"], ids=["null", "absent"])
def test_a_case_field_that_is_null_or_absent_leaves_its_call_to_the_model(value):
    case = {"applicant_name": "Amira Haddad"} | ({"credit_score": None} if value is None else {})
    assert opening_turn([OpeningCall("loans.credit_bureau", BUREAU_ARGUMENTS)], case) is None
    made = opening_turn([OpeningCall("loans.credit_bureau", BUREAU_ARGUMENTS)], case | {"credit_score": 0})
    assert made is not None and made.tool_calls[0].arguments["declared_score"] == 0  # zero is a value


def test_a_continued_run_does_not_make_its_opening_calls_again(temporal, worker):
    """A run continued as new carries its state: the chain's first run made the opening calls,
    and the conversation carried (or its summary) holds what came of them. Here a continued run's
    carried state has nothing yet: it is not given an opening turn, and the model asks itself."""
    agent_input = loan_input()
    first = ChatMessage(role="user", content=json.dumps(agent_input.case, sort_keys=True))
    handle = start_loan(
        temporal, worker, dataclasses.replace(agent_input, carry=AgentState(messages=[first]))
    )
    gate = wait_for_gate(temporal, handle)

    assert [m["role"] for m in model_inputs(temporal, handle)[0]] == ["user"]
    assert activity_names(temporal, handle).count(LLM) == 3
    assert gate.recommendation.outcome == "approve"
    temporal.run(handle.terminate("test done"))


def test_a_run_an_older_worker_began_without_its_opening_calls_replays_without_them():
    """During a rolling deploy a worker from before opening calls drops the field and plans as
    before; a newer worker that picks the run up must replay it the same way. Here: a loan run
    recorded before opening calls, its pinned spec given the loan agent's opening calls."""
    recorded = json.loads((HISTORIES / "patch_set" / "loan_local_tools_approved.json").read_text())
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
    converter = data_converter()
    started = history.events[0].workflow_execution_started_event_attributes
    [agent_input] = asyncio.run(converter.decode(started.input.payloads))
    assert agent_input["spec"].get("opening_calls", []) == []
    agent_input["spec"]["opening_calls"] = [dataclasses.asdict(c) for c in loan_input().spec.opening_calls]
    [payload] = asyncio.run(converter.encode([agent_input]))
    started.input.payloads[0].CopyFrom(payload)

    replayer = Replayer(workflows=[AgentWorkflow], data_converter=converter)
    result = asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False))

    assert result.replay_failure is None, result.replay_failure
