"""A decision applies only to the gate its reviewer's page showed (agents.framework.gate_content).

Found by an attacker's review (the planners' HIGH, "a reset reopens the gate"): a client that may
reset a run resets it to before the model's last step. The reset run asks the model again and opens
the gate again at the same revision and version with another answer; the projection, already at
that version, keeps showing the first one. The reviewer's approval named revision 0, which both
answers have, and the run applied it to a recommendation the page never showed.

Now the run names its digest of the gate with each publication; the projection takes a gate a run
set back holds at a version it has (reviewer_portal.inbox.set_back), so the page's own check stops
a decision made on the first answer; and a decision names the digest of the gate it was made on,
under the portal's signature, which the run refuses when it holds another.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import uuid
from contextlib import contextmanager

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import ActivityEnvironment

from agents.framework.contract import LLM_ACTIVITY
from agents.framework.gate_changes import GatePublication
from agents.framework.gate_changes import patch as gate_patch
from agents.framework.gate_content import content_digest
from agents.framework.gates import CONTENT_CHANGED, decision_refusal
from agents.framework.input_rules import action_input_refusal
from agents.framework.llm import LlmSettings
from agents.framework.signing import action_claims
from agents.framework.types import Annotation, Recommendation, ToolResult
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox import set_back as set_back_module
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.projection import gate_apply_patch, gate_apply_snapshot
from reviewer_portal.inbox.publishing import publish_gate_change
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from reviewer_portal.temporal_client import data_converter
from reviewer_portal.trust.signer import sign_action
from tests import actions
from tests.conftest import (
    decide,
    loan_input,
    logged_in,
    make_user,
    projected_gate,
    record_history,
    start_loan,
)
from tests.fake_openai import FakeOpenAI, Fault
from tests.outage import wait_until
from tests.test_bulk_shown_version import CHANGED, drawn_form
from tests.test_gate_rules import NOW
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
    message = {"role": "assistant", "content": content}
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-gpt",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }
    return Fault(200, json.dumps(body))


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


def test_a_run_set_back_shows_its_new_answer_and_a_decision_on_the_first_is_not_applied(
    temporal, settings, portal_settings, transactional_db, caplog
):
    with a_run_set_back(temporal, settings) as (handle, set_back):
        first = projected_gate(handle)
        first_digest = first.content_digest
        officer = logged_in(make_user("officer", "credit_officer"))
        shown = shown_on(officer, first)  # the page shows the first answer

        set_back()
        # The reset run's gate opens again at version 1 with the second answer: the projection
        # (at version 2, the claim) takes it, its digest beside it, and says so in the log.
        wait_until(lambda: Gate.objects.get(pk=first.pk).rationale == SECOND_ANSWER)
        row = Gate.objects.get(pk=first.pk)
        held = run_gate(temporal, handle)
        officer.post(f"/gates/{first.gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers=HTMX)
        wait_until(lambda: Gate.objects.get(pk=first.pk).assignee == "officer")

        # The page's decision: refused by the portal, nothing recorded; the case column comes in.
        refused = decide(officer, first, "approve", reason="Within policy.", shown=shown, claim_first=False)
        recorded = ActionAttempt.objects.filter(action="decide").count()
        # A decision naming the first answer's digest reaches the run only from a page the portal
        # checked before the row changed: the run refuses it.
        with pytest.raises(WorkflowUpdateFailedError) as by_the_run:
            actions.decide(temporal, handle, first.gate_id, reason="Within policy.", content=first_digest)
        # Read, the second answer is decided on.
        decide(officer, Gate.objects.get(pk=first.pk), "approve", reason="Known to the branch.")
        decided = run_gate(temporal, handle)

    assert (row.version, row.status, row.assignee) == (1, "pending", "")  # the reset dropped the claim
    assert row.content_digest == content_digest(held) != first_digest
    assert "set back" in caplog.text
    text = html.unescape(refused.content.decode())
    assert refused.status_code == 409 and "The gate changed since the page showed it" in text
    assert 'id="gate-case"' in text and SECOND_ANSWER in text
    assert recorded == 0
    assert by_the_run.value.cause.message == CONTENT_CHANGED
    assert (held.status, held.decided_by) == ("pending", "")  # nothing applied by either
    assert (decided.status, decided.reason, decided.recommendation.rationale) == (
        "approved",
        "Known to the branch.",
        SECOND_ANSWER,
    )


def test_a_decided_gate_is_not_opened_again_by_a_run_set_back(
    temporal, settings, portal_settings, transactional_db, caplog
):
    with a_run_set_back(temporal, settings) as (handle, set_back):
        gate = projected_gate(handle)
        decide(logged_in(make_user("officer", "credit_officer")), gate, "approve", reason="Within policy.")
        wait_until(lambda: Gate.objects.get(pk=gate.pk).status == Gate.Status.APPROVED)
        decided = Gate.objects.get(pk=gate.pk)

        set_back()
        wait_until(lambda: "not opened again" in caplog.text)

    row = Gate.objects.get(pk=gate.pk)
    assert (row.status, row.decided_by, row.rationale, row.version) == (
        "approved",
        "officer",
        decided.rationale,
        decided.version,
    )


def test_a_publish_from_the_run_a_reset_ended_is_not_taken(
    temporal, settings, portal_settings, transactional_db
):
    with a_run_set_back(temporal, settings) as (handle, set_back):
        first = projected_gate(handle)
        snapshot = run_gate(temporal, handle)
        old_run = set_back()
        wait_until(lambda: Gate.objects.get(pk=first.pk).rationale == SECOND_ANSWER)
        # A publish the old run had under way when the reset ended it, landing now.
        env = ActivityEnvironment()
        env.info = dataclasses.replace(
            env.info, workflow_id=handle.id, workflow_run_id=old_run, namespace=temporal.client.namespace
        )
        late = GatePublication(snapshot=snapshot, chain=first.chain_id, content=first.content_digest)
        taken = env.run(publish_gate_change, late)
        held = run_gate(temporal, handle)

    assert taken is True  # the activity ends; the run it belongs to has ended anyway
    row = Gate.objects.get(pk=first.pk)
    assert (row.rationale, row.content_digest) == (SECOND_ANSWER, content_digest(held))


def test_a_decision_naming_the_rows_digest_is_applied_and_history_keeps_the_digest(temporal, portal):
    # A continued run's copy of the gate comes through the data converter (the regulatory
    # review's continue-as-new test decides on one); the projection's through the publish.
    handle = start_loan(temporal, portal, loan_input())
    row = projected_gate(handle)
    carried = run_gate(temporal, handle)
    converter = data_converter().payload_converter
    through_history = converter.from_payloads(converter.to_payloads([carried]), [type(carried)])[0]
    assert content_digest(through_history) == content_digest(carried) == row.content_digest

    result = actions.decide(
        temporal, handle, row.gate_id, reason="Within policy.", content=row.content_digest
    )
    temporal.run(handle.result())

    assert result.change is not None and run_gate(temporal, handle).status == "approved"
    history = temporal.run(handle.fetch_history())
    [accepted] = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
        and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == "decide"
    ]
    [named] = temporal.run(temporal.client.data_converter.decode(accepted.args.payloads))
    assert named["content"] == row.content_digest
    record_history(temporal, handle, "loan_approved_naming_its_content")


def test_the_projection_keeps_the_runs_digest_and_takes_no_patch_onto_other_content(transactional_db):
    # Never its own digest of its stored copy (jsonb writes -0.0 as 0.0, 1e16 as an integer): the
    # run's, as published. A patch follows on only from the content it was made on; at a version
    # the row has, it is in sync only with the same content (else the run sends the gate whole).
    gate = dataclasses.replace(opened_gate(), case={"income_trend": -0.0, "ceiling": 1e16})
    first, other = "a" * 64, "b" * 64
    gate_apply_snapshot(snapshot=gate, content=first)
    claimed = dataclasses.replace(gate, assignee="officer", assignee_id="7", version=2)

    assert gate_apply_patch(patch=gate_patch(gate, claimed), content=first, base_content=other) is False
    assert Gate.objects.get(gate_id=gate.gate_id).version == 1
    assert gate_apply_patch(patch=gate_patch(gate, claimed), content=first, base_content=first) is True
    row = Gate.objects.get(gate_id=gate.gate_id)
    assert (row.version, row.assignee, row.content_digest) == (2, "officer", first)
    assert gate_apply_patch(patch=gate_patch(gate, claimed), content=other, base_content=first) is False
    assert gate_apply_patch(patch=gate_patch(gate, claimed), content=first, base_content=first) is True
    # The portal's own write after an accepted Update names no digest: the row keeps the run's.
    noted = dataclasses.replace(claimed, version=3, annotations=[])
    assert gate_apply_patch(patch=gate_patch(claimed, noted)) is True
    assert Gate.objects.get(gate_id=gate.gate_id).content_digest == first


def test_a_field_a_later_release_adds_with_its_default_leaves_every_digest_as_it_was():
    @dataclasses.dataclass
    class LaterRecommendation(Recommendation):
        confidence: float | None = None

    gate = opened_gate()
    later = dataclasses.replace(
        gate, recommendation=LaterRecommendation(**dataclasses.asdict(gate.recommendation))
    )
    assert content_digest(later) == content_digest(gate)
    used = dataclasses.replace(
        later, recommendation=dataclasses.replace(later.recommendation, confidence=0.9)
    )
    assert content_digest(used) != content_digest(gate)


def test_the_digest_covers_what_a_reviewer_decides_on_and_not_who_holds_the_gate():
    gate = opened_gate()
    digest = content_digest(gate)
    for change in [
        {"recommendation": Recommendation("decline", gate.recommendation.rationale, [])},
        {"case": {**gate.case, "amount": 18_001}},
        {"tool_results": []},
        {"subject": gate.subject + "!"},
    ]:
        assert content_digest(dataclasses.replace(gate, **change)) != digest, change
    for change in [
        {"assignee": "officer", "assignee_id": "7"},
        {"version": 9},
        {"deadline": NOW},
        {"annotations": [Annotation("colleague", "Checked.", NOW)]},
    ]:
        assert content_digest(dataclasses.replace(gate, **change)) == digest, change


@pytest.mark.parametrize(
    ("content", "refused"),
    [
        ("", False),  # a portal from before it: the revision alone is checked
        ("0" * 64, False),
        ("0" * 63, True),
        ("A" * 64, True),
        ("\uff10" * 64, True),  # fullwidth digits
        ("0" * 64 + "\n", True),
        ("0" * 10_000, True),
        (7, True),
    ],
)
def test_the_digest_a_decision_names_is_a_sha256_in_hex_or_nothing(content, refused):
    update = dataclasses.replace(actions.decide_input("g1"), content=content)
    refusal = action_input_refusal(update)
    assert (refusal is not None) == refused, refusal
    if refused:
        assert "digest" in refusal


def test_the_run_refuses_a_decision_naming_another_digest_and_signs_it_only_when_named():
    gate = opened_gate()
    update = dataclasses.replace(actions.decide_input(gate.gate_id, reason="ok"), revision=0)
    now = NOW
    assert decision_refusal(gate, dataclasses.replace(update, content=content_digest(gate)), now) is None
    assert decision_refusal(gate, dataclasses.replace(update, content="0" * 64), now) == CONTENT_CHANGED
    assert decision_refusal(gate, update, now) is None
    # Signed when named; a decision without one signs what it signed before.
    claims = action_claims(
        "decide", dataclasses.replace(update, content="0" * 64), workflow_id="w", update_id="u"
    )
    assert claims["content"] == "0" * 64
    assert "content" not in action_claims("decide", update, workflow_id="w", update_id="u")


def test_an_attacker_cannot_swap_the_named_digest_of_a_signed_decision(temporal, portal):
    handle = start_loan(temporal, portal, loan_input())
    row = projected_gate(handle)
    actions.assign(temporal, handle, row.gate_id, "officer", actions.OFFICER, "officer", actions.OFFICER)
    named = actions.decide_input(row.gate_id, reason="Within policy.", content="0" * 64)
    signed = sign_action("decide", named, workflow_id=handle.id, update_id="u-1")
    swapped = dataclasses.replace(signed, content=row.content_digest)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        temporal.run(handle.execute_update(AgentWorkflow.decide, swapped, id="u-1"))

    assert "signature" in str(refused.value.cause.message).lower()
    assert run_gate(temporal, handle).status == "pending"


def test_a_bulk_decision_from_an_inbox_listed_before_a_set_back_is_refused(temporal, portal):
    # Found by the review: the inbox's rows sent their version alone, which a gate set back keeps.
    handle = start_loan(temporal, portal, loan_input())
    gate = projected_gate(handle)
    client = logged_in(make_user("officer", "credit_officer"))
    shown = drawn_form(client.get("/").content.decode())
    assert shown[f"shown_{gate.gate_id}"] == f"{gate.version}.{gate.content_digest[:12]}"
    answered_again = dataclasses.replace(
        run_gate(temporal, handle), recommendation=Recommendation("approve", SECOND_ANSWER, [])
    )
    assert gate_apply_snapshot(snapshot=answered_again, content="f" * 64, set_back_from=gate.content_digest)

    response = client.post(
        "/bulk/",
        {
            "gate_ids": [gate.gate_id],
            "decision": "approve",
            "reason_text": "Low risk",
            "submission_id": str(uuid.uuid4()),
            **shown,
        },
        headers=HTMX,
    )

    assert CHANGED in response.content.decode()
    assert not ActionAttempt.objects.filter(action="decide").exists()
    assert Gate.objects.get(pk=gate.pk).version == gate.version  # the same version, other content


# --- found by the second review ----------------------------------------------------------------


def test_a_decided_row_keeps_its_decision_whatever_version_a_run_set_back_reaches(transactional_db):
    # The reset run's SLA warnings and escalation took its version past the row's: the row went
    # back to pending in the senior queue, and a second reviewer undid an executed rejection.
    opened = opened_gate()
    rejected = dataclasses.replace(
        opened, status="rejected", decided_by="officer", decision_id="decide:g:1", reason="No.", version=3
    )
    gate_apply_snapshot(snapshot=rejected, content=content_digest(rejected))
    answered_again = dataclasses.replace(
        opened,
        recommendation=Recommendation("approve", SECOND_ANSWER, []),
        role="senior_credit_officer",
        version=4,
    )

    assert gate_apply_snapshot(snapshot=answered_again, content=content_digest(answered_again)) is False
    row = Gate.objects.get(gate_id=opened.gate_id)
    assert (row.status, row.decided_by, row.version) == ("rejected", "officer", 3)
    # The same decision, published again at a later version (a continued run), is taken.
    again = dataclasses.replace(rejected, version=5)
    assert gate_apply_snapshot(snapshot=again, content=content_digest(again)) is True


def test_a_row_no_run_digested_takes_no_patch_naming_a_base_and_is_set_back(transactional_db, monkeypatch):
    # A row from before digests (or rebuilt by reconcile) took the reset run's claim onto the
    # first answer, with the second answer's digest, and was never set back.
    monkeypatch.setattr(set_back_module, "calling_run_is_open", lambda: True)
    opened = opened_gate()
    gate_apply_snapshot(snapshot=opened, run="run-1", content="")
    second = dataclasses.replace(opened, recommendation=Recommendation("approve", SECOND_ANSWER, []))
    claimed = dataclasses.replace(second, assignee="officer", assignee_id="7", version=2)
    digest = content_digest(second)

    assert gate_apply_patch(patch=gate_patch(second, claimed), content=digest, base_content=digest) is False
    assert set_back_module.set_back(opened, chain="", run="run-2", content=content_digest(opened)) is False
    assert set_back_module.set_back(second, chain="", run="run-2", content=digest) is True
    row = Gate.objects.get(gate_id=opened.gate_id)
    assert (row.rationale, row.content_digest, row.run_id) == (SECOND_ANSWER, digest, "run-2")


def test_a_late_try_of_the_publishing_runs_own_earlier_publish_is_not_taken(transactional_db, monkeypatch):
    monkeypatch.setattr(set_back_module, "calling_run_is_open", lambda: True)
    opened = opened_gate()
    revised = dataclasses.replace(opened, recommendation=Recommendation("decline", "Revised.", []), version=4)
    gate_apply_snapshot(snapshot=revised, run="run-1", content=content_digest(revised))

    assert set_back_module.set_back(opened, chain="", run="run-1", content=content_digest(opened)) is False
    assert Gate.objects.get(gate_id=opened.gate_id).version == 4


def test_a_gate_open_across_the_upgrade_is_set_back_too(
    temporal, settings, portal_settings, transactional_db
):
    with a_run_set_back(temporal, settings) as (handle, set_back):
        first = projected_gate(handle)
        Gate.objects.filter(pk=first.pk).update(content_digest="")  # as a row written before digests
        set_back()
        wait_until(lambda: Gate.objects.get(pk=first.pk).rationale == SECOND_ANSWER)
        held = run_gate(temporal, handle)

    assert Gate.objects.get(pk=first.pk).content_digest == content_digest(held)


def test_keys_and_sets_digest_as_a_continued_run_holds_them():
    converter = data_converter().payload_converter
    for proposal in [{True: 1}, {None: 2}, {3: "x"}, {"k": (1, 2)}, {"trend": -0.0, "ceiling": 1e16}]:
        gate = dataclasses.replace(opened_gate(), recommendation=Recommendation("approve", "r", [], proposal))
        carried = converter.from_payloads(converter.to_payloads([gate]), [type(gate)])[0]
        assert content_digest(carried) == content_digest(gate), proposal
    listed = dataclasses.replace(opened_gate(), case={"tags": {"b", "a", "c"}})
    assert content_digest(listed) == content_digest(
        dataclasses.replace(listed, case={"tags": {"c", "a", "b"}})
    )
