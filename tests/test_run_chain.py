"""A gate belongs to the run chain that opened it (reviewer_portal.inbox.run_chain).

Found by trying the product as an attacker with a Temporal client (the planners' MEDIUM-LOW "start
options are not signed"): the portal's start of a run is signed, and a copy of it is good for the
signature's ten minutes. Copied from the run's history (input and headers as they stand) and
started again under the same workflow id with "terminate existing", it replaced the portal's run
with one the portal never started. The portal's next action went to the copy, which applied it, and
the copy's gate changes overwrote the projection's row (an SLA escalation the reviewers never had).

Now a gate's row records the chain of runs that opened it (its first run's id, which continue-as-new
and reset keep): the portal's Updates name that chain, so Temporal refuses them to any other run,
and the publish activities refuse a gate change from another chain, for good.
"""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import WorkflowIdConflictPolicy, WorkflowIdReusePolicy
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest, StartWorkflowExecutionRequest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from agents.framework.gate_changes import GatePublication, patch
from agents.framework.workflow import AgentWorkflow
from agents.support import SUPPORT_AGENT
from agents.support.contract import REP_REPLY, SUPPORT_WORKFLOW, TRANSCRIPT_QUERY, SupportInput
from reviewer_portal.conversations.selectors import conversation_transcript
from reviewer_portal.conversations.services import GONE, conversation_rep_act
from reviewer_portal.conversations.tokens import new_conversation_id, token_for
from reviewer_portal.history.models import Submission
from reviewer_portal.history.services import submission_started
from reviewer_portal.inbox import run_chain
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.publishing import FORGED_GATE, publish_gate_change
from reviewer_portal.inbox.run_queries import gate_catch_up
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from reviewer_portal.trust.keys import trusted_keys
from tests.conftest import (
    loan_input,
    logged_in,
    make_user,
    projected_gate,
    start_loan,
    submit_loan_application,
)
from tests.outage import wait_until
from tests.test_support_conversation import handed_off, say

REPLACED = "was replaced by another run under the same id"


def copied_start(temporal, handle: WorkflowHandle) -> WorkflowHandle:
    """What an attacker with a Temporal client can do within the start's ten minutes: start the
    run's input and headers, as its history holds them, again under its id, ending the real run."""

    async def copy() -> str:
        history = await handle.fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        client = temporal.client
        request = StartWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_id=handle.id,
            workflow_type=started.workflow_type,
            task_queue=started.task_queue,
            input=started.input,
            header=started.header,
            identity="attacker",
            request_id=str(uuid.uuid4()),
            workflow_id_conflict_policy=WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
            workflow_id_reuse_policy=WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
        )
        return (await client.workflow_service.start_workflow_execution(request)).run_id

    run_id = temporal.run(copy())
    return temporal.client.get_workflow_handle(handle.id, run_id=run_id)


def copy_at_its_gate(temporal, copy: WorkflowHandle) -> None:
    """Wait until the copy has opened its gate (or ended trying to publish it)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if temporal.run(copy.describe()).status.name != "RUNNING":
            return
        if temporal.run(copy.query(AgentWorkflow.all_gates)):
            return
        time.sleep(0.1)
    raise AssertionError("the copy never reached its gate")


def continued_conversation(temporal, queue: str, client) -> str:
    """A conversation handed off to a rep whose run then continued as new: a chain of two runs."""
    conversation_id = new_conversation_id()
    start_input = SupportInput(
        customer_id="CUST-2002", spec=SUPPORT_AGENT.pin(), trusted_keys=trusted_keys(), messages_per_run=2
    )
    temporal.run(
        temporal.client.start_workflow(SUPPORT_WORKFLOW, start_input, id=conversation_id, task_queue=queue)
    )
    conversation = (conversation_id, token_for(conversation_id))
    say(client, conversation, "Please put me through to a person.")
    say(client, conversation, "Hello? Anyone there?")  # the second message: the run continues as new
    return conversation_id


def ended(temporal, handle: WorkflowHandle, timeout: float = 30) -> None:
    """Wait until the run `handle` names has closed (a copy refused at its first publish, say)."""
    deadline = time.monotonic() + timeout
    while temporal.run(handle.describe()).status.name == "RUNNING":
        assert time.monotonic() < deadline, f"{handle.id} never ended"
        time.sleep(0.2)


def test_a_copied_start_that_replaced_the_run_is_sent_no_action_and_the_reviewer_is_told(temporal, portal):
    handle = start_loan(temporal, portal, loan_input())
    gate = projected_gate(handle)
    copy = copied_start(temporal, handle)
    copy_at_its_gate(temporal, copy)

    officer = logged_in(make_user("officer", "credit_officer"))
    response = officer.post(
        f"/gates/{gate.gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers={"HX-Request": "true"}
    )

    assert REPLACED in response.content.decode()
    attempt = ActionAttempt.objects.get(gate_id=gate.gate_id)
    assert attempt.status == ActionAttempt.Status.REFUSED and REPLACED in attempt.detail
    assert Gate.objects.get(pk=gate.pk).assignee == ""  # the portal's row: nobody holds the gate
    if temporal.run(copy.describe()).status.name == "RUNNING":  # the copy took nothing either
        assert all(not g.assignee for g in temporal.run(copy.query(AgentWorkflow.all_gates)))


def test_a_copied_starts_gate_changes_never_reach_the_reviewers_row(temporal, portal):
    # A short SLA: the copy's gate escalates to senior officers within seconds (version 2), which
    # the copy would publish over the real gate's row.
    handle = start_loan(temporal, portal, loan_input(sla_seconds=3))
    gate = projected_gate(handle)
    copy = copied_start(temporal, handle)

    # Its first publish is refused for good, so the copy fails there, having changed nothing.
    with pytest.raises(WorkflowFailureError) as failed:
        temporal.run(copy.result(), timeout=30)
    assert FORGED_GATE in str(failed.value.cause.cause) or FORGED_GATE in repr(failed.value.cause)
    row = Gate.objects.get(pk=gate.pk)
    assert (row.version, row.role, row.chain_id) == (1, gate.role, handle.result_run_id)

    # Nor does the portal take it from the copy when it catches up with "the run" (a decision's
    # check, a stale page): the copy answers for another chain.
    gate_catch_up(row)
    assert Gate.objects.get(pk=gate.pk).version == 1


def test_a_gate_whose_run_was_ended_by_any_start_is_recovered_by_resetting_its_chain(temporal, portal):
    # No signature needed to end a run: "terminate existing" with a workflow of any type. The
    # reviewers are told; the operator resets the chain's last run, which ends the other one, and
    # the reset run, of the same chain, takes the gate's actions (README, "A gate whose run was
    # replaced").
    handle = start_loan(temporal, portal, loan_input())
    gate = projected_gate(handle)
    unsigned_start_under(temporal, handle.id, terminate=True)
    officer = logged_in(make_user("officer", "credit_officer"))

    def claim() -> ActionAttempt:
        submission = str(uuid.uuid4())
        officer.post(
            f"/gates/{gate.gate_id}/claim/", {"submission_id": submission}, headers={"HX-Request": "true"}
        )
        return ActionAttempt.objects.get(gate_id=gate.gate_id, action_id__endswith=f":{submission}")

    refused = claim()

    async def reset() -> str:
        history = await temporal.client.get_workflow_handle(
            handle.id, run_id=handle.result_run_id
        ).fetch_history()
        # To its latest completed task: the reset run holds the gate, open as it was.
        tasks = [e.event_id for e in history.events if e.HasField("workflow_task_completed_event_attributes")]
        request = ResetWorkflowExecutionRequest(
            namespace=temporal.client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=handle.id, run_id=handle.result_run_id),
            reason="run replaced",
            workflow_task_finish_event_id=tasks[-1],
            request_id=str(uuid.uuid4()),
        )
        return (await temporal.client.workflow_service.reset_workflow_execution(request)).run_id

    reset_run = temporal.run(reset())
    # The reset run opens the gate again in the task it runs first: a claim before then is refused.
    reset_handle = temporal.client.get_workflow_handle(handle.id, run_id=reset_run)
    wait_until(lambda: bool(temporal.run(reset_handle.query(AgentWorkflow.all_gates))))
    accepted = claim()

    assert refused.status == ActionAttempt.Status.REFUSED and REPLACED in refused.detail
    assert accepted.status == ActionAttempt.Status.ACCEPTED, accepted.detail
    wait_until(lambda: Gate.objects.get(pk=gate.pk).assignee == "officer")  # written after the reply
    assert Gate.objects.get(pk=gate.pk).chain_id == handle.result_run_id != reset_run


def unsigned_start_under(temporal, workflow_id: str, *, terminate: bool = False) -> str:
    """A workflow of no agent, on a queue nobody polls, under `workflow_id`: no signature needed;
    ending the run there with "terminate existing", or after it closed with "allow duplicate"."""
    conflict = WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING
    if not terminate:
        conflict = WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_FAIL

    async def start() -> str:
        request = StartWorkflowExecutionRequest(
            namespace=temporal.client.namespace,
            workflow_id=workflow_id,
            workflow_type=WorkflowType(name="Nothing"),
            task_queue=TaskQueue(name="nobody-polls-this"),
            identity="attacker",
            request_id=str(uuid.uuid4()),
            workflow_id_conflict_policy=conflict,
            workflow_id_reuse_policy=WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
        )
        return (await temporal.client.workflow_service.start_workflow_execution(request)).run_id

    return temporal.run(start())


def test_a_copied_conversation_start_is_handed_no_reply_of_a_rep(temporal, portal, client):
    conversation_id, _ = handed_off(client)
    handle = temporal.client.get_workflow_handle(conversation_id)
    projected_gate(handle)  # the handoff gate: its row names the conversation's chain
    copy = copied_start(temporal, handle)
    rep = make_user("alice", "support_rep")

    sent = conversation_rep_act(
        conversation_id=conversation_id,
        rep=rep,
        action=REP_REPLY,
        text="Hello, Alice here.",
        submission_id=uuid.uuid4(),
    )

    assert (sent.status, sent.detail) == (GONE, "This conversation has ended.")
    assert "Alice here" not in str(temporal.run(copy.fetch_history()))  # the copy was sent nothing
    # The rep still reads the conversation itself, not the copy's (found by the review).
    transcript = conversation_transcript(conversation_id=conversation_id)
    assert transcript is not None and "Can I speak to a person, please?" in str(transcript)


def test_a_publication_naming_no_chain_is_of_the_chain_temporal_says_its_run_is_of(temporal, portal):
    # Found by the review: a run's next task on a worker from before chains (a rollout, a rollback)
    # publishes naming none, and was refused for good on its own gate, failing the run.
    handle = start_loan(temporal, portal, loan_input())
    gate = projected_gate(handle)
    snapshot = temporal.run(handle.query(AgentWorkflow.all_gates))[0]
    claimed = dataclasses.replace(snapshot, assignee="officer", version=2)
    copy = copied_start(temporal, handle)  # the copy's own, unnamed, is still refused

    def published_by(run_id: str, publication: GatePublication) -> bool:
        env = ActivityEnvironment()
        env.info = dataclasses.replace(
            env.info, workflow_id=handle.id, workflow_run_id=run_id, namespace=temporal.client.namespace
        )
        return env.run(publish_gate_change, publication)

    with pytest.raises(ApplicationError) as refused:
        published_by(copy.run_id or "", GatePublication(patch=patch(snapshot, claimed)))
    assert published_by(handle.result_run_id or "", GatePublication(patch=patch(snapshot, claimed)))

    assert refused.value.type == FORGED_GATE and "belongs to another chain of runs" in refused.value.message
    row = Gate.objects.get(pk=gate.pk)
    assert (row.version, row.assignee, row.chain_id) == (2, "officer", handle.result_run_id)


def test_a_copy_that_ends_the_run_before_its_gate_opens_does_not_open_it(temporal, portal_settings, settings):
    # Found by the review: before its first publish, a run bound nothing, so a copy that ended it
    # then opened the gate in its place, with a recommendation made again. The portal records the
    # chain its start made (Submission.chain_id), and a new gate's row is of that chain only.
    settings.TEMPORAL_TASK_QUEUE = queue = f"test-{uuid.uuid4().hex[:10]}"  # no worker yet
    submission_id = str(uuid.uuid4())
    assert (
        submit_loan_application(logged_in(make_user("intake", "credit_officer")), submission_id).status_code
        == 302
    )
    workflow_id = f"loan-{submission_id}"
    real = temporal.run(temporal.client.get_workflow_handle(workflow_id).describe()).run_id
    assert Submission.objects.get(workflow_id=workflow_id).chain_id == real
    copy = copied_start(temporal, temporal.client.get_workflow_handle(workflow_id, run_id=real))

    with (
        temporal.worker(queue, portal_activities=PORTAL_ACTIVITIES),
        pytest.raises(WorkflowFailureError) as failed,
    ):
        temporal.run(copy.result(), timeout=30)

    assert "belongs to another chain of runs" in str(failed.value.cause.cause or failed.value.cause)
    assert not Gate.objects.filter(workflow_id=workflow_id).exists()


def test_a_conversations_chain_is_walked_through_its_continued_runs_whatever_runs_under_its_id(
    temporal, portal, client, monkeypatch
):
    # The walk from the chain's first run (found by the second review: a capped listing of the
    # newest runs under the id could be flooded); here only the newest run is listed at all.
    monkeypatch.setattr(run_chain, "MAX_RUNS_LISTED", 1)
    conversation_id = continued_conversation(temporal, portal, client)
    latest = temporal.client.get_workflow_handle(conversation_id)
    projected_gate(latest)
    wait_until(
        lambda: "Hello? Anyone there?" in str(temporal.run(latest.query(TRANSCRIPT_QUERY)))
    )  # the new run's
    unsigned_start_under(temporal, conversation_id, terminate=True)

    transcript = conversation_transcript(conversation_id=conversation_id)

    assert transcript is not None and "Hello? Anyone there?" in str(transcript)


def test_a_server_that_leaves_the_descriptions_first_run_empty_is_asked_for_the_started_event(
    temporal, portal, monkeypatch
):
    # WorkflowExecutionInfo.first_run_id is recent (found by the first review); older servers leave
    # it empty. The answer then comes from the run's started event, and is the same.
    handle = start_loan(temporal, portal, loan_input())
    projected_gate(handle)
    describe = WorkflowHandle.describe

    async def as_an_older_server(self, **kwargs):
        described = await describe(self, **kwargs)
        described.raw_description.workflow_execution_info.first_run_id = ""
        return described

    monkeypatch.setattr(WorkflowHandle, "describe", as_an_older_server)

    assert temporal.run(run_chain.chain_of(temporal.client, handle.id)) == (
        handle.result_run_id,
        handle.result_run_id,
    )


def test_the_starts_chain_is_kept_when_the_delivery_loop_confirmed_the_submission_first(transactional_db):
    # Found by the third review: the loop, finding the run started, confirms it and cannot say
    # whose chain it is; the start's own confirmation, later, wrote nothing (it touched unconfirmed
    # rows only). It now keeps the chain, and never writes over one kept.
    submission = Submission.objects.create(
        workflow_id="loan-kept",
        agent="loans",
        subject="s",
        submitted_by=make_user("intake", "credit_officer"),
    )
    submission_started(workflow_id="loan-kept")  # the delivery loop: found started, "own"
    submission_started(workflow_id="loan-kept", chain="the-starts-own")
    submission_started(workflow_id="loan-kept", chain="another")

    submission.refresh_from_db()
    assert (submission.started, submission.chain_id) == (True, "the-starts-own")
