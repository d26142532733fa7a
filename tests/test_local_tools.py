"""Tools declared `local=True` (the loan calculator and policy check) run as local activities:
the run reaches the same gate in fewer round trips, a failing local tool reads the same to the
reviewer, and a run resumed on another worker replays the recorded results without calling
the tools again."""

from __future__ import annotations

import dataclasses
import json

from temporalio.api.enums.v1 import EventType

from agents.framework.contract import PUBLISH_LOCAL_ACTIVITY
from agents.framework.patches import PATCH_SET
from agents.framework.registry import AGENTS
from agents.framework.tools import TOOLS
from reviewer_portal.audit.timeline import read_timeline
from reviewer_portal.inbox.worker_activities import PORTAL_ACTIVITIES
from tests import actions
from tests.conftest import (
    DECLINABLE,
    activity_names,
    loan_input,
    patch_markers,
    record_history,
    start_loan,
    wait_for_gate,
)

LOCAL = ["loans.affordability", "loans.lending_policy_check"]
LOCAL_ACTIVITY_MARKER = "core_local_activity"


def local_calls(temporal, handle) -> list[tuple[str, int]]:
    """(tool, attempts) of each local activity the run recorded, from its history's markers."""
    history = temporal.run(handle.fetch_history())
    calls = []
    for event in history.events:
        if event.HasField("marker_recorded_event_attributes"):
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == LOCAL_ACTIVITY_MARKER:
                data = json.loads(marker.details["data"].payloads[0].data)
                calls.append((data["activity_type"], data["attempt"]))
    return calls


def local_tool_calls(temporal, handle) -> list[tuple[str, int]]:
    """The same for the run's tools: not the gate's publish (tests/test_local_publish.py)."""
    return [call for call in local_calls(temporal, handle) if call[0] != PUBLISH_LOCAL_ACTIVITY]


def activities_scheduled(temporal, handle) -> int:
    """Activity tasks the server dispatched to the worker so far: its round trips for tools.

    Not workflow tasks or history events: how many workflow tasks a run takes depends on timing
    (a loaded worker may finish two activities before the next task, or a local activity may
    outlast part of a task's timeout and take a heartbeat task), and CI once saw both runs take 6."""
    history = temporal.run(handle.fetch_history())
    scheduled = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    return sum(e.event_type == scheduled for e in history.events)


def test_the_loan_agent_declares_its_calculator_and_policy_check_local():
    assert [name for name in AGENTS["loans"].tools if TOOLS[name].local] == LOCAL
    assert loan_input().spec.local_tools == LOCAL
    assert not TOOLS["loans.credit_bureau"].local


def test_a_loan_run_reaches_the_same_gate_in_fewer_round_trips(temporal, worker):
    remote_input = loan_input()
    remote_input = dataclasses.replace(
        remote_input, spec=dataclasses.replace(remote_input.spec, local_tools=[])
    )
    remote = start_loan(temporal, worker, remote_input)
    local = start_loan(temporal, worker)
    remote_gate, local_gate = wait_for_gate(temporal, remote), wait_for_gate(temporal, local)

    assert local_gate.recommendation == remote_gate.recommendation
    assert local_gate.recommendation.outcome == "approve"
    assert [(r.name, r.ok, r.result) for r in local_gate.tool_results] == [
        (r.name, r.ok, r.result) for r in remote_gate.tool_results
    ]
    assert local_tool_calls(temporal, local) == [(name, 1) for name in LOCAL]
    assert local_tool_calls(temporal, remote) == []
    assert patch_markers(temporal, local) == [PATCH_SET]  # the local-tools patch among the set
    assert not set(LOCAL) & set(activity_names(temporal, local))
    assert set(LOCAL) <= set(activity_names(temporal, remote))
    assert "loans.credit_bureau" in activity_names(temporal, local)  # it stays a remote call
    assert activities_scheduled(temporal, local) == activities_scheduled(temporal, remote) - len(LOCAL)

    actions.decide(
        temporal, local, local_gate.gate_id, "approve", "Affordable", "officer", ["credit_officer"]
    )
    result = temporal.run(local.result())
    assert (result.outcome, result.action["action"]) == ("approved", "offer issued")
    temporal.run(remote.terminate("test done"))
    record_history(temporal, local, "loan_local_tools_approved")


def test_a_local_tool_that_keeps_failing_is_retried_then_shown_to_the_reviewer(temporal, worker):
    broken = dataclasses.replace(DECLINABLE, term_months=0)  # the calculator raises on this
    handle = start_loan(temporal, worker, loan_input(broken))
    gate = wait_for_gate(temporal, handle)

    affordability = next(r for r in gate.tool_results if r.name == "loans.affordability")
    assert not affordability.ok and "term and income must be positive" in affordability.error
    assert ("loans.affordability", 3) in local_tool_calls(temporal, handle)  # one call, three attempts
    trail = temporal.run(
        read_timeline(temporal.client.data_converter, [temporal.run(handle.fetch_history())])
    )
    failures = [e.title for e in trail if e.kind == "failure"]
    assert len(failures) == 1 and failures[0].startswith("loans.affordability failed: ")
    assert "term and income must be positive" in failures[0]
    assert gate.recommendation.outcome == "refer"
    assert "loans.affordability failed" in gate.recommendation.rationale
    temporal.run(handle.terminate("test done"))


def test_a_run_resumed_on_another_worker_keeps_the_local_results(temporal, transactional_db):
    with temporal.worker(portal_activities=PORTAL_ACTIVITIES) as queue:
        handle = start_loan(temporal, queue)
        gate = wait_for_gate(temporal, handle)
    # That worker is gone with its cache: the next one replays the run, markers and all.
    with temporal.worker(queue, portal_activities=PORTAL_ACTIVITIES):
        actions.decide(temporal, handle, gate.gate_id, "approve", "Fine", "officer", ["credit_officer"])
        result = temporal.run(handle.result())

    assert result.outcome == "approved"
    assert [r.name for r in result.gate.tool_results] == ["loans.credit_bureau", *LOCAL]
    assert local_tool_calls(temporal, handle) == [(name, 1) for name in LOCAL]  # never called again


def test_runs_pinned_before_local_tools_still_call_them_as_activities(temporal, worker):
    """An input without `local_tools` (pinned by an older portal) decodes to none: unchanged."""
    old = loan_input()
    old = dataclasses.replace(old, spec=dataclasses.replace(old.spec, local_tools=[]))
    handle = start_loan(temporal, worker, old)
    wait_for_gate(temporal, handle)

    assert activity_names(temporal, handle).count("loans.lending_policy_check") == 1
    temporal.run(handle.terminate("test done"))
