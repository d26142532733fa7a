"""A gate's audit trail and AI Act check read the chain of runs that opened the gate, in Temporal
and in the archive, whatever has run under its workflow id since (reviewer_portal.inbox.run_chain).

Found by the attacker's review of the run chains (tests/test_run_chain.py): any Temporal client
could start a workflow under a decided gate's id, with "allow duplicate", at any time within
retention, with no signature (a workflow of any type on a queue nobody polls). The trail then read
that run: the AI Act record of a gate decided in order said "differs: The run's trail holds no
decision on this gate". A copied agent start was archived as the newer record, so the flip outlived
Temporal's retention.
"""

from __future__ import annotations

import time
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.service import RPCError, RPCStatusCode

from reviewer_portal import temporal_client
from reviewer_portal.archive import archiver
from reviewer_portal.archive.models import ArchiveRecord
from reviewer_portal.audit.decision_check import decision_check
from reviewer_portal.conversations.selectors import conversation_transcript
from reviewer_portal.inbox import run_chain
from reviewer_portal.inbox.models import Gate
from tests.conftest import logged_in, make_user, projected_gate
from tests.test_archive import archive_from_now  # noqa: F401 (fixture)
from tests.test_decision_record_trail import approved_by_officer, auditor  # noqa: F401 (fixture)
from tests.test_run_chain import continued_conversation, copied_start, ended, unsigned_start_under

pytestmark = pytest.mark.once  # the archive and Temporal's reads, the same on either database


def test_a_run_started_later_under_a_decided_gates_id_leaves_its_check_and_trail_alone(
    temporal,
    portal,
    auditor,  # noqa: F811
):
    gate = approved_by_officer(temporal, portal)
    assert decision_check(gate).state == "matches"

    unsigned_start_under(temporal, gate.workflow_id)
    check = decision_check(Gate.objects.get(pk=gate.pk))
    page = auditor.get(f"/audit/{gate.workflow_id}/")

    assert (check.state, check.source) == ("matches", "Temporal"), check.statement
    assert page.status_code == 200 and gate.chain_id in page.content.decode()


def test_runs_started_under_the_id_by_the_dozen_do_not_hide_the_gates_chain(temporal, portal, monkeypatch):
    # Found by the second review: the chain's run was looked for among the 50 newest under the id,
    # so 51 unsigned starts hid it, and the check said "differs". It is walked to now, from the
    # chain's first run: here only the newest run is listed at all.
    monkeypatch.setattr(run_chain, "MAX_RUNS_LISTED", 1)
    gate = approved_by_officer(temporal, portal)
    for _ in range(3):
        unsigned_start_under(temporal, gate.workflow_id, terminate=True)

    check = decision_check(Gate.objects.get(pk=gate.pk))

    assert (check.state, check.source) == ("matches", "Temporal"), check.statement


def test_after_retention_the_archive_record_of_the_gates_chain_is_the_one_checked(
    temporal,
    archive_from_now,  # noqa: F811
):
    gate = approved_by_officer(temporal, archive_from_now)
    handle = temporal.client.get_workflow_handle(gate.workflow_id, run_id=gate.chain_id)
    copy = copied_start(temporal, handle)  # "allow duplicate": the real run has closed
    ended(temporal, copy)
    archived_both(gate.workflow_id)
    delete_runs(temporal, gate.workflow_id, [gate.chain_id, copy.run_id or ""])

    check = decision_check(Gate.objects.get(pk=gate.pk))

    assert (check.state, check.source) == ("matches", "the archive"), check.statement


def archived_both(workflow_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while ArchiveRecord.objects.filter(workflow_id=workflow_id).count() < 2:
        assert time.monotonic() < deadline, "the two runs were never archived"
        archiver.archive_due(limit=50)
        time.sleep(0.3)


def delete_runs(temporal, workflow_id: str, run_ids: list[str]) -> None:
    """What retention does, now, to each run (the dev server takes a while to carry it out)."""
    for run_id in run_ids:
        execution = WorkflowExecution(workflow_id=workflow_id, run_id=run_id)
        request = DeleteWorkflowExecutionRequest(namespace="default", workflow_execution=execution)
        temporal.run(temporal.client.workflow_service.delete_workflow_execution(request))
    deadline = time.monotonic() + 90
    for run_id in run_ids:
        while time.monotonic() < deadline:
            try:
                temporal.run(temporal.client.get_workflow_handle(workflow_id, run_id=run_id).describe())
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    break
                raise
            time.sleep(0.5)
    assert time.monotonic() < deadline, "the runs are still in Temporal"


def test_a_gate_decided_before_chains_is_bound_to_its_first_run_by_bind_chains(temporal, portal):
    # Found by the second review: a row from before chains were recorded was never bound (its run,
    # closed, never publishes again), so one start under its id turned its check to "differs".
    gate = approved_by_officer(temporal, portal)
    Gate.objects.filter(pk=gate.pk).update(chain_id="")  # as the upgrade found it
    unsigned_start_under(temporal, gate.workflow_id)
    assert decision_check(Gate.objects.get(pk=gate.pk)).state == "differs"

    out = StringIO()
    call_command("bind_chains", stdout=out)

    assert "Bound 1 gate rows" in out.getvalue()
    assert Gate.objects.get(pk=gate.pk).chain_id == gate.chain_id
    assert decision_check(Gate.objects.get(pk=gate.pk)).state == "matches"


def test_bind_chains_binds_no_row_to_a_run_started_after_its_gate_opened(temporal, portal):
    # Found by the third review: with the first run gone past retention (and not archived), the
    # oldest run Temporal listed was someone else's, and the row was bound to it for good.
    gate = approved_by_officer(temporal, portal)
    Gate.objects.filter(pk=gate.pk).update(chain_id="")
    delete_runs(temporal, gate.workflow_id, [gate.chain_id])
    unsigned_start_under(temporal, gate.workflow_id)

    out, err = StringIO(), StringIO()
    call_command("bind_chains", stdout=out, stderr=err)

    assert "Bound 0 gate rows" in out.getvalue()
    assert f"No run under {gate.workflow_id} started before its row" in err.getvalue()
    assert Gate.objects.get(pk=gate.pk).chain_id == ""


def test_a_chain_whose_first_run_is_gone_is_walked_from_the_run_that_last_published(temporal, portal, client):
    # Found by the third review: the walk began at the chain's first run, so once retention took
    # that run the whole chain counted as gone, later runs and all. It begins at the run that last
    # published the gate (Gate.run_id), here the conversation's second run.
    conversation_id = continued_conversation(temporal, portal, client)
    first = projected_gate(temporal.client.get_workflow_handle(conversation_id)).chain_id
    rep = logged_in(make_user("support", "support_rep"))
    rep.post(
        f"/conversations/{conversation_id}/reply/",
        {"text": "Yes, Sam here.", "submission_id": str(uuid.uuid4())},
    )
    row = projected_gate(temporal.client.get_workflow_handle(conversation_id), version=2)
    assert row.run_id != first  # published by the second run
    delete_runs(temporal, conversation_id, [first])
    unsigned_start_under(temporal, conversation_id, terminate=True)

    transcript = conversation_transcript(conversation_id=conversation_id)

    assert transcript is not None and "Yes, Sam here." in str(transcript)


def test_bind_chains_with_temporal_down_names_what_it_could_not_bind_and_goes_on(temporal, portal, settings):
    gate = approved_by_officer(temporal, portal)
    Gate.objects.filter(pk=gate.pk).update(chain_id="")
    settings.TEMPORAL_ADDRESS = "127.0.0.1:9"  # nothing listens: Temporal is down
    temporal_client.reset_client()

    out, err = StringIO(), StringIO()
    call_command("bind_chains", stdout=out, stderr=err)

    assert "Bound 0 gate rows" in out.getvalue()
    assert f"Not bound, Temporal did not answer: {gate.workflow_id}" in err.getvalue()
    assert Gate.objects.get(pk=gate.pk).chain_id == ""


def test_bind_chains_takes_the_archived_first_run_and_never_a_later_runs_record(
    temporal,
    archive_from_now,  # noqa: F811
):
    gate = approved_by_officer(temporal, archive_from_now)
    copy = copied_start(temporal, temporal.client.get_workflow_handle(gate.workflow_id, run_id=gate.chain_id))
    ended(temporal, copy)
    archived_both(gate.workflow_id)
    delete_runs(temporal, gate.workflow_id, [gate.chain_id, copy.run_id or ""])
    Gate.objects.filter(pk=gate.pk).update(chain_id="")

    call_command("bind_chains", stdout=StringIO())
    bound_from_archive = Gate.objects.get(pk=gate.pk).chain_id
    # The first run's record gone too (never archived, say): the copy's, started after the gate
    # opened, is not taken for it.
    Gate.objects.filter(pk=gate.pk).update(chain_id="")
    ArchiveRecord.objects.filter(workflow_id=gate.workflow_id, chain_id=gate.chain_id).delete()
    err = StringIO()
    call_command("bind_chains", stdout=StringIO(), stderr=err)

    assert bound_from_archive == gate.chain_id
    assert Gate.objects.get(pk=gate.pk).chain_id == ""
    assert f"No first run of {gate.workflow_id} found in Temporal or the archive" in err.getvalue()
