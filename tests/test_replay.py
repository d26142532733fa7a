"""Recorded histories replay against today's workflow code: any non-determinism fails here.

Histories are recorded by the workflow tests with `RECORD_HISTORIES=1 make test` and committed;
re-record only when a change is meant to be incompatible (and then version the workflow).
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from agents.framework.codec import EncryptionCodec
from agents.framework.run_checks import VOUCHED_PREFIX, RunChecks
from agents.framework.sandbox import SANDBOXES, sandbox_named, workflow_runner
from agents.framework.seals import SealKeys
from agents.framework.worker_keyring import WorkerKeyring
from agents.framework.workflow import AgentWorkflow
from agents.support.workflow import SupportConversationWorkflow
from reviewer_portal.archive.workflow import AuditArchiveWorkflow
from reviewer_portal.temporal_client import data_converter
from tests.conftest import HISTORIES
from tests.workflows.continued_runs import ContinueIntoAgent

pytestmark = pytest.mark.once  # the database is not what it tests: one CI pass

RECORDED = sorted(HISTORIES.rglob("*.json"))
PATCH_SET_RECORDED = HISTORIES / "patch_set"


def history_id(path) -> str:
    return str(path.relative_to(HISTORIES).with_suffix(""))


def test_the_recorded_histories_cover_every_gate_outcome():
    names = {path.stem for path in RECORDED if path.parent == HISTORIES}
    assert {
        "loan_approved",
        "loan_rejected",
        # Recorded before SLA warnings existed: they replay the unpatched path.
        "loan_escalated_then_expired",
        "loan_escalated_then_approved",
        "loan_warned_escalated_then_expired",
        "loan_warned_escalated_then_approved",
        "loan_changes_requested_then_approved",
        "loan_claimed_then_approved",
        "advice_approved_with_edits",
        "regulatory_review_decided",
        "regulatory_continued_with_open_gate",
        # Recorded since signed actions and gate patches: the new code paths replay too, and the
        # older histories above still replay the way they were recorded.
        "loan_continued_at_gate_first_run",
        "loan_continued_at_gate_last_run",
        "loan_operator_override",
        "loan_signed_revised_with_notes",
        # Recorded since payload encryption and the `prepare` step: an uploaded file read by the
        # run, and one it could not read.
        "regulatory_upload_read",
        "regulatory_upload_unreadable",
        # The archiving workflow a Schedule starts (reviewer_portal/archive/workflow.py).
        "audit_archive_pass",
        # The FinOps agent: three lookups at once, then a budget approver's gate.
        "finops_over_budget_approved",
        # The support conversation (agents/support): handed to a rep who replied and closed it, and
        # the first run of a conversation that continued as new.
        "support_conversation_handed_off_and_closed",
        "support_conversation_continued_first_run",
        # A handoff no rep took by its deadline: expired by its policy, a ticket raised, closed.
        "support_handoff_expired",
        # The fraud agent: a transaction cleared below the threshold, and one a fraud analyst blocked.
        "fraud_cleared",
        "fraud_blocked_by_analyst",
        # Future credit analysis: the history prepared once, three inferences, one activity each;
        # a stable outlook, and a risky one a credit analyst put on the watchlist.
        "credit_outlook_stable",
        "credit_outlook_watchlist_approved",
        # Market engagement (three lookups at once, one brief published) and the customer inquiry
        # agent on its own worker (a rep edited the reply before it was sent).
        "market_brief_published",
        "customer_service_reply_edited_and_sent",
        # Issue 11: an escalation that tells the new role at once, a change request that keeps the
        # SLA time that was left, and a loan gate decided only once claimed.
        "loan_escalated_with_notice_then_approved",
        "loan_changes_requested_kept_clock",
        "loan_claim_required_refused_then_claimed",
        # Issue 12: a long review that carries a bounded state (patch bounded-carry).
        "regulatory_bounded_carry_first_run",
        "regulatory_bounded_carry_last_run",
        # ... and since patch sealed-results: the run that sealed its oldest findings beside history,
        # and the last run, which opened them all again for the report.
        "regulatory_sealed_results_sealing_run",
        "regulatory_sealed_results_last_run",
        # A loan run whose first results were sealed before its final gate opened with them all.
        "loan_sealed_results_final_gate",
        # A decision naming the digest of the gate its page showed (agents/framework/gate_content.py).
        "loan_approved_naming_its_content",
        # Patch opening-calls: the credit file and affordability fetched before the first turn.
        "loan_opening_calls_approved",
        # Patch chain-call-ids: the workflow numbers the model's calls; a model that repeated an
        # approved call's id got a gate for the new call, and ids stay unique over a chain.
        "finops_repeated_call_id",
        "finops_chain_call_ids",
        # Patch opening-calls-after: the policy check made with the first turn's figures, in a
        # second turn of the framework's, before the model's only call.
        "loan_opening_calls_after_approved",
        # Patch local-publish: the gate's opening published by a local activity (its marker), the
        # claim and the decision by tasks.
        "loan_local_publish_approved",
        # ... and one whose local publish kept failing, published by the task after it.
        "loan_local_publish_fell_back",
        # A continue-as-new a worker sealed (the tests' relay), and the loan run it continued.
        "relay_sealed_continuation",
        "loan_sealed_continuation_continued",
    } <= names


def test_the_patch_set_recordings_cover_every_patch_it_stands_for():
    """Recorded since one marker stands for every patch (agents/framework/patches.py): the same
    runs as above, recorded again into tests/histories/patch_set. Each path a patch opened replays
    from a run that took it through the set, and the histories above through the patch alone."""
    names = {path.stem for path in PATCH_SET_RECORDED.glob("*.json")}
    assert {
        "loan_local_tools_approved",  # local-tools, gate-patches, reviewer-notices
        "loan_decided_during_publish",  # publish-late-decision
        "loan_escalated_with_notice_then_approved",  # notify-escalation
        "loan_changes_requested_kept_clock",  # keep-sla-on-revision
        "loan_continued_at_gate_first_run",  # resume-at-final-gate
        "loan_continued_at_gate_last_run",
        "regulatory_sealed_results_sealing_run",  # sealed-results, and bounded-carry before it
        "regulatory_sealed_results_last_run",
        "loan_sealed_results_final_gate",
        # Recorded with patch-set-2026-11b, before unique-call-ids: the repeated id re-ran the
        # approved call (the bug), and replays so.
        "finops_repeated_call_id_before_fix",
        # Recorded with patch-set-2026-11c (unique-call-ids): the repeated id alone replaced.
        "finops_unique_call_ids_11c",
        # Recorded with patch-set-2026-11d: a loan run whose model called the policy check itself.
        "loan_opening_calls_11d",
    } <= names


@pytest.mark.parametrize("sandbox", SANDBOXES)
@pytest.mark.parametrize("path", RECORDED, ids=[history_id(p) for p in RECORDED])
def test_recorded_history_replays_without_nondeterminism(path, sandbox):
    """In both sandbox modes: strict, as the tests run workflows, and shared, as a production
    worker replays a run it took over (agents/framework/sandbox.py)."""
    recorded = json.loads(path.read_text())
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
    # The portal's converter: histories recorded since payload encryption decode with the fixed
    # test keys (tests/keys); older, plaintext ones pass through the codec unchanged.
    workflows = [AgentWorkflow, AuditArchiveWorkflow, SupportConversationWorkflow, ContinueIntoAgent]
    replayer = Replayer(
        workflows=workflows,
        data_converter=data_converter(),
        workflow_runner=workflow_runner(sandbox_named(sandbox), workflows),
    )

    result = asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False))

    assert result.replay_failure is None, result.replay_failure


CONTINUING = [p for p in RECORDED if "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW" in p.read_text()]


@pytest.mark.parametrize("path", CONTINUING, ids=[history_id(p) for p in CONTINUING])
def test_a_run_that_continued_as_new_replays_with_the_workers_seal_and_checks(path):
    """The workers' interceptor (agents/framework/worker_keyring.py) seals each continue-as-new
    with a header the replay does not compare, and checks starts only when a run first executes:
    runs that continued before sealing replay through it as they ran, and sealed ones too."""
    assert CONTINUING, "no recorded history continues as new"
    recorded = json.loads(path.read_text())
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
    converter = data_converter()
    codec = converter.payload_codec
    assert isinstance(codec, EncryptionCodec)
    seals = SealKeys.derived_from(codec.keys, codec.namespace)
    # Recorded before seals, most of them: made before now, as a rollout lets through.
    checks = RunChecks({}, seals, unsealed_before=datetime.now(UTC))
    workflows = [AgentWorkflow, SupportConversationWorkflow, ContinueIntoAgent]
    replayer = Replayer(
        workflows=workflows,
        data_converter=converter,
        workflow_runner=workflow_runner(sandbox_named("strict"), workflows),
        interceptors=[WorkerKeyring(checks)],
    )

    result = asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False))

    assert result.replay_failure is None, result.replay_failure


SEALED = [HISTORIES / "relay_sealed_continuation.json", HISTORIES / "loan_sealed_continuation_continued.json"]


def replayed_with_checks(recorded: dict, unsealed_before: datetime | None):
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
    converter = data_converter()
    codec = converter.payload_codec
    assert isinstance(codec, EncryptionCodec)
    checks = RunChecks({}, SealKeys.derived_from(codec.keys, codec.namespace), unsealed_before)
    workflows = [AgentWorkflow, ContinueIntoAgent]
    replayer = Replayer(
        workflows=workflows,
        data_converter=converter,
        workflow_runner=workflow_runner(sandbox_named("strict"), workflows),
        interceptors=[WorkerKeyring(checks)],
    )
    return asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False))


@pytest.mark.parametrize("path", SEALED, ids=[history_id(p) for p in SEALED])
def test_a_sealed_and_vouched_run_replays_with_no_rollout_time_and_one_without_its_marker_does_not(path):
    """Recorded since seals and the vouching marker (agents/framework/run_checks.py): the replay
    checks its start or continuation seal and its marker, with nothing let through by a rollout
    time; the same history with its marker's id changed, as a client completing the first task
    would write it, is refused."""
    recorded = json.loads(path.read_text())
    assert replayed_with_checks(recorded, None).replay_failure is None

    for event in recorded["history"]["events"]:
        details = event.get("markerRecordedEventAttributes", {}).get("details", {})
        for payload in details.get("patch-data", {}).get("payloads", []):
            patch = json.loads(base64.b64decode(payload["data"]))
            if patch["id"].startswith(VOUCHED_PREFIX):
                patch["id"] = VOUCHED_PREFIX + "a-client-wrote-this"
                payload["data"] = base64.b64encode(json.dumps(patch).encode()).decode()
    failure = replayed_with_checks(recorded, None).replay_failure
    # The task fails (RunNotVouchedFor, its message encrypted like every failure's): not a
    # nondeterminism, since the marker is recorded as deprecated, which a replay may leave unasked.
    assert failure is not None and not isinstance(failure, NondeterminismError)
    assert "Workflow activation completion failed" in str(failure)
