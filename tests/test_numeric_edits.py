"""An edit of a field the agent proposed as a number reaches the tool as a number of the same kind;
an edit that is no such number is refused before anything is recorded, by the decision form (a 400
on its field) and by the run's `decide` validator, in the same words
(agents.framework.input_rules.number_edit_refusal).

Before: every edit reached the run as text. A budget approver who changed the proposed increase
to 15000 saw "approved with edits" and the AI Act record showed the edit, but the tool failed to
decode "15000" into IncreaseArgs.amount: float, and the budget was never raised.
"""

from __future__ import annotations

import asyncio
import html
import json
import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowHistory, WorkflowUpdateFailedError
from temporalio.worker import (
    Interceptor,
    Replayer,
    StartActivityInput,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.workflow import ActivityHandle

from agents.finops import BUDGET_APPROVER
from agents.finops.offline import INCREASE
from agents.framework import gates, patches
from agents.framework.input_rules import MAX_NUMBER_DIGITS, edited_value, number_edit_refusal
from agents.framework.types import Recommendation, ToolCall
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.forms import DecisionForm
from reviewer_portal.inbox.models import ActionAttempt
from reviewer_portal.temporal_client import data_converter
from tests import actions
from tests.conftest import (
    HISTORIES,
    decide,
    event_types,
    logged_in,
    make_user,
    projected_gate,
    record_history,
    wait_for_gate,
)
from tests.test_finops import start
from tests.test_form_input_rules import outage  # noqa: F401  (Temporal out of reach)
from tests.test_gate_rules import NOW
from tests.test_gate_rules import gate as gate_snapshot
from tests.test_inbox import make_gate

ARGUMENTS = {"team": "search", "month": "2026-11", "amount": 10933, "justification": "Run rate."}
A_NUMBER = "The edited 'amount' must be a number in digits, such as 15000 or -250.75 (no thousands separators, no exponent)."
A_WHOLE_NUMBER = "The edited 'amount' must be a whole number in digits, such as 15000 or -250 (no decimal point, no thousands separators)."
TOO_LONG = f"The edited 'amount' has more than {MAX_NUMBER_DIGITS} digits."
# What a reviewer may type for a number, and what each becomes for a whole and a decimal proposal.
TAKEN = [
    ("15000", 15000, 15000.0),
    ("-500", -500, -500.0),
    (" 15000\n", 15000, 15000.0),
    ("007", 7, 7.0),
    ("9" * MAX_NUMBER_DIGITS, int("9" * MAX_NUMBER_DIGITS), float("9" * MAX_NUMBER_DIGITS)),
]
# ... and what is refused for both kinds of proposal.
REFUSED = [
    "abc",
    "15,000",  # 15 or 15000? "15,000" reads 15 in much of Europe
    "15.000,50",
    "15 000",
    "15_000",  # Python's int() would take it
    "1e3",
    "1E3",
    "0x10",
    "NaN",
    "nan",
    "inf",
    "-Infinity",
    "+15000",
    "--5",
    "-",
    ".",
    "",
    "   ",
    "\u0661\u0665\u0660\u0660\u0660",  # Arabic-Indic digits, which int() would take too
    "15000 EUR",
    "15000\n2",
]


def tool_gate(amount: object = 10933, **fields):
    """A pending budget_increase gate on the tool call, as the run opens it."""
    arguments = {**ARGUMENTS, "amount": amount}
    return gate_snapshot(
        gate_id="finops-x--g1",
        workflow_id="finops-x",
        agent="finops",
        kind="budget_increase",
        role=BUDGET_APPROVER,
        editable=["amount"],
        recommendation=Recommendation(INCREASE, "", proposal=dict(arguments)),
        tool_call=ToolCall("wf0000004", INCREASE, dict(arguments)),
        **fields,
    )


def workflow_refusal(text: str, amount: object = 10933) -> str | None:
    """What the run's validator answers an approval with this edit of the amount."""
    update = actions.decide_input(
        "finops-x--g1", "approve", "ok", "budget", [BUDGET_APPROVER], edits={"amount": text}
    )
    return gates.decision_refusal(tool_gate(amount), update, NOW)


def form_errors(text: str, amount: object = 10933) -> list[str]:
    post = {"decision": "approve", "submission_id": str(uuid.uuid4()), "revision": "0", "edit_amount": text}
    form = DecisionForm(post, editable=["amount"], proposal={**ARGUMENTS, "amount": amount})
    form.is_valid()
    return list(form.errors.get("edit_amount", []))


# --- 1. The rule, one pure function for the form and the run ----------------------------------


@pytest.mark.parametrize(("text", "whole", "decimal"), TAKEN, ids=[repr(t[0]) for t in TAKEN])
def test_a_number_edit_becomes_a_number_of_the_proposed_kind(text, whole, decimal):
    assert number_edit_refusal("amount", 10933, text) is None
    assert number_edit_refusal("amount", 10933.5, text) is None
    assert (value := edited_value(10933, text)) == whole and type(value) is int
    assert (value := edited_value(10933.5, text)) == decimal and type(value) is float


@pytest.mark.parametrize(
    ("text", "value"), [("15000.25", 15000.25), (".5", 0.5), ("5.", 5.0), ("-0.75", -0.75)]
)
def test_a_decimal_proposal_takes_decimals(text, value):
    assert number_edit_refusal("amount", 10933.5, text) is None
    assert edited_value(10933.5, text) == value


@pytest.mark.parametrize("text", ["15000.5", "15000.0", ".5"])
def test_a_whole_number_proposal_refuses_decimals(text):
    assert number_edit_refusal("amount", 10933, text) == A_WHOLE_NUMBER


@pytest.mark.parametrize("text", REFUSED, ids=[repr(t) for t in REFUSED])
def test_what_is_no_plain_number_is_refused_in_words(text):
    assert number_edit_refusal("amount", 10933.5, text) == A_NUMBER
    assert number_edit_refusal("amount", 10933, text) == A_WHOLE_NUMBER


@pytest.mark.parametrize("text", ["1" * (MAX_NUMBER_DIGITS + 1), "-" + "9" * 400, "0" * 16 + "7", "9" * 5000])
def test_more_digits_than_a_double_keeps_exactly_are_refused(text):
    """A 400-digit decimal would become infinity, a 5000-digit one is past int()'s own limit, and
    past 15 digits a tool reading JSON as doubles gets another number than the reviewer approved."""
    assert number_edit_refusal("amount", 10933.5, text) == TOO_LONG
    assert number_edit_refusal("amount", 10933, text) == TOO_LONG


def test_decimals_count_as_digits():
    assert number_edit_refusal("amount", 10933.5, "0." + "3" * MAX_NUMBER_DIGITS) == TOO_LONG
    assert number_edit_refusal("amount", 10933.5, "0." + "3" * (MAX_NUMBER_DIGITS - 1)) is None


@pytest.mark.parametrize("proposed", ["10933", True, False, None, [10933], {"eur": 10933}])
def test_a_field_proposed_as_anything_but_a_number_stays_text(proposed):
    """A bool is no number here (JSON's true is no 1): its edit reaches the tool as written."""
    assert number_edit_refusal("amount", proposed, "abc") is None
    assert edited_value(proposed, "15000") == "15000"


# --- 2. The run's validator and what the tool is given -----------------------------------------


@pytest.mark.parametrize("text", ["abc", "15,000", "1e3", "NaN", "inf", ""])
def test_the_validator_refuses_an_edit_that_is_no_number_in_the_rules_words(text):
    assert workflow_refusal(text) == A_WHOLE_NUMBER
    assert workflow_refusal(text, 10933.5) == A_NUMBER


def test_the_validator_takes_a_number_edit():
    assert workflow_refusal("15000") is None
    assert workflow_refusal("15000.5", 10933.5) is None
    assert workflow_refusal("15000.5") == A_WHOLE_NUMBER


def test_an_approved_number_edit_reaches_the_tool_as_a_number_and_the_rest_as_proposed():
    update = actions.decide_input(
        "finops-x--g1", "approve", "ok", "budget", [BUDGET_APPROVER], edits={"amount": "15000"}
    )
    approved = gates.apply_decision(tool_gate(), update, NOW)

    assert approved.edits == {"amount": "15000"}  # the record keeps what the reviewer typed
    assert gates.proposal_after_review(approved, numbers=True) == {**ARGUMENTS, "amount": 15000}
    # A run begun before patch numeric-edits is given the text, as it was when it was recorded.
    assert gates.proposal_after_review(approved, numbers=False) == {**ARGUMENTS, "amount": "15000"}


# --- 3. The decision form: the run's words, on the field, before anything is recorded ----------


@pytest.mark.parametrize("text", ["abc", "15,000", "1e3", "NaN", "15000.5", "", "1" * 20])
@pytest.mark.parametrize("amount", [10933, 10933.5], ids=["whole", "decimal"])
def test_the_form_refuses_on_the_field_exactly_what_the_run_refuses(text, amount):
    expected = workflow_refusal(text, amount)

    assert form_errors(text, amount) == ([expected] if expected else [])


def test_the_form_takes_a_number_edit_and_sends_it_as_typed():
    form = DecisionForm(
        {"decision": "approve", "submission_id": str(uuid.uuid4()), "revision": "0", "edit_amount": "15000"},
        editable=["amount"],
        proposal=ARGUMENTS,
    )

    assert form.is_valid(), form.errors
    assert form.edits() == {"amount": "15000"}  # the signed payload keeps its shape: text


def test_a_number_edit_that_is_no_number_is_a_400_on_its_field_with_nothing_recorded(outage):  # noqa: F811
    approver = make_user("budget", BUDGET_APPROVER)
    gate = make_gate(
        agent="finops",
        kind="budget_increase",
        role=BUDGET_APPROVER,
        recommendation=INCREASE,
        editable=["amount"],
        proposal=ARGUMENTS,
        bulk_allowed=False,
    )

    response = decide(logged_in(approver), gate, "approve", reason="More", edit_amount="15,000")

    assert response.status_code == 400
    assert A_WHOLE_NUMBER in html.unescape(response.content.decode())
    assert not ActionAttempt.objects.exists()


# --- 4. On the dev server: a raw client refused, the portal's approval applied ----------------


def amounts_given(history: WorkflowHistory) -> list[object]:
    """The `amount` of each request_budget_increase activity the run scheduled, as history has it."""
    converter = data_converter()
    amounts = []
    for event in history.events:
        attributes = event.activity_task_scheduled_event_attributes
        if (
            event.HasField("activity_task_scheduled_event_attributes")
            and attributes.activity_type.name == INCREASE
        ):
            [arguments] = asyncio.run(converter.decode(attributes.input.payloads, [dict]))
            amounts.append(arguments["amount"])
    return amounts


def test_a_raw_client_is_refused_an_edit_that_is_no_number_and_history_keeps_nothing_of_it(temporal, worker):
    handle = start(temporal, worker, "search", 100_000)
    gate = wait_for_gate(temporal, handle)

    refusals = {}
    for text in ["abc", "15,000", "1e3", "NaN", "15000.5", "9" * 400]:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            actions.decide(
                temporal,
                handle,
                gate.gate_id,
                reason="More",
                reviewer="budget",
                roles=[BUDGET_APPROVER],
                edits={"amount": text},
            )
        refusals[text] = refused.value.cause.message

    assert refusals == {
        "abc": A_WHOLE_NUMBER,
        "15,000": A_WHOLE_NUMBER,
        "1e3": A_WHOLE_NUMBER,
        "NaN": A_WHOLE_NUMBER,
        "15000.5": A_WHOLE_NUMBER,
        "9" * 400: TOO_LONG,
    }
    # Refused by the validator: no Update entered history.
    assert not [event for event in event_types(temporal, handle) if "UPDATE" in event]
    assert wait_for_gate(temporal, handle).status == "pending"
    temporal.run(handle.terminate("test done"))


def test_an_approved_number_edit_raises_the_budget_by_the_approvers_amount(temporal, portal):
    """Through the portal's form, as a budget approver decides: the amount the tool is given, and
    the summary says the budget was raised, by how much."""
    handle = start(temporal, portal, "search", 100_000)
    gate = projected_gate(handle)
    approver = logged_in(make_user("budget", BUDGET_APPROVER))
    assert gate.proposal["amount"] == 10933

    refused = decide(approver, gate, "approve", reason="Seasonal peak", edit_amount="15000.5")
    assert refused.status_code == 400 and A_WHOLE_NUMBER in html.unescape(refused.content.decode())
    accepted = decide(approver, gate, "approve", reason="Seasonal peak, a little more.", edit_amount="15000")
    assert accepted.status_code == 200, accepted.content.decode()
    result = temporal.run(handle.result(), timeout=60)

    [decided] = result.gates
    assert (decided.status, decided.edits) == ("approved", {"amount": "15000"})
    assert amounts_given(temporal.run(handle.fetch_history())) == [15000]  # once: no failed tries
    assert result.action["budget_increase"]["status"] == "approved"
    assert result.action["budget_raised_by"] == 15000
    record_history(temporal, handle, "finops_numeric_edit_approved")


# --- 5. Replay: the run recorded since, and the one recorded before the fix -------------------
#
# Temporal's replay compares the commands, not an activity's input: a run recorded with the text
# would replay without a failure on code that gave it the number. So each replay here also
# watches what the code asks the tool to be given and checks it against what history recorded.


class ScheduledAmounts(Interceptor):
    """The `amount` the workflow code asks request_budget_increase to be given, replayed or not."""

    def __init__(self) -> None:
        self.amounts: list[object] = []

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        amounts = self.amounts

        class Outbound(WorkflowOutboundInterceptor):
            def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
                if input.activity == INCREASE:
                    amounts.append(input.args[0]["amount"])
                return super().start_activity(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


def replay(name: str) -> tuple[list[object], list[object]]:
    """Replay a recorded run on today's code: the amounts history recorded, and those replayed."""
    recorded = json.loads((HISTORIES / name).read_text())
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
    watch = ScheduledAmounts()
    replayer = Replayer(
        workflows=[AgentWorkflow],
        data_converter=data_converter(),
        interceptors=[watch],
        workflow_runner=UnsandboxedWorkflowRunner(),  # the watch's list is the test's own
    )
    result = asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False))
    assert result.replay_failure is None, result.replay_failure
    return amounts_given(history), watch.amounts


def test_the_run_recorded_since_replays_giving_the_tool_the_number():
    assert replay("finops_numeric_edit_approved.json") == ([15000], [15000])


def test_a_run_recorded_before_the_fix_replays_giving_the_tool_the_text_as_it_ran():
    """Recorded with patch-set-2026-11g: the tool was given "15000", tried three times and failed.
    It replays the same way: patch numeric-edits is not in its set."""
    assert replay("patch_set/finops_numeric_edit_before_fix.json") == (["15000"], ["15000"])


def test_the_patch_is_what_keeps_the_run_recorded_before_on_its_path(monkeypatch):
    """Code that took the patch for every run would give the run recorded before the number: the
    replay would not fail, but it would no longer be the run that history records."""
    taking = tuple((name, members | {patches.PATCH_NUMERIC_EDITS}) for name, members in patches.PATCH_SETS)
    monkeypatch.setattr(patches, "PATCH_SETS", taking)

    assert replay("patch_set/finops_numeric_edit_before_fix.json") == (["15000"], [15000])


FINOPS = sorted(str(p.relative_to(HISTORIES)) for p in HISTORIES.rglob("finops_*.json"))


@pytest.mark.parametrize("name", FINOPS)
def test_every_finops_history_replays_giving_the_tool_what_it_recorded(name):
    recorded, replayed = replay(name)

    assert replayed == recorded
