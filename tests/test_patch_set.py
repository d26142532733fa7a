"""A run started now records one marker for every patch of the agent workflow
(agents/framework/patches.py), not one marker and one search-attribute upsert per patch; it
still takes every patched path. Runs recorded patch by patch replay as they ran
(tests/test_replay.py, over tests/histories and tests/histories/patch_set)."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType

from agents.framework.contract import PUBLISH_ACTIVITY, PUBLISH_CHANGE_ACTIVITY
from agents.framework.patches import IN_PATCH_SET, PATCH_OPENING_CALLS, PATCH_SET
from tests import actions
from tests.conftest import activity_names, patch_markers, start_loan, wait_for_gate


def upserts(temporal, handle) -> int:
    history = temporal.run(handle.fetch_history())
    kind = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    return sum(e.event_type == kind for e in history.events)


def test_a_new_loan_run_records_the_set_and_takes_every_patched_path(temporal, worker):
    """One marker for the set; the one patch since (opening-calls) records its own, as the rules
    in agents/framework/patches.py say, until a later set takes it in."""
    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)

    assert patch_markers(temporal, handle) == [PATCH_SET, PATCH_OPENING_CALLS]
    assert upserts(temporal, handle) == 2  # TemporalChangeVersion, once per marker
    names = activity_names(temporal, handle)
    assert "loans.affordability" not in names  # local-tools: a local activity, not a task
    assert PUBLISH_CHANGE_ACTIVITY in names and PUBLISH_ACTIVITY not in names  # gate-patches

    actions.decide(temporal, handle, gate.gate_id, "approve", "Affordable", "officer", ["credit_officer"])
    result = temporal.run(handle.result())

    assert result.outcome == "approved"
    assert patch_markers(temporal, handle) == [PATCH_SET, PATCH_OPENING_CALLS]  # later patches asked the set
    assert upserts(temporal, handle) == 2


def test_the_set_is_frozen_at_the_patches_it_was_recorded_with():
    """Runs recorded with the set took exactly these: a patch added later stays out of it (else
    they would take its path on replay), and none may leave it (else they would lose one)."""
    assert {
        "resume-at-final-gate",
        "publish-late-decision",
        "reviewer-notices",
        "gate-patches",
        "notify-escalation",
        "keep-sla-on-revision",
        "local-tools",
        "bounded-carry",
        "sealed-results",
    } == IN_PATCH_SET
    assert PATCH_SET == "patch-set-2026-11"


def test_the_set_is_asked_first_thing_in_every_run(temporal, worker):
    """Its marker comes before any command of the run, so removing where a patch is used later
    never moves it."""
    handle = start_loan(temporal, worker)
    wait_for_gate(temporal, handle)
    events = list(temporal.run(handle.fetch_history()).events)
    completed = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    first_command = events[next(i for i, e in enumerate(events) if e.event_type == completed) + 1]
    assert first_command.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    assert patch_markers(temporal, handle)[0] == PATCH_SET
    temporal.run(handle.terminate("test done"))


def test_the_support_agents_patches_stay_its_own():
    from agents.support import workflow as support

    assert not {support.HANDOFF_EXPIRY, support.RECHECK_IN_TURN} & IN_PATCH_SET
