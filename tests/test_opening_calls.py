"""Opening calls: the tool calls an agent's spec makes before the model's first turn, their
arguments read from the case, or from an earlier opening call's result in a second turn of the
framework's. The loan agent fetches the credit file and the affordability figures that way, then
checks the lending policy with their figures, so the model starts from the evidence and a run
reaches the same gate with two model calls fewer (one model call in all). The calls are data in the pinned spec, so what a run fetches first is decided
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
from agents.framework.tools import TOOLS
from agents.framework.types import (
    BY_FRAMEWORK,
    AgentState,
    ApprovalRule,
    ChatMessage,
    OpeningCall,
    ToolResult,
)
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
AFTER = ["loans.lending_policy_check"]


def with_opening(agent_input, calls, after=()):
    spec = dataclasses.replace(agent_input.spec, opening_calls=list(calls), opening_calls_after=list(after))
    return dataclasses.replace(agent_input, spec=spec)


def run_tool(call) -> ToolResult:
    """The framework's call run as its activity would run it (the loan tools are pure stand-ins)."""
    tool = TOOLS[call.name]
    result = asyncio.run(tool.activity(tool.args_type(**call.arguments)))
    return ToolResult(call.id, call.name, ok=True, result=result, requested_by=BY_FRAMEWORK)


def trail(temporal, handle):
    return temporal.run(read_timeline(temporal.client.data_converter, [temporal.run(handle.fetch_history())]))


def model_inputs(temporal, handle) -> list[list[dict]]:
    """The messages each model call was sent, in order, as the audit trail decodes them."""
    return [e.data["input"]["messages"] for e in trail(temporal, handle) if e.kind == "llm"]


def test_the_loan_agent_pins_its_opening_calls():
    spec = loan_input().spec
    assert [c.tool for c in spec.opening_calls] == OPENING
    assert [c.tool for c in spec.opening_calls_after] == AFTER
    bureau = spec.opening_calls[0]
    assert bureau.arguments == {"applicant_name": "applicant_name", "declared_score": "credit_score"}
    [policy] = spec.opening_calls_after
    assert policy.arguments == {"amount": "amount"}
    assert policy.results["bureau_score"] == "loans.credit_bureau.bureau_score"


@pytest.mark.parametrize("spec", [s for s in AGENTS.values() if s.opening_calls], ids=lambda s: s.name)
def test_every_demo_case_of_an_agent_gets_all_its_opening_calls(spec):
    """`pin()` cannot know a case's fields, and a misnamed one only leaves its call to the model
    (slower, and the evidence no longer fetched by code): every agent's own cases catch it here."""
    assert spec.demo_cases is not None, f"{spec.name} has opening calls but no demo cases to check them"
    pinned = spec.pin()
    for demo in spec.demo_cases():
        turn = opening_turn(pinned.opening_calls, demo.case)
        made = [c.name for c in turn.tool_calls] if turn is not None else []
        assert made == [c.tool for c in pinned.opening_calls], (demo.key, sorted(demo.case))
        if not pinned.opening_calls_after:
            continue
        # A misnamed result field leaves the later call to the model the same way.
        earlier = [run_tool(call) for call in turn.tool_calls]
        after = opening_turn(pinned.opening_calls_after, demo.case, earlier, start=len(made) + 1)
        made_after = [c.name for c in after.tool_calls] if after is not None else []
        assert made_after == [c.tool for c in pinned.opening_calls_after], (demo.key, earlier)


def test_a_loan_run_reaches_the_same_gate_with_two_model_calls_fewer(temporal, worker):
    without = start_loan(temporal, worker, with_opening(loan_input(), []))
    opened = start_loan(temporal, worker)
    plain_gate, gate = wait_for_gate(temporal, without), wait_for_gate(temporal, opened)

    assert gate.recommendation == plain_gate.recommendation
    assert gate.recommendation.outcome == "approve"
    assert [(r.name, r.ok, r.result) for r in gate.tool_results] == [
        (r.name, r.ok, r.result) for r in plain_gate.tool_results
    ]
    assert activity_names(temporal, without).count(LLM) == 3
    assert activity_names(temporal, opened).count(LLM) == 1
    # The bureau ran before the only model call, which was sent all three results: the bureau's
    # and the calculator's in the framework's first turn, the policy check's in its second.
    names = activity_names(temporal, opened)
    assert names.index("loans.credit_bureau") < names.index(LLM)
    [first] = model_inputs(temporal, opened)
    assert [m["role"] for m in first] == ["user", "assistant", "tool", "tool", "assistant", "tool"]
    assert [c["name"] for c in first[1]["tool_calls"]] == OPENING
    assert [c["name"] for c in first[4]["tool_calls"]] == AFTER
    assert "before your first turn" in first[1]["content"]  # the model is told who asked
    assert first[4]["content"] == first[1]["content"]
    assert [m["tool_call_id"] for m in (*first[2:4], first[5])] == ["opening01", "opening02", "opening03"]
    assert first[1]["tool_calls"][0]["arguments"] == {"applicant_name": "Amira Haddad", "declared_score": 742}
    # The policy check was given the figures the bureau and the calculator returned.
    bureau, afford = (json.loads(m["content"]) for m in first[2:4])
    assert first[4]["tool_calls"][0]["arguments"] == {
        "amount": loan_input().case["amount"],
        "bureau_score": bureau["bureau_score"],
        "defaults": bureau["defaults"],
        "debt_to_income": afford["debt_to_income"],
    }

    actions.decide(temporal, opened, gate.gate_id, "approve", "Affordable", "officer", ["credit_officer"])
    result = temporal.run(opened.result())
    assert (result.outcome, result.action["action"]) == ("approved", "offer issued")
    temporal.run(without.terminate("test done"))
    record_history(temporal, opened, "loan_opening_calls_after_approved")

    # The AI Act record says which evidence the framework fetched, not the AI.
    projected = projected_gate(opened, version=gate.version + 1)
    assert [r.get("requested_by") for r in projected.tool_results] == ["framework"] * 3
    auditor = logged_in(make_user("auditor", "auditor"))
    page = auditor.get(f"/audit/decisions/{gate.gate_id}/").content.decode()
    assert page.count("fetched by the framework before the AI's first turn") == 3
    # ... and so does the gate page, to the credit officer.
    officer = logged_in(make_user("officer-2", "credit_officer"))
    evidence = officer.get(f"/gates/{gate.gate_id}/").content.decode()
    assert evidence.count("Made by the framework before the AI&rsquo;s first turn.") == 3


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
    opening = with_opening(agent_input, [misnamed, affordability], agent_input.spec.opening_calls_after)
    handle = start_loan(temporal, worker, opening)
    gate = wait_for_gate(temporal, handle)

    first = model_inputs(temporal, handle)[0]
    # The policy check reads the bureau's score, which never came: it is the model's too.
    assert [m["role"] for m in first] == ["user", "assistant", "tool"]
    assert [c["name"] for c in first[1]["tool_calls"]] == ["loans.affordability"]
    # The model then called the bureau itself, in a turn of its own, and (the offline model
    # asks for both together) the calculator a second time: the same figures, shown twice.
    assert activity_names(temporal, handle).count("loans.credit_bureau") == 1
    last = model_inputs(temporal, handle)[-1]
    assert sum(c["name"] == "loans.affordability" for m in last for c in m.get("tool_calls") or []) == 2
    assert activity_names(temporal, handle).count(LLM) == 3
    assert gate.recommendation.outcome == "approve"
    temporal.run(handle.terminate("test done"))


def test_a_later_opening_call_whose_result_field_never_came_is_left_to_the_model(temporal, worker):
    """A result field the spec names but the tool does not return (a renamed field, say): the
    call is not made with a value missing; the model asks for the policy check itself."""
    agent_input = loan_input()
    [policy] = agent_input.spec.opening_calls_after
    renamed = dataclasses.replace(
        policy, results={**policy.results, "debt_to_income": "loans.affordability.dti"}
    )
    handle = start_loan(
        temporal, worker, with_opening(agent_input, agent_input.spec.opening_calls, [renamed])
    )
    gate = wait_for_gate(temporal, handle)

    first = model_inputs(temporal, handle)[0]
    assert [m["role"] for m in first] == ["user", "assistant", "tool", "tool"]
    assert activity_names(temporal, handle).count(LLM) == 2  # the model asked for it, then answered
    assert gate.recommendation.outcome == "approve"
    assert [r.name for r in gate.tool_results][-1] == "loans.lending_policy_check"
    assert gate.tool_results[-1].requested_by == "model"
    projected_gate(handle)
    officer = logged_in(make_user("officer-2", "credit_officer"))
    evidence = officer.get(f"/gates/{gate.gate_id}/").content.decode()
    assert evidence.count("Made by the framework before the AI&rsquo;s first turn.") == 2
    assert "No lending policy check" not in evidence
    # ... and the audit trail says the model asked for it, the framework for the other two.
    asked = {
        e.data["tool"]: e.data.get("requested_by", "model")
        for e in trail(temporal, handle)
        if e.kind == "tool"
    }
    assert asked == {
        "loans.credit_bureau": "framework",
        "loans.affordability": "framework",
        "loans.lending_policy_check": "model",
    }
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


def test_a_forged_later_opening_call_to_an_action_runs_nothing(temporal, worker):
    """A raw Temporal client's spec whose second turn names an action, its argument read from the
    bureau's result: refused as an unknown tool like any call outside the spec; the run refers."""
    agent_input = loan_input()
    forged = OpeningCall("loans.issue_offer", {}, results={"gate_id": "loans.credit_bureau.bureau_score"})
    handle = start_loan(temporal, worker, with_opening(agent_input, agent_input.spec.opening_calls, [forged]))
    gate = wait_for_gate(temporal, handle)

    assert "loans.issue_offer" not in activity_names(temporal, handle)
    first = model_inputs(temporal, handle)[0]
    assert json.loads(first[5]["content"]) == {"error": "Unknown tool 'loans.issue_offer'."}
    assert gate.recommendation.outcome == "refer"
    temporal.run(handle.terminate("test done"))


BUREAU_ARGUMENTS = {"applicant_name": "applicant_name", "declared_score": "credit_score"}
# The loan agent's policy check, which reads the bureau's and the calculator's results.
POLICY = next(call for call in AGENTS["loans"].opening_calls if call.results)


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


BUREAU = OpeningCall("loans.credit_bureau", BUREAU_ARGUMENTS)


@pytest.mark.parametrize(
    ("first", "after", "refusal"),
    [
        ([BUREAU], [POLICY], "reads 'loans.affordability.debt_to_income'"),  # not an opening call
        ([BUREAU, POLICY], [], "goes after the others"),  # a result read before any came
        (
            [BUREAU],
            [dataclasses.replace(POLICY, results={**POLICY.results, "defaults": "loans.credit_bureau"})],
            "reads 'loans.credit_bureau'",  # no field named
        ),
        (
            [BUREAU],
            [dataclasses.replace(POLICY, arguments={"amount": "amount", "bureau_score": "credit_score"})],
            "each once",  # one argument from the case and from a result
        ),
        ([BUREAU], [dataclasses.replace(POLICY, results={**POLICY.results, "x": "a.b"})], "must map exactly"),
    ],
    ids=["reads-a-later-call", "results-in-the-first-turn", "no-field", "mapped-twice", "argument-unknown"],
)
def test_pin_refuses_a_later_opening_call_that_could_never_run_as_meant(first, after, refusal):
    with pytest.raises(ValueError, match=refusal):
        AGENTS["loans"].pin(opening_calls=first, opening_calls_after=after)


@pytest.mark.parametrize(
    ("first", "after", "refusal"),
    [
        # Two bureau calls (the applicant and a co-applicant, say): which file would it read?
        ([BUREAU, dataclasses.replace(BUREAU, arguments=dict(BUREAU_ARGUMENTS))], [POLICY], "made once"),
        (
            [BUREAU],
            [
                dataclasses.replace(
                    POLICY, arguments=dict.fromkeys(POLICY.results, "amount") | POLICY.arguments, results={}
                )
            ],
            "reads no result",
        ),
        ([BUREAU] * 100, [], "At most 99"),
    ],
    ids=["read-twice-made", "after-without-results", "too-many"],
)
def test_pin_refuses_opening_calls_a_second_turn_could_not_read_plainly(first, after, refusal):
    with pytest.raises(ValueError, match=refusal):
        AGENTS["loans"].pin(opening_calls=first, opening_calls_after=after)


def test_a_later_call_reads_only_the_framework_s_own_successful_results():
    """Not a failed result, nor one the model asked for (which the model chose), nor a result that
    is not a mapping; its ids go on from the first turn's."""
    case = {"amount": 25_000}
    bureau = ToolResult("opening01", "loans.credit_bureau", True, {"bureau_score": 700, "defaults": 0})
    afford = ToolResult("opening02", "loans.affordability", True, {"debt_to_income": 0.3})
    framework = [dataclasses.replace(r, requested_by=BY_FRAMEWORK) for r in (bureau, afford)]

    made = opening_turn([POLICY], case, framework, start=3)
    assert made is not None and [c.id for c in made.tool_calls] == ["opening03"]
    assert made.tool_calls[0].arguments == {
        "amount": 25_000,
        "bureau_score": 700,
        "defaults": 0,  # zero is a value
        "debt_to_income": 0.3,
    }
    assert opening_turn([POLICY], case, [bureau, afford]) is None  # the model's
    failed = dataclasses.replace(framework[1], ok=False, result=None, error="down")
    assert opening_turn([POLICY], case, [framework[0], failed]) is None
    odd = dataclasses.replace(framework[1], result=["debt_to_income"])
    assert opening_turn([POLICY], case, [framework[0], odd]) is None
    assert opening_turn([POLICY], {}, framework) is None  # the case's own field missing


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


def test_a_run_an_older_worker_began_without_its_later_opening_calls_replays_without_them():
    """A worker from before the second turn drops `opening_calls_after` and records an older set
    (patch-set-2026-11d): a newer worker replays the run without the second turn. The run recorded
    with the second turn, given a spec without it, does not replay: the replay checks the turn."""
    converter = data_converter()
    replayer = Replayer(workflows=[AgentWorkflow], data_converter=converter)

    def replay(name: str, after: list[OpeningCall]):
        recorded = json.loads((HISTORIES / name).read_text())
        history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
        started = history.events[0].workflow_execution_started_event_attributes
        [agent_input] = asyncio.run(converter.decode(started.input.payloads))
        agent_input["spec"]["opening_calls_after"] = [dataclasses.asdict(c) for c in after]
        [payload] = asyncio.run(converter.encode([agent_input]))
        started.input.payloads[0].CopyFrom(payload)
        return asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False))

    older = replay("patch_set/loan_opening_calls_11d.json", loan_input().spec.opening_calls_after)
    assert older.replay_failure is None, older.replay_failure
    newer = replay("loan_opening_calls_after_approved.json", [])
    assert newer.replay_failure is not None


def test_the_trail_credits_the_framework_as_the_model_call_is_made_not_when_it_ends():
    """Read while the run's only model call is under way (or if it never ends: a provider down),
    the trail already says the three calls were the framework's, the local policy check with the
    arguments the framework gave it (its marker has none)."""
    recorded = json.loads((HISTORIES / "loan_opening_calls_after_approved.json").read_text())
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
    scheduled = next(
        i
        for i, e in enumerate(history.events)
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == LLM
    )
    del history.events[scheduled + 1 :]

    entries = asyncio.run(read_timeline(data_converter(), [history]))

    tools = {e.data["tool"]: e.data for e in entries if e.kind == "tool"}
    assert [d.get("requested_by") for d in tools.values()] == ["framework"] * 3
    assert tools["loans.lending_policy_check"]["arguments"]["amount"] == loan_input().case["amount"]
    assert set(tools["loans.lending_policy_check"]["arguments"]) == set(POLICY.arguments) | set(
        POLICY.results
    )


def test_a_run_continued_before_its_first_model_call_still_credits_the_framework(temporal, worker):
    """A first run that continues as new right after its opening calls (a tiny history budget;
    its conversation summarised into the carry): the model never planned in it, and its trail
    says the framework made all three, as the results it carried say."""
    agent_input = loan_input()
    agent_input.spec.max_history_events = 5
    handle = start_loan(temporal, worker, agent_input)
    gate = wait_for_gate(temporal, handle)
    first_run = temporal.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    history = temporal.run(first_run.fetch_history())
    assert LLM not in [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]

    entries = temporal.run(read_timeline(temporal.client.data_converter, [history]))

    asked = {e.data["tool"]: e.data.get("requested_by") for e in entries if e.kind == "tool"}
    assert asked == dict.fromkeys([*OPENING, *AFTER], "framework")
    assert gate.status == "pending"  # (the later runs, summarised at every turn, refer it)
    temporal.run(handle.terminate("test done"))


def test_a_failed_opening_call_is_the_framework_s_in_the_trail_and_the_check_is_left_to_the_model(
    temporal, worker
):
    """The calculator refuses a zero term: the framework's call failed (the trail says whose it
    was, and the next call of the same tool would not be given its arguments), so the policy
    check, which reads its result, is not made by the framework; the offline model refers the
    case for the missing evidence, and the gate says no policy check is in it."""
    agent_input = loan_input()
    agent_input.case["term_months"] = 0
    handle = start_loan(temporal, worker, agent_input)
    gate = wait_for_gate(temporal, handle, timeout=60)

    first = model_inputs(temporal, handle)[0]
    assert [m["role"] for m in first] == ["user", "assistant", "tool", "tool"]  # no second turn
    failed = [e for e in trail(temporal, handle) if e.kind == "failure"]
    assert [(e.data["tool"], e.data.get("requested_by")) for e in failed] == [
        ("loans.affordability", "framework")
    ]
    assert gate.recommendation.outcome == "refer"
    projected_gate(handle)
    officer = logged_in(make_user("officer-2", "credit_officer"))
    assert (
        "No lending policy check in the evidence" in officer.get(f"/gates/{gate.gate_id}/").content.decode()
    )
    temporal.run(handle.terminate("test done"))


@pytest.mark.parametrize(
    "reference",
    [
        "",
        ".",
        "loans.credit_bureau.",
        "x" * 100_000,
        "loans.credit_bureau\u202e.bureau_score",
        "loans.credit_bureau.bureau_score\u0000",
    ],
    ids=["empty", "dot", "no-field", "oversize", "bidi", "nul"],
)
def test_a_forged_reference_in_a_raw_client_s_spec_makes_no_call_and_raises_nothing(reference):
    """A spec started through Temporal directly skips pin(): a reference that names no result
    (empty, oversize, a look-alike tool, a NUL) finds no value, so the call is left to the model;
    nothing is read from the case or from a result the reference does not name exactly."""
    bureau = ToolResult(
        "opening01", "loans.credit_bureau", True, {"bureau_score": 700}, requested_by=BY_FRAMEWORK
    )
    forged = OpeningCall("loans.lending_policy_check", {}, results={"bureau_score": reference})
    assert opening_turn([forged], {"bureau_score": 1, reference: 1}, [bureau], start=3) is None
