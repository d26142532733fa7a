"""The agent workflow's patches, and the one marker a run started now records for all of them.

Each patch keeps the runs recorded before a fix replaying the way they ran. A run started now
takes every one of them, yet asking for each recorded a marker and a search-attribute upsert of
its own in history: three before a loan run reaches its gate, about 2.7 ms of the server's CPU
each. So every run asks for the newest set first thing (`take_patch_set`, at the start of
AgentWorkflow.run): a run started now records that one marker there, and `patched(...)` answers
yes to every patch in it. A run recorded with an older set (no marker of the newest) is answered
by the set it recorded; a run recorded before any set, patch by patch as it was recorded.

Rules, each kept by a test (tests/test_patch_set.py, tests/test_replay.py):
- A new patch gets a name of its own below. A set is frozen once runs have recorded it: the new
  patch joins a new set, under a new name, put first in PATCH_SETS with every patch of the set
  before it (runs recorded with the older set did not take the new patch, and never will).
- The sets are asked at the start of the run, newest first, never where a patch is used: a
  patch's branch can go once no run from before that patch is open, without moving a set's marker
  in any history. A set goes with `workflow.deprecate_patch(<its name>)` first, then its removal.
- A patch asked in the middle of a run is asked with `in_set`, which answers from the sets alone:
  `patched` would, for a run begun with an older set, take the patch alone at that point and
  record its own marker there (`unique-call-ids` still does, asked only for a repeated id).
- Like any patch, a set cannot be rolled back once runs have recorded it: a worker of the code
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
# A spec's opening calls are made before the model's first turn. A run an older worker began
# (it drops the field and records an older set) replays without them on a newer one.
PATCH_OPENING_CALLS = "opening-calls"
# A reply's repeated, shared or empty tool call ids are replaced with ids unique in the chain, so
# a repeated id cannot find an earlier call's gate.
PATCH_UNIQUE_CALL_IDS = "unique-call-ids"
# The workflow numbers every tool call of the model's replies itself, over the chain. Asked
# through its set only (`in_set`): runs begun before it never take it.
PATCH_CHAIN_CALL_IDS = "chain-call-ids"
# Opening calls that read earlier opening calls' results are made in a second turn of the
# framework's (`AgentRunSpec.opening_calls_after`). Asked through its set only (`in_set`).
PATCH_OPENING_CALLS_AFTER = "opening-calls-after"
# A gate's opening is published by a local activity in the workflow task that opened it, and by
# an activity task only when that fails. Asked through its set only (`in_set`).
PATCH_LOCAL_PUBLISH = "local-publish"
# A gate whose opening task was retried after its local publish wrote the row takes the time the
# row was first written, for the gate and its SLA timer. Asked through its set only (`in_set`).
PATCH_FIRST_SEEN_OPENING = "first-seen-opening"
# An approved edit of a field the agent proposed as a number reaches the tool as a number of its
# kind, not as the text it was sent in (which the tool failed to decode). Asked through its set
# only (`in_set`).
PATCH_NUMERIC_EDITS = "numeric-edits"

# The patches of each set, frozen once recorded: the first set, and each later one with every
# patch of the one before it and the patches since.
FIRST_SET = frozenset(
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
# The set local publish joined: recorded by runs, so frozen.
SET_2026_11F = FIRST_SET | {
    PATCH_OPENING_CALLS,
    PATCH_UNIQUE_CALL_IDS,
    PATCH_CHAIN_CALL_IDS,
    PATCH_OPENING_CALLS_AFTER,
    PATCH_LOCAL_PUBLISH,
}
# The set first-seen opening joined: recorded by runs, so frozen.
SET_2026_11G = SET_2026_11F | {PATCH_FIRST_SEEN_OPENING}
# Newest first: the one a run started now records, then the ones runs in flight may have.
PATCH_SETS: tuple[tuple[str, frozenset[str]], ...] = (
    ("patch-set-2026-11h", SET_2026_11G | {PATCH_NUMERIC_EDITS}),
    ("patch-set-2026-11g", SET_2026_11G),
    ("patch-set-2026-11f", SET_2026_11F),
    (
        "patch-set-2026-11e",
        FIRST_SET
        | {PATCH_OPENING_CALLS, PATCH_UNIQUE_CALL_IDS, PATCH_CHAIN_CALL_IDS, PATCH_OPENING_CALLS_AFTER},
    ),
    ("patch-set-2026-11d", FIRST_SET | {PATCH_OPENING_CALLS, PATCH_UNIQUE_CALL_IDS, PATCH_CHAIN_CALL_IDS}),
    ("patch-set-2026-11c", FIRST_SET | {PATCH_OPENING_CALLS, PATCH_UNIQUE_CALL_IDS}),
    ("patch-set-2026-11b", FIRST_SET | {PATCH_OPENING_CALLS}),
    ("patch-set-2026-11", FIRST_SET),
)
PATCH_SET, IN_PATCH_SET = PATCH_SETS[0]


def take_patch_set() -> None:
    """Record (or, replaying, read) which set this run takes: once, at the start of the run, so
    that where a patch is asked can change without moving the marker. A run started now takes
    the newest; one replayed asks the older sets in turn until one was recorded (or none)."""
    for name, _ in PATCH_SETS:
        if workflow.patched(name):
            return


def patched(patch_id: str) -> bool:
    """Whether this run takes the patch: yes for a run that records (or recorded) a set with it;
    otherwise as `workflow.patched` answers for the patch alone."""
    for name, members in PATCH_SETS:
        if patch_id in members and workflow.patched(name):
            return True
    return workflow.patched(patch_id)


def in_set(patch_id: str) -> bool:
    """Whether this run took a set with the patch, never asking for the patch alone: for a patch
    asked in the middle of a run, which a run begun before it must not take there (a marker of
    its own recorded mid-run, which a worker from before the patch could not replay). Every set
    was asked at the start of the run, so this records nothing."""
    return any(patch_id in members and workflow.patched(name) for name, members in PATCH_SETS)
