"""A run started now records one marker for every patch of the agent workflow
(agents/framework/patches.py), not one marker and one search-attribute upsert per patch; it
still takes every patched path. Runs recorded patch by patch replay as they ran
(tests/test_replay.py, over tests/histories and tests/histories/patch_set)."""

from __future__ import annotations

import itertools

from temporalio.api.enums.v1 import EventType

from agents.framework.contract import PUBLISH_ACTIVITY, PUBLISH_CHANGE_ACTIVITY, PUBLISH_LOCAL_ACTIVITY
from agents.framework.patches import IN_PATCH_SET, PATCH_SET, PATCH_SETS
from tests import actions
from tests.conftest import activity_names, patch_markers, start_loan, wait_for_gate
from tests.test_local_tools import local_calls


def upserts(temporal, handle) -> int:
    history = temporal.run(handle.fetch_history())
    kind = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    return sum(e.event_type == kind for e in history.events)


def test_a_new_loan_run_records_one_marker_and_takes_every_patched_path(temporal, worker):
    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)

    assert patch_markers(temporal, handle) == [PATCH_SET]
    # TemporalChangeVersion: once for the set, once for the worker's vouching marker (run_checks.py).
    assert upserts(temporal, handle) == 2
    names = activity_names(temporal, handle)
    assert "loans.affordability" not in names  # local-tools: a local activity, not a task
    assert PUBLISH_ACTIVITY not in names  # gate-patches: a change at a time ...
    assert PUBLISH_CHANGE_ACTIVITY not in names  # ... published locally (local-publish)
    assert (PUBLISH_LOCAL_ACTIVITY, 1) in local_calls(temporal, handle)

    actions.decide(temporal, handle, gate.gate_id, "approve", "Affordable", "officer", ["credit_officer"])
    result = temporal.run(handle.result())

    assert result.outcome == "approved"
    assert patch_markers(temporal, handle) == [PATCH_SET]  # the later patches asked the set too
    assert upserts(temporal, handle) == 2  # no more than at the gate


def test_each_set_is_frozen_at_the_patches_it_was_recorded_with():
    """Runs recorded with a set took exactly its patches: a patch added later joins a new set
    (else they would take its path on replay), and none may leave a set (else they would lose it)."""
    first = {
        "resume-at-final-gate",
        "publish-late-decision",
        "reviewer-notices",
        "gate-patches",
        "notify-escalation",
        "keep-sla-on-revision",
        "local-tools",
        "bounded-carry",
        "sealed-results",
    }
    assert [(name, set(members)) for name, members in PATCH_SETS] == [
        (
            "patch-set-2026-11h",
            first
            | {
                "opening-calls",
                "unique-call-ids",
                "chain-call-ids",
                "opening-calls-after",
                "local-publish",
                "first-seen-opening",
                "numeric-edits",
            },
        ),
        (
            "patch-set-2026-11g",
            first
            | {
                "opening-calls",
                "unique-call-ids",
                "chain-call-ids",
                "opening-calls-after",
                "local-publish",
                "first-seen-opening",
            },
        ),
        (
            "patch-set-2026-11f",
            first
            | {"opening-calls", "unique-call-ids", "chain-call-ids", "opening-calls-after", "local-publish"},
        ),
        (
            "patch-set-2026-11e",
            first | {"opening-calls", "unique-call-ids", "chain-call-ids", "opening-calls-after"},
        ),
        ("patch-set-2026-11d", first | {"opening-calls", "unique-call-ids", "chain-call-ids"}),
        ("patch-set-2026-11c", first | {"opening-calls", "unique-call-ids"}),
        ("patch-set-2026-11b", first | {"opening-calls"}),
        ("patch-set-2026-11", first),
    ]
    assert PATCH_SETS[0] == (PATCH_SET, IN_PATCH_SET)


def test_a_newer_set_holds_every_patch_of_the_one_before():
    for (_, newer), (_, older) in itertools.pairwise(PATCH_SETS):
        assert older < newer


def test_the_set_is_asked_first_thing_in_every_run(temporal, worker):
    """Its marker comes before any command of the run, so removing where a patch is used later
    never moves it."""
    handle = start_loan(temporal, worker)
    wait_for_gate(temporal, handle)
    events = list(temporal.run(handle.fetch_history()).events)
    completed = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    first_command = events[next(i for i, e in enumerate(events) if e.event_type == completed) + 1]
    assert first_command.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    assert patch_markers(temporal, handle) == [PATCH_SET]
    temporal.run(handle.terminate("test done"))


def test_the_support_agents_patches_stay_its_own():
    from agents.support import workflow as support

    assert not {support.HANDOFF_EXPIRY, support.RECHECK_IN_TURN} & IN_PATCH_SET
