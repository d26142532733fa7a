"""The agent workflow's patches, and the one marker a run started now records for all of them.

Each patch keeps the runs recorded before a fix replaying the way they ran. A run started now
takes every one of them, yet asking for each recorded a marker and a search-attribute upsert of
its own in history: three before a loan run reaches its gate, about 2.7 ms of the server's CPU
each. So every run asks for PATCH_SET first thing (`take_patch_set`, at the start of
AgentWorkflow.run): a run started now records that one marker there, and `patched(...)` answers
yes to every patch in the set; a run recorded before the set, which has no such marker, is
answered patch by patch as it was recorded.

Rules, each kept by a test (tests/test_patch_set.py, tests/test_replay.py):
- A new patch gets a name of its own below and stays out of IN_PATCH_SET: runs recorded with the
  set did not take it. A later set may take it in, under a new name.
- The set is asked at the start of the run, never where a patch is used: a patch's branch can go
  once no run from before that patch is open, without moving the set's marker in any history.
  The set itself goes with `workflow.deprecate_patch(PATCH_SET)` first, then its removal.
- Like any patch, the set cannot be rolled back once runs have recorded it: a worker of the code
  before it fails their workflow tasks ("patch marker encountered ... no corresponding change
  command") until a worker with it picks them up. Deploy every worker first, and do not revert.
"""

from __future__ import annotations

from temporalio import workflow

# A continued run whose final gate is already open waits on it: it never plans again.
PATCH_RESUME_AT_FINAL_GATE = "resume-at-final-gate"
# A decision that arrived while the opening publish was in flight is published after the wait.
PATCH_PUBLISH_LATE_DECISION = "publish-late-decision"
# Reviewers hear of urgent gates when they open, and of gates nearing their SLA.
PATCH_REVIEWER_NOTICES = "reviewer-notices"
# Publishing sends what changed since the last publish, not the whole gate.
PATCH_GATE_PATCHES = "gate-patches"
# The role a gate escalates to hears of it at once.
PATCH_NOTIFY_ESCALATION = "notify-escalation"
# A revision reopens its gate with the SLA time that was left.
PATCH_KEEP_SLA_ON_REVISION = "keep-sla-on-revision"
# Tools declared `local=True` run as local activities.
PATCH_LOCAL_TOOLS = "local-tools"
# Continue-as-new carries only the results of the spec's `carried_results` tools.
PATCH_BOUNDED_CARRY = "bounded-carry"
# Past `carried_results_max`, the oldest carried results are sealed beside history.
PATCH_SEALED_RESULTS = "sealed-results"
# A spec's opening calls are made before the model's first turn. Outside the set: asked only by
# a run whose pinned spec has opening calls, so a run an older worker began without them (it
# drops the field) replays without them on a newer one.
PATCH_OPENING_CALLS = "opening-calls"

# Every patch above but the last, taken at once by the runs that record this marker.
PATCH_SET = "patch-set-2026-11"
IN_PATCH_SET = frozenset(
    {
        PATCH_RESUME_AT_FINAL_GATE,
        PATCH_PUBLISH_LATE_DECISION,
        PATCH_REVIEWER_NOTICES,
        PATCH_GATE_PATCHES,
        PATCH_NOTIFY_ESCALATION,
        PATCH_KEEP_SLA_ON_REVISION,
        PATCH_LOCAL_TOOLS,
        PATCH_BOUNDED_CARRY,
        PATCH_SEALED_RESULTS,
    }
)


def take_patch_set() -> None:
    """Record (or, replaying, read) whether this run takes every patch in the set: once, at the
    start of the run, so that where a patch is asked can change without moving the marker."""
    workflow.patched(PATCH_SET)


def patched(patch_id: str) -> bool:
    """Whether this run takes the patch: yes for a run that records (or recorded) PATCH_SET;
    otherwise as `workflow.patched` answers for the patch alone."""
    if patch_id in IN_PATCH_SET and workflow.patched(PATCH_SET):
        return True
    return workflow.patched(patch_id)
