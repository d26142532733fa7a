"""The names the workflow and the portal share: activities, Updates, statuses, decisions.

Plain constants, no imports: the portal, the worker and the workflow sandbox all read them from
here, so a name is spelt once.
"""

from __future__ import annotations

# The shared workflow every agent runs, and its queries.
AGENT_WORKFLOW = "AgentWorkflow"
GATE_QUERY = "gate"
ALL_GATES_QUERY = "all_gates"
APPLIED_ACTIONS_QUERY = "applied_actions"

# Activities the shared workflow schedules.
LLM_ACTIVITY = "llm_complete"
SUMMARISE_ACTIVITY = "llm_summarise"
# Publishes a whole gate (runs recorded before gate patches) ...
PUBLISH_ACTIVITY = "publish_gate"
# ... or, since then, the first snapshot of a gate and a patch per change after it.
PUBLISH_CHANGE_ACTIVITY = "publish_gate_change"
# ... and, since local publish, a gate's opening first as a local activity in the workflow task
# that opened it, which answers with the publication for its marker to keep.
PUBLISH_LOCAL_ACTIVITY = "publish_gate_change_local"
NOTIFY_ACTIVITY = "notify_reviewers"
# A long loop's oldest results, sealed beside history, and opened again when all are needed.
SEAL_RESULTS_ACTIVITY = "seal_results"
OPEN_RESULTS_ACTIVITY = "open_sealed_results"
FORGET_RESULTS_ACTIVITY = "forget_sealed_results"

# Reviewer actions: the workflow's Updates.
DECIDE = "decide"
ANNOTATE = "annotate"
ASSIGN = "assign"

# The outcome of a run whose case could not be prepared (e.g. a document that could not be read).
UNPROCESSABLE = "unprocessable"

# Gate statuses.
PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
CHANGES_REQUESTED = "changes_requested"

# What a reviewer may decide, and the status each leads to.
APPROVE = "approve"
REJECT = "reject"
REQUEST_CHANGES = "request_changes"
DECISION_STATUS = {APPROVE: APPROVED, REJECT: REJECTED, REQUEST_CHANGES: CHANGES_REQUESTED}

# Who decided when nobody did: the SLA policy.
SYSTEM_DECIDER = "system"

# Where a signed action comes from: the portal's pages, or the operator command run by an admin.
PORTAL = "portal"
OPERATOR = "operator"
ORIGINS = (PORTAL, OPERATOR)

# ApplicationError types of refused Updates, which the portal tells apart.
ACTION_REFUSED = "ActionRefused"  # malformed, unsigned or badly signed: refused before any rule
ALREADY_APPLIED = "ActionAlreadyApplied"  # the same action reached the run before: nothing to do
DECISION_REFUSED = "DecisionRefused"
ANNOTATION_REFUSED = "AnnotationRefused"
ASSIGNMENT_REFUSED = "AssignmentRefused"

# How a worker's sandbox treats the workflow modules (agents/framework/sandbox.py): the settings
# check WORKFLOW_SANDBOX against these without importing the SDK's sandbox.
SANDBOX_MODES = ("strict", "shared")
