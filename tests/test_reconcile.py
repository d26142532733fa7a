"""Rebuilding the gate projection from Temporal."""

from __future__ import annotations

import time
from io import StringIO

from django.core.management import call_command

from agents.framework.workflow import AgentWorkflow
from reviewer_portal.history.models import Submission
from reviewer_portal.inbox.models import Gate
from reviewer_portal.inbox.reconcile import reconcile_refusal
from tests.conftest import decide, loan_input, logged_in, make_user, projected_gate, start_loan


def test_reconcile_rebuilds_lost_rows_and_leaves_current_ones_alone(temporal, portal):
    open_run = start_loan(temporal, portal, loan_input(submitted_by="intake"))
    closed_run = start_loan(temporal, portal, loan_input(submitted_by="intake"))
    open_gate, closed_gate = projected_gate(open_run), projected_gate(closed_run)
    decide(logged_in(make_user("officer", "credit_officer")), closed_gate, reason="fine")
    temporal.run(closed_run.result())
    # Lost and stale rows, as after restoring an older backup of the portal's database.
    Gate.objects.filter(gate_id=open_gate.gate_id).delete()
    Gate.objects.filter(gate_id=closed_gate.gate_id).update(status="pending", decided_by="", version=1)
    time.sleep(1)  # the visibility store lists closed runs a moment after they close

    out = StringIO()
    call_command("reconcile", task_queue=portal, stdout=out)

    rebuilt = {g.gate_id: g for g in Gate.objects.filter(workflow_id__in=[open_run.id, closed_run.id])}
    assert rebuilt[open_gate.gate_id].status == "pending"
    assert (rebuilt[closed_gate.gate_id].status, rebuilt[closed_gate.gate_id].decided_by) == (
        "approved",
        "officer",
    )
    assert out.getvalue().strip() == "Reconciled 2 gates from Temporal; 2 projection rows changed."

    again = StringIO()
    call_command("reconcile", task_queue=portal, stdout=again)
    assert again.getvalue().rstrip().endswith("0 projection rows changed.")


def test_reconcile_applies_a_gate_only_from_its_own_run_and_its_agents_namespace(temporal, portal):
    run = start_loan(temporal, portal, loan_input(submitted_by="intake"))
    gate = projected_gate(run)
    Gate.objects.filter(gate_id=gate.gate_id).update(agent="advice")
    snapshot = temporal.run(run.query(AgentWorkflow.gate))
    namespace = temporal.client.namespace

    # What reconcile reads is what a run says; whoever starts a run writes its input.
    chain = run.result_run_id
    asked = {"namespace": namespace, "chain": chain}
    another_runs = reconcile_refusal(snapshot, workflow_id="loan-someone-else", **asked)
    elsewhere = reconcile_refusal(snapshot, workflow_id=run.id, namespace="advice-namespace", chain=chain)
    other_agent = reconcile_refusal(snapshot, workflow_id=run.id, **asked)
    Gate.objects.filter(gate_id=gate.gate_id).update(agent="loans")
    own = reconcile_refusal(snapshot, workflow_id=run.id, **asked)
    # A run started again under the same id (tests/test_run_chain.py) is of another chain.
    another_chain = reconcile_refusal(snapshot, workflow_id=run.id, namespace=namespace, chain="copied")

    assert another_runs == f"Run loan-someone-else may not publish gate {gate.gate_id} of another run."
    assert elsewhere == f"Agent loans runs in namespace {namespace}, not advice-namespace."
    assert other_agent == f"Gate {gate.gate_id} belongs to agent advice, not loans."
    assert own is None
    assert (
        another_chain is not None and f"of its workflow ({chain}) than this run's (copied)" in another_chain
    )
    # A row lost in a restore is of the chain the portal's start recorded (found by the second
    # review: the newest run's chain bound it first, a copy's if one was running).
    Gate.objects.filter(gate_id=gate.gate_id).delete()
    Submission.objects.create(
        workflow_id=run.id,
        agent="loans",
        subject="s",
        submitted_by=make_user("intake", "credit_officer"),
        chain_id=chain,
    )
    assert reconcile_refusal(snapshot, workflow_id=run.id, namespace=namespace, chain="copied") is not None
    assert reconcile_refusal(snapshot, workflow_id=run.id, **asked) is None
    temporal.run(run.terminate("test done"))
