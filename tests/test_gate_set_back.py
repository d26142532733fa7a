"""A gate whose run was set back (reviewer_portal.inbox.set_back, reviewer_portal.inbox.row_guards).

A reset to before the model's step opens the gate again at a version the projection has, with
another answer. The projection takes it from the running run, if the gate is still open there, so
the page's own checks stop a decision made on the first answer; a decided row keeps its decision
whatever the set-back run does; a patch lands only on the content it was made on. Each case here was
found by trying the product as an attacker, in the three reviews of this work.
"""

from __future__ import annotations

import dataclasses
import html
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import ActivityEnvironment

from agents.framework.gate_changes import GatePublication
from agents.framework.gate_changes import patch as gate_patch
from agents.framework.gate_content import content_digest
from agents.framework.gates import CONTENT_CHANGED
from agents.framework.types import Recommendation
from reviewer_portal.inbox import set_back as set_back_module
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.projection import gate_apply_patch, gate_apply_snapshot
from reviewer_portal.inbox.publishing import publish_gate_change
from tests import actions
from tests.conftest import (
    decide,
    loan_input,
    logged_in,
    make_user,
    projected_gate,
    start_loan,
)
from tests.outage import wait_until
from tests.set_back_runs import (
    HTMX,
    SECOND_ANSWER,
    a_run_set_back,
    opened_gate,
    run_gate,
    shown_on,
)
from tests.test_bulk_shown_version import CHANGED, drawn_form


def test_a_run_set_back_shows_its_new_answer_and_a_decision_on_the_first_is_not_applied(
    temporal, settings, portal_settings, transactional_db, caplog
):
    with a_run_set_back(temporal, settings) as (handle, set_back):
        first = projected_gate(handle)
        first_digest = first.content_digest
        officer = logged_in(make_user("officer", "credit_officer"))
        shown = shown_on(officer, first)  # the page shows the first answer

        set_back()
        # The reset run's gate opens again at version 1 with the second answer: the projection
        # (at version 2, the claim) takes it, its digest beside it, and says so in the log.
        wait_until(lambda: Gate.objects.get(pk=first.pk).rationale == SECOND_ANSWER)
        row = Gate.objects.get(pk=first.pk)
        held = run_gate(temporal, handle)
        officer.post(f"/gates/{first.gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers=HTMX)
        wait_until(lambda: Gate.objects.get(pk=first.pk).assignee == "officer")

        # The page's decision: refused by the portal, nothing recorded; the case column comes in.
        refused = decide(officer, first, "approve", reason="Within policy.", shown=shown, claim_first=False)
        recorded = ActionAttempt.objects.filter(action="decide").count()
        # A decision naming the first answer's digest reaches the run only from a page the portal
        # checked before the row changed: the run refuses it.
        with pytest.raises(WorkflowUpdateFailedError) as by_the_run:
            actions.decide(temporal, handle, first.gate_id, reason="Within policy.", content=first_digest)
        # Read, the second answer is decided on.
        decide(officer, Gate.objects.get(pk=first.pk), "approve", reason="Known to the branch.")
        decided = run_gate(temporal, handle)

    assert (row.version, row.status, row.assignee) == (1, "pending", "")  # the reset dropped the claim
    assert row.content_digest == content_digest(held) != first_digest
    assert "set back" in caplog.text
    text = html.unescape(refused.content.decode())
    assert refused.status_code == 409 and "The gate changed since the page showed it" in text
    assert 'id="gate-case"' in text and SECOND_ANSWER in text
    assert recorded == 0
    assert by_the_run.value.cause.message == CONTENT_CHANGED
    assert (held.status, held.decided_by) == ("pending", "")  # nothing applied by either
    assert (decided.status, decided.reason, decided.recommendation.rationale) == (
        "approved",
        "Known to the branch.",
        SECOND_ANSWER,
    )


def test_a_decided_gate_is_not_opened_again_by_a_run_set_back(
    temporal, settings, portal_settings, transactional_db, caplog
):
    with a_run_set_back(temporal, settings) as (handle, set_back):
        gate = projected_gate(handle)
        decide(logged_in(make_user("officer", "credit_officer")), gate, "approve", reason="Within policy.")
        wait_until(lambda: Gate.objects.get(pk=gate.pk).status == Gate.Status.APPROVED)
        decided = Gate.objects.get(pk=gate.pk)

        set_back()
        wait_until(lambda: "not opened again" in caplog.text)

    row = Gate.objects.get(pk=gate.pk)
    assert (row.status, row.decided_by, row.rationale, row.version) == (
        "approved",
        "officer",
        decided.rationale,
        decided.version,
    )


def test_a_publish_from_the_run_a_reset_ended_is_not_taken(
    temporal, settings, portal_settings, transactional_db
):
    with a_run_set_back(temporal, settings) as (handle, set_back):
        first = projected_gate(handle)
        snapshot = run_gate(temporal, handle)
        old_run = set_back()
        wait_until(lambda: Gate.objects.get(pk=first.pk).rationale == SECOND_ANSWER)
        # A publish the old run had under way when the reset ended it, landing now.
        env = ActivityEnvironment()
        env.info = dataclasses.replace(
            env.info, workflow_id=handle.id, workflow_run_id=old_run, namespace=temporal.client.namespace
        )
        late = GatePublication(snapshot=snapshot, chain=first.chain_id, content=first.content_digest)
        taken = env.run(publish_gate_change, late)
        held = run_gate(temporal, handle)

    assert taken is True  # the activity ends; the run it belongs to has ended anyway
    row = Gate.objects.get(pk=first.pk)
    assert (row.rationale, row.content_digest) == (SECOND_ANSWER, content_digest(held))


def test_the_projection_keeps_the_runs_digest_and_takes_no_patch_onto_other_content(transactional_db):
    # Never its own digest of its stored copy (jsonb writes -0.0 as 0.0, 1e16 as an integer): the
    # run's, as published. A patch follows on only from the content it was made on; at a version
    # the row has, it is in sync only with the same content (else the run sends the gate whole).
    gate = dataclasses.replace(opened_gate(), case={"income_trend": -0.0, "ceiling": 1e16})
    first, other = "a" * 64, "b" * 64
    gate_apply_snapshot(snapshot=gate, content=first)
    claimed = dataclasses.replace(gate, assignee="officer", assignee_id="7", version=2)

    assert gate_apply_patch(patch=gate_patch(gate, claimed), content=first, base_content=other) is False
    assert Gate.objects.get(gate_id=gate.gate_id).version == 1
    assert gate_apply_patch(patch=gate_patch(gate, claimed), content=first, base_content=first) is True
    row = Gate.objects.get(gate_id=gate.gate_id)
    assert (row.version, row.assignee, row.content_digest) == (2, "officer", first)
    assert gate_apply_patch(patch=gate_patch(gate, claimed), content=other, base_content=first) is False
    assert gate_apply_patch(patch=gate_patch(gate, claimed), content=first, base_content=first) is True
    # The portal's own write after an accepted Update names no digest: the row keeps the run's.
    noted = dataclasses.replace(claimed, version=3, annotations=[])
    assert gate_apply_patch(patch=gate_patch(claimed, noted)) is True
    assert Gate.objects.get(gate_id=gate.gate_id).content_digest == first


def test_a_bulk_decision_from_an_inbox_listed_before_a_set_back_is_refused(temporal, portal):
    # Found by the review: the inbox's rows sent their version alone, which a gate set back keeps.
    handle = start_loan(temporal, portal, loan_input())
    gate = projected_gate(handle)
    client = logged_in(make_user("officer", "credit_officer"))
    shown = drawn_form(client.get("/").content.decode())
    assert shown[f"shown_{gate.gate_id}"] == f"{gate.version}.{gate.content_digest[:12]}"
    answered_again = dataclasses.replace(
        run_gate(temporal, handle), recommendation=Recommendation("approve", SECOND_ANSWER, [])
    )
    assert gate_apply_snapshot(snapshot=answered_again, content="f" * 64, set_back_from=gate.content_digest)

    response = client.post(
        "/bulk/",
        {
            "gate_ids": [gate.gate_id],
            "decision": "approve",
            "reason_text": "Low risk",
            "submission_id": str(uuid.uuid4()),
            **shown,
        },
        headers=HTMX,
    )

    assert CHANGED in response.content.decode()
    assert not ActionAttempt.objects.filter(action="decide").exists()
    assert Gate.objects.get(pk=gate.pk).version == gate.version  # the same version, other content


def test_a_decided_row_keeps_its_decision_whatever_version_a_run_set_back_reaches(transactional_db):
    # The reset run's SLA warnings and escalation took its version past the row's: the row went
    # back to pending in the senior queue, and a second reviewer undid an executed rejection.
    opened = opened_gate()
    rejected = dataclasses.replace(
        opened, status="rejected", decided_by="officer", decision_id="decide:g:1", reason="No.", version=3
    )
    gate_apply_snapshot(snapshot=rejected, content=content_digest(rejected))
    answered_again = dataclasses.replace(
        opened,
        recommendation=Recommendation("approve", SECOND_ANSWER, []),
        role="senior_credit_officer",
        version=4,
    )

    assert gate_apply_snapshot(snapshot=answered_again, content=content_digest(answered_again)) is False
    row = Gate.objects.get(gate_id=opened.gate_id)
    assert (row.status, row.decided_by, row.version) == ("rejected", "officer", 3)
    # The same decision, published again at a later version (a continued run), is taken.
    again = dataclasses.replace(rejected, version=5)
    assert gate_apply_snapshot(snapshot=again, content=content_digest(again)) is True


def test_a_row_no_run_digested_takes_no_patch_naming_a_base_and_is_set_back(transactional_db, monkeypatch):
    # A row from before digests (or rebuilt by reconcile) took the reset run's claim onto the
    # first answer, with the second answer's digest, and was never set back.
    monkeypatch.setattr(set_back_module, "calling_run_is_open", lambda: True)
    opened = opened_gate()
    gate_apply_snapshot(snapshot=opened, run="run-1", content="")
    second = dataclasses.replace(opened, recommendation=Recommendation("approve", SECOND_ANSWER, []))
    claimed = dataclasses.replace(second, assignee="officer", assignee_id="7", version=2)
    digest = content_digest(second)

    assert gate_apply_patch(patch=gate_patch(second, claimed), content=digest, base_content=digest) is False
    assert set_back_module.set_back(opened, chain="", run="run-2", content=content_digest(opened)) is False
    assert set_back_module.set_back(second, chain="", run="run-2", content=digest) is True
    row = Gate.objects.get(gate_id=opened.gate_id)
    assert (row.rationale, row.content_digest, row.run_id) == (SECOND_ANSWER, digest, "run-2")


def test_a_late_try_of_the_publishing_runs_own_earlier_publish_is_not_taken(transactional_db, monkeypatch):
    monkeypatch.setattr(set_back_module, "calling_run_is_open", lambda: True)
    opened = opened_gate()
    revised = dataclasses.replace(opened, recommendation=Recommendation("decline", "Revised.", []), version=4)
    gate_apply_snapshot(snapshot=revised, run="run-1", content=content_digest(revised))

    assert set_back_module.set_back(opened, chain="", run="run-1", content=content_digest(opened)) is False
    assert Gate.objects.get(gate_id=opened.gate_id).version == 4


def test_a_gate_open_across_the_upgrade_is_set_back_too(
    temporal, settings, portal_settings, transactional_db
):
    with a_run_set_back(temporal, settings) as (handle, set_back):
        first = projected_gate(handle)
        Gate.objects.filter(pk=first.pk).update(content_digest="")  # as a row written before digests
        set_back()
        wait_until(lambda: Gate.objects.get(pk=first.pk).rationale == SECOND_ANSWER)
        held = run_gate(temporal, handle)

    assert Gate.objects.get(pk=first.pk).content_digest == content_digest(held)


def test_a_row_reconcile_rebuilt_records_its_run_and_is_set_back(
    temporal, settings, portal_settings, transactional_db
):
    with a_run_set_back(temporal, settings) as (handle, set_back):
        first = projected_gate(handle)
        Gate.objects.filter(pk=first.pk).delete()  # lost: a restore from before it opened
        call_command("reconcile", task_queue=settings.TEMPORAL_TASK_QUEUE, stdout=StringIO())
        rebuilt = Gate.objects.get(pk=first.pk)
        set_back()
        wait_until(lambda: Gate.objects.get(pk=first.pk).rationale == SECOND_ANSWER)

    assert (rebuilt.run_id, rebuilt.content_digest) == (first.run_id, "")


def test_a_run_set_back_changes_no_decided_row_by_patch_and_says_so(transactional_db, caplog):
    opened = opened_gate()
    rejected = dataclasses.replace(
        opened, status="rejected", decided_by="officer", decision_id="decide:g:1", reason="No.", version=3
    )
    digest = content_digest(rejected)
    gate_apply_snapshot(snapshot=rejected, run="run-1", content=digest)
    # The reset run's own expiry and an operator's approval, each as a patch on the row's state.
    expired = dataclasses.replace(rejected, decided_by="system", reason="SLA expired.", version=4)
    approved = dataclasses.replace(
        rejected, status="approved", decided_by="admin", decision_id="d:2", version=4
    )

    for decided_again in (expired, approved):
        patched = gate_patch(rejected, decided_again)
        assert gate_apply_patch(patch=patched, run="run-2", content=digest, base_content=digest) is False
    row = Gate.objects.get(gate_id=opened.gate_id)
    assert (row.status, row.decided_by, row.reason, row.version) == ("rejected", "officer", "No.", 3)
    assert caplog.text.count("is not opened again") == 2


def test_a_request_for_changes_is_not_dropped_by_a_run_set_back(transactional_db, monkeypatch, caplog):
    monkeypatch.setattr(set_back_module, "calling_run_is_open", lambda: True)
    opened = opened_gate()
    sent_back = dataclasses.replace(
        opened, status="changes_requested", decided_by="officer", reason="Proof of income, please.", version=2
    )
    gate_apply_snapshot(snapshot=sent_back, run="run-1", content=content_digest(sent_back))
    answered_again = dataclasses.replace(opened, recommendation=Recommendation("approve", SECOND_ANSWER, []))

    taken = set_back_module.set_back(
        answered_again, chain="", run="run-2", content=content_digest(answered_again)
    )

    assert taken is False and "changes requested" in caplog.text
    assert Gate.objects.get(gate_id=opened.gate_id).status == "changes_requested"


def test_a_run_set_back_that_decides_at_the_rows_version_changes_no_decided_row(transactional_db, caplog):
    # Found by the fourth review: a reset drops the claims and notes after its point, so the run's
    # own decision (its SLA expiry) came at the decided row's version, answered "in sync".
    opened = opened_gate()
    approved = dataclasses.replace(
        opened, status="approved", decided_by="officer", decision_id="decide:g:1", reason="Fine.", version=5
    )
    digest = content_digest(approved)
    gate_apply_snapshot(snapshot=approved, run="run-1", content=digest)
    warned = dataclasses.replace(opened, version=4)
    expired = dataclasses.replace(
        warned, status="rejected", decided_by="system", reason="SLA expired.", version=5
    )

    assert (
        gate_apply_patch(patch=gate_patch(warned, expired), run="run-2", content=digest, base_content=digest)
        is False
    )
    assert gate_apply_snapshot(snapshot=expired, run="run-2", content=digest) is False

    row = Gate.objects.get(gate_id=opened.gate_id)
    assert (row.status, row.decided_by, row.reason) == ("approved", "officer", "Fine.")
    assert "rejected by system at version 5; the projection keeps approved by officer" in caplog.text
