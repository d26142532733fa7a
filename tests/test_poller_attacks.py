"""What a client whose Temporal credential may poll and complete tasks can no longer do with the
agents (agents/framework/seals.py, run_checks.py, worker_keyring.py). Found by the attacker's
review of sealed continuations, each reproduced here on the real dev server with a real worker:

- schedule the agents' activities from a run of its own (issue the offer, publish a gate
  "approved by officer" onto the agents' queue): the worker ran them. Now an activity runs only
  with the seal of the worker's run that scheduled it; it fails, non-retryably, having done nothing;
- start a run with eager execution, which hands the run's first task to the starter, and complete
  it: the worker only replayed that task, and a replay checked nothing, so it ran the unsigned
  run's model and tools. Now a replay checks the run's seal again, and (second review: a portal
  start copied from history carries a good seal) the marker a worker records when it executes a
  run's first task: the task fails, again and again, and the run does nothing;
- answer queries from a refused run's forged carry (the portal's catch-up wrote that gate into its
  records): a refused run now answers no query.
"""

from __future__ import annotations

import time
import uuid

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.command.v1 import (
    Command,
    RecordMarkerCommandAttributes,
    ScheduleActivityTaskCommandAttributes,
)
from temporalio.api.common.v1 import ActivityType, Payload, Payloads, WorkflowType
from temporalio.api.enums.v1 import CommandType, EventType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    PollWorkflowTaskQueueRequest,
    RespondWorkflowTaskCompletedRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client, WorkflowFailureError, WorkflowQueryFailedError

from agents.framework.contract import AGENT_WORKFLOW, PUBLISH_ACTIVITY
from agents.framework.start_claims import START_REFUSED
from agents.framework.strict_json import STRICT_DATA_CONVERTER
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.models import Gate
from tests.conftest import loan_input, start_loan
from tests.test_sealed_continuations import continued_by_a_raw_client, forged_input

pytestmark = pytest.mark.once  # the agents on Temporal: one CI pass

CONVERTER = STRICT_DATA_CONVERTER.payload_converter


def history(temporal, workflow_id: str, *, settle: float = 0, timeout: float = 30):
    """The run's events once `settle` seconds passed (or the run closed)."""
    handle = temporal.client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + timeout
    time.sleep(settle)
    while time.monotonic() < deadline:
        events = temporal.run(handle.fetch_history()).events
        if any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in events) or settle:
            return events
        time.sleep(0.3)
    return temporal.run(handle.fetch_history()).events


def message_of(temporal, failure) -> str:
    """A failure's message: encrypted in history, like every payload."""
    return str(temporal.run(temporal.client.data_converter.decode_failure(failure)))


def test_the_agents_activities_scheduled_by_a_clients_own_run_do_not_run(temporal, worker):
    workflow_id = f"loan-activities-{uuid.uuid4().hex[:8]}"
    gate = forged_input(temporal, worker, workflow_id).carry.gates[0]  # "approved by officer"
    rogue_queue = f"rogue-{uuid.uuid4().hex[:8]}"

    def scheduled(seq: int, name: str) -> Command:
        return Command(
            command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
            schedule_activity_task_command_attributes=ScheduleActivityTaskCommandAttributes(
                activity_id=str(seq),
                activity_type=ActivityType(name=name),
                task_queue=TaskQueue(name=worker),
                input=Payloads(payloads=CONVERTER.to_payloads([gate])),
                start_to_close_timeout=Duration(seconds=30),
            ),
        )

    async def forge() -> None:
        client = await Client.connect(temporal.address)
        await client.start_workflow("Anything", id=workflow_id, task_queue=rogue_queue)
        task = await client.workflow_service.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(
                namespace="default", task_queue=TaskQueue(name=rogue_queue), identity="rogue"
            )
        )
        await client.workflow_service.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(
                namespace="default",
                task_token=task.task_token,
                identity="rogue",
                commands=[scheduled(1, "loans.issue_offer"), scheduled(2, PUBLISH_ACTIVITY)],
            )
        )

    temporal.run(forge())
    deadline, failures = time.monotonic() + 30, []
    while len(failures) < 2 and time.monotonic() < deadline:
        events = history(temporal, workflow_id, settle=0.5)
        failures = [
            e.activity_task_failed_event_attributes.failure
            for e in events
            if e.HasField("activity_task_failed_event_attributes")
        ]

    assert len(failures) == 2, "both activities should have been refused"
    assert all(f.application_failure_info.type == "ActivityRefused" for f in failures)
    assert all("No worker's run scheduled this activity" in message_of(temporal, f) for f in failures)
    assert not any(e.HasField("activity_task_completed_event_attributes") for e in events)
    assert not Gate.objects.filter(workflow_id=workflow_id).exists()  # nothing published
    temporal.run(temporal.client.get_workflow_handle(workflow_id).terminate("test done"))


@pytest.mark.parametrize("start", ["its own", "a portal start copied"])
def test_a_run_whose_first_task_its_starter_completed_does_nothing_on_the_workers(temporal, worker, start):
    """Eager start on the agents' queue: the server hands the first task to the starter, which
    completes it (planting a patch marker, as a worker's first task would); the workers only ever
    replay that task. With its own input, the start's seal is missing too. With a start the
    portal made, copied from history with its input, signature and seal (the real run terminated
    first, from the second review), every header checks out. Either way no worker recorded its
    vouching marker in the first task, and that is what refuses it."""
    workflow_id = f"loan-eager-{uuid.uuid4().hex[:8]}"
    payloads, header = Payloads(payloads=CONVERTER.to_payloads([loan_input()])), None
    if start == "a portal start copied":
        real = start_loan(temporal, worker)
        started = temporal.run(real.fetch_history()).events[0].workflow_execution_started_event_attributes
        payloads, header, workflow_id = started.input, started.header, real.id
        temporal.run(real.terminate("the attacker ends it"))
    marker = Command(
        command_type=CommandType.COMMAND_TYPE_RECORD_MARKER,
        record_marker_command_attributes=RecordMarkerCommandAttributes(
            marker_name="core_patch",
            details={
                "patch-data": Payloads(
                    payloads=[
                        Payload(metadata={"encoding": b"json/plain"}, data=b'{"id":"x","deprecated":false}')
                    ]
                )
            },
        ),
    )

    async def forge() -> bool:
        client = await Client.connect(temporal.address)
        request = StartWorkflowExecutionRequest(
            namespace="default",
            workflow_id=workflow_id,
            workflow_type=WorkflowType(name=AGENT_WORKFLOW),
            task_queue=TaskQueue(name=worker),
            identity="rogue",
            request_id=str(uuid.uuid4()),
            input=payloads,
            request_eager_execution=True,
        )
        if header is not None:
            request.header.CopyFrom(header)
        started = await client.workflow_service.start_workflow_execution(request)
        task = started.eager_workflow_task
        if not task.task_token:
            return False
        await client.workflow_service.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(
                namespace="default", task_token=task.task_token, identity="rogue", commands=[marker]
            )
        )
        await client.get_workflow_handle(workflow_id).signal("nudge")  # a task for the workers
        return True

    assert temporal.run(forge()), "the dev server handed out no eager task"
    events = history(temporal, workflow_id)

    failed = [
        message_of(temporal, e.workflow_task_failed_event_attributes.failure)
        for e in events
        if e.HasField("workflow_task_failed_event_attributes")
    ]
    assert failed and "No worker executed this run's first task" in failed[0], failed
    assert not any(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in events)
    assert not Gate.objects.filter(workflow_id=workflow_id, version__gt=1).exists()
    temporal.run(temporal.client.get_workflow_handle(workflow_id).terminate("test done"))


def test_a_refused_forged_continuation_answers_no_query(temporal, worker):
    workflow_id = f"loan-rogue-{uuid.uuid4().hex[:8]}"
    handle = continued_by_a_raw_client(
        temporal, worker, workflow_id, forged_input(temporal, worker, workflow_id)
    )
    with pytest.raises(WorkflowFailureError) as failed:
        temporal.run(handle.result(), timeout=60)
    assert failed.value.cause.type == START_REFUSED

    with pytest.raises(WorkflowQueryFailedError):  # its message is encrypted, as every failure's
        temporal.run(handle.query(AgentWorkflow.all_gates))
