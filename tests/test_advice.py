"""The financial advice agent: parallel lookups, adviser sign-off, edits delivered as approved."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from agents.advice import tools
from agents.advice.data import CUSTOMERS, case_subject
from agents.advice.offline import LOOKUPS, advice_policy
from agents.framework.registry import AGENTS
from agents.framework.reviewer_actions import ActionResult, DecideInput
from agents.framework.types import AgentInput
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.models import Gate
from reviewer_portal.trust.keys import trusted_keys
from tests import actions
from tests.conftest import (
    activity_names,
    event_types,
    logged_in,
    make_user,
    projected_gate,
    record_history,
    wait_for_gate,
)

pytestmark = pytest.mark.once  # an agent on Temporal, not the portal's database: one CI pass

ADVISER = ["licensed_adviser"]
ACTIONS = ("advice.deliver_advice", "advice.record_withheld")
UPDATE_EVENTS = (
    "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
    "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED",
)


def advice_input(customer_id="CUST-1001", *, submitted_by="adviser-a", sla_seconds=3600) -> AgentInput:
    return AgentInput(
        spec=AGENTS["advice"].pin(sla_seconds=sla_seconds),
        subject=case_subject(customer_id),
        case={"customer_id": customer_id},
        submitted_by=submitted_by,
        submitted_by_id=actions.person_id(submitted_by),
        trusted_keys=trusted_keys(),
    )


def start_advice(temporal, queue, agent_input=None):
    return temporal.run(
        temporal.client.start_workflow(
            AgentWorkflow.run,
            agent_input or advice_input(),
            id=f"advice-test-{uuid.uuid4().hex[:12]}",
            task_queue=queue,
        )
    )


def decide(
    temporal, handle, gate_id, decision="approve", reason="", reviewer="adviser-b", roles=ADVISER, edits=None
):
    return actions.decide(temporal, handle, gate_id, decision, reason, reviewer, roles, edits=edits)


def history_events(temporal, handle):
    return list(temporal.run(handle.fetch_history()).events)


def offline_turns(customer_id: str) -> tuple[dict, dict]:
    """The offline model's two turns for a customer, with the real tools' answers in between."""
    messages = [{"role": "user", "content": json.dumps({"customer_id": customer_id})}]
    first = advice_policy(messages)
    calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": c["name"], "arguments": "{}"}}
        for i, c in enumerate(first["tool_calls"])
    ]
    messages.append({"role": "assistant", "content": None, "tool_calls": calls})
    lookups = {name: getattr(tools, name.removeprefix("advice.")) for name in LOOKUPS}
    for call in calls:
        result = asyncio.run(lookups[call["function"]["name"]](tools.CustomerArgs(customer_id)))
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)})
    return first, json.loads(advice_policy(messages)["content"])


# --- the offline model, without a server -------------------------------------------------------


def test_the_offline_model_asks_for_all_four_lookups_in_one_turn():
    first, _ = offline_turns("CUST-1001")

    assert [c["name"] for c in first["tool_calls"]] == list(LOOKUPS)
    assert all(c["arguments"] == {"customer_id": "CUST-1001"} for c in first["tool_calls"])


@pytest.mark.parametrize(
    ("customer_id", "outcome", "says", "products"),
    [
        (
            "CUST-1001",
            "advise",
            ["emergency fund of 17,400", "Reduce Northwind plc shares"],
            ["CASH-ISA", "MA-GROWTH"],
        ),
        ("CUST-1002", "advise", ["Switch Emerging Markets Active Fund (risk 7/7)"], ["MA-CAUTIOUS"]),
        ("CUST-1003", "no_action", ["No changes recommended"], []),
        ("CUST-1004", "refer", [], []),
        ("CUST-1005", "advise", ["about 798 a year less in charges"], ["GLOBAL-TRACKER"]),
    ],
    ids=[
        "emergency-fund-and-concentration",
        "above-risk-profile",
        "nothing-to-change",
        "overspending",
        "fees",
    ],
)
def test_each_demo_customer_gets_a_suitable_deterministic_draft(customer_id, outcome, says, products):
    _, answer = offline_turns(customer_id)

    assert answer["outcome"] == outcome
    assert all(phrase in answer["proposal"]["recommendations"] for phrase in says)
    assert [p.split(":")[0] for p in answer["proposal"]["products"]] == products
    assert offline_turns(customer_id)[1] == answer


def test_the_demo_cases_are_the_known_customers():
    cases = AGENTS["advice"].demo_cases()

    assert [c.key for c in cases] == list(CUSTOMERS)
    assert [c.case for c in cases] == [{"customer_id": cid} for cid in CUSTOMERS]
    assert cases[0].subject == "Advice review: Priya Shah (CUST-1001)"


# --- the workflow on the real dev server -------------------------------------------------------


def test_the_four_lookups_are_scheduled_together_before_any_completes(temporal, worker):
    handle = start_advice(temporal, worker)
    wait_for_gate(temporal, handle)
    events = history_events(temporal, handle)

    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name in LOOKUPS
    }
    closed = [
        e.event_id
        for e in events
        if (e.activity_task_completed_event_attributes.scheduled_event_id in scheduled)
        or (e.activity_task_failed_event_attributes.scheduled_event_id in scheduled)
    ]
    assert sorted(a.activity_type.name for a in scheduled.values()) == sorted(LOOKUPS)
    assert len({a.workflow_task_completed_event_id for a in scheduled.values()}) == 1  # one turn
    assert len(closed) == 4 and max(scheduled) < min(closed)
    assert activity_names(temporal, handle).count("llm_complete") == 2
    temporal.run(handle.terminate("test done"))


def test_nothing_is_delivered_before_sign_off_and_approval_delivers_the_draft(temporal, worker):
    handle = start_advice(temporal, worker)
    gate = wait_for_gate(temporal, handle)
    draft = gate.recommendation.proposal["recommendations"]
    assert (gate.kind, gate.role, gate.recommendation.outcome) == (
        "advice_signoff",
        "licensed_adviser",
        "advise",
    )
    assert gate.editable == ["recommendations"]
    assert not set(ACTIONS) & set(activity_names(temporal, handle))

    decide(temporal, handle, gate.gate_id, reason="Suitable as drafted")
    result = temporal.run(handle.result())

    assert result.outcome == "approved"
    assert result.action["action"] == "advice delivered"
    assert result.action["recommendations"] == draft
    assert result.action["products"] == gate.recommendation.proposal["products"]
    assert result.action["products"][0] == "CASH-ISA: Easy Access Cash ISA, risk 1/7, 0.00% a year"
    assert (result.action["approved_by"], result.action["edited"]) == ("adviser-b", False)
    assert result.gate.edits == {} and result.gate.edit_diff == ""
    names = activity_names(temporal, handle)
    assert names.count("advice.deliver_advice") == 1 and "advice.record_withheld" not in names
    record_history(temporal, handle, "advice_approved")


def test_approval_with_edits_delivers_the_edited_text_and_records_the_diff(temporal, worker):
    handle = start_advice(temporal, worker)
    gate = wait_for_gate(temporal, handle)
    first, second = gate.recommendation.proposal["recommendations"].splitlines()
    edited = "\n".join([first, second.replace("more than one tax year", "three tax years")])

    decided = decide(
        temporal, handle, gate.gate_id, reason="Spread the sale wider", edits={"recommendations": edited}
    )
    result = temporal.run(handle.result())

    assert result.action["recommendations"] == edited and result.action["edited"] is True
    assert result.gate.edits == {"recommendations": edited}
    diff = result.gate.edit_diff
    assert "--- recommendations (proposed)" in diff and "+++ recommendations (approved)" in diff
    assert f"-{second}\n" in diff and "+2. Reduce Northwind" in diff and "three tax years" in diff
    assert decided.change.changes["edit_diff"] == diff
    # History keeps both: the adviser's edits as the Update's input, the diff in its result.
    converter = temporal.client.data_converter  # decrypts with the payload keys, then reads JSON
    update = next(
        e
        for e in history_events(temporal, handle)
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    )
    completed = next(
        e
        for e in history_events(temporal, handle)
        if e.HasField("workflow_execution_update_completed_event_attributes")
    )
    request = update.workflow_execution_update_accepted_event_attributes.accepted_request
    [recorded] = temporal.run(converter.decode(request.input.args.payloads, [DecideInput]))
    [outcome] = temporal.run(
        converter.decode(
            completed.workflow_execution_update_completed_event_attributes.outcome.success.payloads,
            [ActionResult],
        )
    )
    assert recorded.edits == {"recommendations": edited}
    assert recorded.signature is not None and recorded.reviewer_id == actions.person_id("adviser-b")
    assert outcome.change.changes["edit_diff"] == diff
    record_history(temporal, handle, "advice_approved_with_edits")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"edits": {"products": "[]"}}, "These fields may not be edited: products."),
        ({"edits": {"rationale": "Looks fine"}}, "These fields may not be edited: rationale."),
        ({"edits": {"recommendations": "   "}}, "The edited 'recommendations' must be non-empty text."),
        ({"edits": {"recommendations": ["a list"]}}, "The edited 'recommendations' must be text."),
        ({"edits": {"recommendations": "x" * 10_001}}, "longer than 10000 characters"),
        (
            {"decision": "reject", "reason": "Unsuitable", "edits": {"recommendations": "Other advice"}},
            "Edits go with an approval",
        ),
    ],
    ids=["products", "rationale", "empty", "not-text", "too-long", "with-reject"],
)
def test_malformed_edits_are_refused_and_leave_no_trace_in_history(temporal, worker, change, message):
    handle = start_advice(temporal, worker)
    gate = wait_for_gate(temporal, handle)
    update = dataclasses.replace(
        actions.decide_input(gate.gate_id, reviewer="adviser-b", roles=ADVISER), **change
    )

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        actions.send(temporal, handle, "decide", update, update_id="refused-1")

    assert message in refused.value.cause.message
    assert not set(UPDATE_EVENTS) & set(event_types(temporal, handle))
    assert temporal.run(handle.query(AgentWorkflow.gate)).status == "pending"
    temporal.run(handle.terminate("test done"))


def test_reject_records_the_advice_as_withheld_and_delivers_nothing(temporal, worker):
    handle = start_advice(temporal, worker, advice_input("CUST-1002"))
    gate = wait_for_gate(temporal, handle)

    decide(temporal, handle, gate.gate_id, decision="reject", reason="Check the pension first")
    result = temporal.run(handle.result())

    assert result.outcome == "rejected"
    assert result.action == {
        "action": "advice withheld",
        "record_id": result.action["record_id"],
        "customer_id": "CUST-1002",
        "reason": "Check the pension first",
        "rejected_by": "adviser-b",
    }
    assert "advice.deliver_advice" not in activity_names(temporal, handle)
    record_history(temporal, handle, "advice_rejected")


def test_an_unknown_customer_is_referred_with_the_tools_error(temporal, worker):
    handle = start_advice(temporal, worker, advice_input("CUST-9999"))
    gate = wait_for_gate(temporal, handle)

    assert gate.recommendation.outcome == "refer"
    assert "Unknown customer 'CUST-9999'" in gate.recommendation.rationale
    assert gate.recommendation.proposal["recommendations"] == ""
    assert [(r.name, r.ok) for r in gate.tool_results] == [(name, False) for name in LOOKUPS]
    assert all("no such customer" in r.error for r in gate.tool_results)
    # Non-retryable: each lookup failed on its first attempt, none was retried.
    events = history_events(temporal, handle)
    lookups = {
        e.event_id for e in events if e.activity_task_scheduled_event_attributes.activity_type.name in LOOKUPS
    }
    started = [
        e.activity_task_started_event_attributes
        for e in events
        if e.activity_task_started_event_attributes.scheduled_event_id in lookups
    ]
    assert [s.attempt for s in started] == [1, 1, 1, 1]

    decide(temporal, handle, gate.gate_id, reason="Customer record to be fixed first")
    result = temporal.run(handle.result())

    assert result.action["action"] == "referral accepted, no advice delivered"
    assert "recommendations" not in result.action
    record_history(temporal, handle, "advice_unknown_customer_referred")


@pytest.mark.parametrize(
    ("reviewer", "roles", "message"),
    [
        ("adviser-a", ADVISER, "Four-eyes rule"),
        ("officer", ["credit_officer"], "Only a reviewer with the role 'licensed_adviser'"),
    ],
    ids=["submitter", "not-an-adviser"],
)
def test_only_another_licensed_adviser_may_sign_off(temporal, worker, reviewer, roles, message):
    handle = start_advice(temporal, worker, advice_input(submitted_by="adviser-a"))
    gate = wait_for_gate(temporal, handle)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        decide(temporal, handle, gate.gate_id, reviewer=reviewer, roles=roles)
    assert message in refused.value.cause.message

    decide(temporal, handle, gate.gate_id, reviewer="adviser-b")
    assert temporal.run(handle.result()).action["approved_by"] == "adviser-b"


def test_no_sign_off_within_the_sla_withholds_the_advice(temporal, worker):
    handle = start_advice(temporal, worker, advice_input(sla_seconds=2))

    result = temporal.run(handle.result())

    assert (result.outcome, result.gate.decided_by) == ("rejected", "system")
    assert result.action["reason"] == "No adviser sign-off within the SLA; no advice was delivered."
    assert "advice.deliver_advice" not in activity_names(temporal, handle)
    record_history(temporal, handle, "advice_expired")


# --- the portal ---------------------------------------------------------------------------------


def test_an_adviser_opens_a_case_and_another_signs_it_off_with_edits(temporal, portal):
    opener = logged_in(make_user("adviser-a", "licensed_adviser"))
    signer = logged_in(make_user("adviser-b", "licensed_adviser"))
    submission = str(uuid.uuid4())

    form = opener.get("/advice/new/")
    response = opener.post("/advice/new/", {"customer_id": " cust-1005", "submission_id": submission})
    again = opener.post("/advice/new/", {"customer_id": "CUST-1005", "submission_id": submission})

    assert form.status_code == 200 and 'list="customer_id-suggestions"' in form.content.decode()
    assert response.status_code == again.status_code == 302
    handle = temporal.client.get_workflow_handle_for(AgentWorkflow.run, f"advice-{submission}")
    gate = projected_gate(handle)
    assert (gate.subject, gate.submitted_by) == ("Advice review: Aisha Bello (CUST-1005)", "adviser-a")
    draft = gate.proposal["recommendations"]
    edited = draft.replace("1,100 a month", "1,000 a month")

    def sign_off(client):
        data = {
            "decision": "approve",
            "reason": "Keep a larger buffer",
            "submission_id": str(uuid.uuid4()),
            "revision": 0,
            "edit_recommendations": edited,
        }
        return client.post(f"/gates/{gate.gate_id}/decide/", data, headers={"HX-Request": "true"})

    page = signer.get(f"/gates/{gate.gate_id}/").content.decode()
    assert "GLOBAL-TRACKER: Global Equity Index Tracker, risk 6/7, 0.12% a year" in page
    assert 'name="edit_recommendations"' in page
    assert "Four-eyes rule" in sign_off(opener).content.decode()
    assert "Approval recorded by the agent." in sign_off(signer).content.decode()
    result = temporal.run(handle.result())

    assert result.action["recommendations"] == edited
    projected = Gate.objects.get(gate_id=gate.gate_id)
    assert projected.edits == {"recommendations": edited}
    assert (
        "-2. Invest 1,100 a month" in projected.edit_diff
        and "+2. Invest 1,000 a month" in projected.edit_diff
    )


def test_a_product_the_edited_advice_no_longer_names_leaves_the_approved_proposal(temporal, portal):
    opener = logged_in(make_user("adviser-a", "licensed_adviser"))
    signer = logged_in(make_user("adviser-b", "licensed_adviser"))
    submission = str(uuid.uuid4())
    opener.post("/advice/new/", {"customer_id": "CUST-1001", "submission_id": submission})
    handle = temporal.client.get_workflow_handle_for(AgentWorkflow.run, f"advice-{submission}")
    gate = projected_gate(handle)
    # The draft names a cash ISA and a growth fund; the adviser rewrites it around the ISA alone.
    kept, dropped = gate.proposal["products"]
    assert (kept.split(":")[0], dropped.split(":")[0]) == ("CASH-ISA", "MA-GROWTH")
    edited = f"1. Keep saving into {kept.split(':')[0]} until the buffer is six months."
    data = {
        "decision": "approve",
        "reason": "Cash only for now",
        "submission_id": str(uuid.uuid4()),
        "revision": 0,
        "edit_recommendations": edited,
    }

    decided = signer.post(f"/gates/{gate.gate_id}/decide/", data, headers={"HX-Request": "true"})
    result = temporal.run(handle.result())
    page = signer.get(f"/gates/{gate.gate_id}/").content.decode()

    assert "Approval recorded by the agent." in decided.content.decode()
    assert result.action["products"] == [kept]
    assert "As approved by adviser-b, with the edits below." in page
    proposal_card = page[page.index('id="proposal-h"') : page.index('id="case-h"')]
    products_listed = proposal_card[: proposal_card.find("side-by-side")]
    assert "MA-GROWTH" not in products_listed and "CASH-ISA" in products_listed  # it follows the edit
    assert result.action["products"][0] in page


def test_only_advisers_and_admins_may_open_advice_cases(temporal, portal):
    officer = logged_in(make_user("officer", "credit_officer"))
    admin = logged_in(make_user("root", superuser=True))
    adviser = logged_in(make_user("adviser", "licensed_adviser"))

    assert officer.get("/advice/new/").status_code == 403
    assert (
        officer.post(
            "/advice/new/", {"customer_id": "CUST-1001", "submission_id": str(uuid.uuid4())}
        ).status_code
        == 403
    )
    assert admin.get("/advice/new/").status_code == 200
    refused = adviser.post("/advice/new/", {"customer_id": "1001", "submission_id": str(uuid.uuid4())})
    assert refused.status_code == 400 and "A customer id looks like CUST-1001." in refused.content.decode()
    # A well-formed id of no customer is refused at the form, and nothing starts.
    unknown_id = str(uuid.uuid4())
    unknown = adviser.post("/advice/new/", {"customer_id": "CUST-9999", "submission_id": unknown_id})
    assert unknown.status_code == 400
    assert "No customer CUST-9999 is known to the bank&#x27;s systems." in unknown.content.decode()
    with pytest.raises(RPCError):
        temporal.run(temporal.client.get_workflow_handle(f"advice-{unknown_id}").describe())
