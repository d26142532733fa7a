"""What a kept submission's run trusts (issue 12, attacker's review of the kept starts): its input
is sealed with the portal's secret and bound to its workflow id, so a changed, unsealed or copied
input is never started; the submitter, trusted keys and carried state are set afresh at the
start; an inactive submitter's run is not started; a submission Temporal refuses for good is
given up without holding up the rest; another user's form id is refused."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core import signing
from django.core.management import call_command
from temporalio.service import RPCError, RPCStatusCode

from agents.framework.types import AgentInput
from reviewer_portal.history.models import Submission
from reviewer_portal.inbox.management.commands import deliver_decisions
from reviewer_portal.intake import kept_inputs, pending_starts, services
from reviewer_portal.intake.kept_inputs import KEPT_INPUT_SALT, input_to_keep, kept_input
from reviewer_portal.intake.outcomes import RunNotStarted, RunQueued
from reviewer_portal.intake.pending_starts import pending_starts_run
from reviewer_portal.trust.keys import trusted_keys
from tests import test_pending_starts
from tests.conftest import logged_in, make_user
from tests.test_pending_starts import due_now, submit
from tests.test_start_path import LOAN

# The fixtures, shared with the kept starts' own tests.
busy, submitter = test_pending_starts.busy, test_pending_starts.submitter


def test_a_kept_input_changed_or_copied_in_the_database_is_never_started_and_the_rest_still_are(
    temporal, submitter, busy, caplog
):
    """Someone able to write to the database must not choose a run's policy, nor start one
    submission's run under another's id; the submitter reads that it was not started."""
    for _ in range(4):
        with pytest.raises(RunQueued):
            submit(submitter, str(uuid.uuid4()))
    busy.undo()
    changed, unsealed, copied, good = Submission.objects.order_by("submitted_at")
    forged = kept_input(changed.start_input, changed.workflow_id)
    forged.spec.approvals, forged.spec.gate = [], None
    resealed = input_to_keep(forged, changed.workflow_id)["sealed"]
    tampered = changed.start_input["sealed"].rsplit(":", 1)[0] + ":" + resealed.rsplit(":", 1)[1]
    Submission.objects.filter(pk=changed.pk).update(start_input={"sealed": tampered})
    Submission.objects.filter(pk=unsealed.pk).update(start_input=dataclasses.asdict(forged) | {"spec": "any"})
    Submission.objects.filter(pk=copied.pk).update(start_input=good.start_input)
    due_now()
    caplog.set_level(logging.WARNING, logger=pending_starts.__name__)

    started = pending_starts_run()
    if not started:  # CI once saw the good start unanswered: the loop leaves it for its next pass
        started = pending_starts_run()

    assert started == [good.workflow_id], caplog.text
    for refused in (changed, unsealed, copied):
        refused.refresh_from_db()
        assert (refused.started, refused.start_input) == (False, None)  # its case data dropped
        assert refused.start_error == "Its kept input was changed or damaged in the portal's database."
    page = logged_in(submitter).get("/history/submissions/").content.decode()
    assert page.count("Not started: Its kept input was changed or damaged") == 3
    assert caplog.text.count("its kept input is refused") == 3


def test_what_the_run_trusts_comes_from_the_portal_not_the_kept_input(temporal, submitter, busy):
    with pytest.raises(RunQueued):
        submit(submitter, str(uuid.uuid4()))
    busy.undo()
    due_now()

    [workflow_id] = pending_starts_run()

    run_input = started_input(temporal, workflow_id)
    assert (run_input.submitted_by, run_input.submitted_by_id) == (submitter.username, str(submitter.pk))
    assert [k.key_id for k in run_input.trusted_keys] == [k.key_id for k in trusted_keys()]
    assert run_input.carry is None


def test_an_inactive_submitter_s_kept_submission_is_not_started(temporal, submitter, busy):
    with pytest.raises(RunQueued):
        submit(submitter, str(uuid.uuid4()))
    busy.undo()
    submitter.is_active = False
    submitter.save()
    due_now()

    assert pending_starts_run() == []
    assert Submission.objects.get().start_error == "The account that submitted it is no longer active."


def test_a_submission_temporal_refuses_for_good_does_not_hold_up_the_others_and_is_given_up(
    settings, temporal, submitter, busy, monkeypatch
):
    for _ in range(2):
        with pytest.raises(RunQueued):
            submit(submitter, str(uuid.uuid4()))
    busy.undo()
    refused, good = Submission.objects.order_by("submitted_at")
    start = pending_starts.run_start

    async def too_large(workflow_id: str, agent_input: AgentInput) -> bool:
        if workflow_id == refused.workflow_id:
            raise RPCError("Blob data size exceeds limit.", RPCStatusCode.INVALID_ARGUMENT, b"")
        return await start(workflow_id, agent_input)

    monkeypatch.setattr(pending_starts, "run_start", too_large)
    monkeypatch.setattr(pending_starts, "MAX_ATTEMPTS", 2)
    due_now()

    assert pending_starts_run() == [good.workflow_id]  # the one behind it is not held up
    assert pending_starts_run() == []
    refused.refresh_from_db()
    assert (refused.start_attempts, refused.start_input) == (2, None)
    assert refused.start_error == "Temporal refused it: Blob data size exceeds limit."


def test_the_delivery_loop_delivers_decisions_whatever_the_kept_starts_do(monkeypatch, transactional_db):
    def broken() -> list[str]:
        raise RuntimeError("a bug in the kept starts")

    monkeypatch.setattr(deliver_decisions, "pending_starts_run", broken)

    call_command("deliver_decisions", stdout=StringIO())  # no exception: the pass completes


def test_another_users_form_id_never_starts_confirms_or_takes_over_their_submission(
    temporal, submitter, busy
):
    submission_id = str(uuid.uuid4())
    with pytest.raises(RunQueued):
        submit(submitter, submission_id)
    busy.undo()
    other = make_user("other-officer", "credit_officer")

    with pytest.raises(RunNotStarted, match="already sent by someone else"):
        submit(other, submission_id)

    kept = Submission.objects.get()
    assert (kept.submitted_by_id, kept.started) == (submitter.pk, False) and kept.start_input


@pytest.mark.parametrize(
    "kept",
    [
        None,
        "text",
        {"sealed": 3},
        {"sealed": signing.dumps({"workflow_id": "loan-x"}, salt=KEPT_INPUT_SALT)},
        {"sealed": signing.dumps({"workflow_id": "loan-x", "input": {"spec": 1}}, salt=KEPT_INPUT_SALT)},
        {"sealed": signing.dumps(["loan-x"], salt=KEPT_INPUT_SALT)},
        {"sealed": [":"]},
        {"sealed": {":": 1}},
    ],
    ids=["none", "text", "not-a-seal", "no-input", "not-an-input", "not-a-record", "a-list", "a-dict"],
)
def test_whatever_a_kept_input_holds_that_is_not_a_sealed_run_input_is_refused_as_such(kept):
    with pytest.raises(ValueError):
        kept_input(kept, "loan-x")


def test_odd_unicode_in_a_kept_case_reaches_the_run_unchanged(temporal, submitter, busy):
    """Through the seal (JSON, compressed, signed) and back: a name with emoji, combining marks,
    a 4-byte character and right-to-left text starts the run with exactly that name."""
    odd = "Zoë \u05e9\u05dc\u05d5\u05dd e\u0301 \U00020000 \U0001f600"
    with pytest.raises(RunQueued):
        services.intake_submit(
            agent="loans",
            values={**LOAN, "applicant_name": odd},
            submitted_by=submitter,
            submission_id=str(uuid.uuid4()),
        )
    busy.undo()
    due_now()

    [workflow_id] = pending_starts_run()

    run_input = started_input(temporal, workflow_id)
    assert odd in run_input.subject and odd in str(run_input.case.values())


def test_a_kept_submission_moved_to_another_user_in_the_database_is_not_started_as_theirs(
    temporal, submitter, busy
):
    """The submitter sealed with the input is the one the run is started for: a row's user
    changed in the database would otherwise decide who may not approve the case (four eyes)."""
    other = make_user("other-officer", "credit_officer")
    with pytest.raises(RunQueued):
        submit(submitter, str(uuid.uuid4()))
    busy.undo()
    Submission.objects.update(submitted_by=other)
    due_now()

    assert pending_starts_run() == []

    refused = Submission.objects.get()
    assert (refused.started, refused.start_input) == (False, None)
    assert refused.start_error == "Its kept input was changed or damaged in the portal's database."


@pytest.mark.parametrize("kept", [{"sealed": [":"]}, {"sealed": {":": 1}}], ids=["a-list", "a-dict"])
def test_a_kept_input_of_an_odd_shape_is_given_up_and_the_submissions_behind_it_start(
    temporal, submitter, busy, kept
):
    for _ in range(2):
        with pytest.raises(RunQueued):
            submit(submitter, str(uuid.uuid4()))
    busy.undo()
    odd, good = Submission.objects.order_by("submitted_at")
    Submission.objects.filter(pk=odd.pk).update(start_input=kept)
    due_now()

    assert pending_starts_run() == [good.workflow_id]
    odd.refresh_from_db()
    assert odd.start_error == "Its kept input was changed or damaged in the portal's database."


@pytest.mark.parametrize(
    "failure",
    [
        RPCError("Request unauthorized.", RPCStatusCode.UNAUTHENTICATED, b""),
        RPCError("Forbidden.", RPCStatusCode.PERMISSION_DENIED, b""),
        RPCError("Namespace loans is not found.", RPCStatusCode.NOT_FOUND, b""),
        KeyError("no payload key for the namespace"),
    ],
    ids=["unauthenticated", "permission-denied", "namespace-not-found", "not-temporal"],
)
def test_a_refusal_of_the_portal_not_of_one_submission_gives_up_none_of_them(
    temporal, submitter, busy, monkeypatch, failure, caplog
):
    """An expired API key, a namespace not there yet, a key missing from the portal's files: every
    submission would be refused alike, so none counts it, and all start once it is mended."""
    for _ in range(2):
        with pytest.raises(RunQueued):
            submit(submitter, str(uuid.uuid4()))
    busy.undo()
    start = pending_starts.run_start

    async def refused(workflow_id: str, agent_input: AgentInput) -> bool:
        raise failure

    monkeypatch.setattr(pending_starts, "run_start", refused)
    due_now()
    for _ in range(pending_starts.MAX_ATTEMPTS + 1):
        assert pending_starts_run() == []

    assert {(s.start_attempts, s.start_error) for s in Submission.objects.all()} == {(0, "")}
    monkeypatch.setattr(pending_starts, "run_start", start)
    caplog.set_level(logging.WARNING, logger=pending_starts.__name__)
    started = pending_starts_run()
    if len(started) < 2:  # CI once saw a start unanswered in its wave: left for the next pass
        started += pending_starts_run()
    assert len(started) == 2, caplog.text
    assert Submission.objects.filter(started=True).count() == 2


def test_a_kept_input_older_than_its_age_limit_is_given_up_not_started_on_an_old_policy(
    temporal, submitter, busy, monkeypatch
):
    """A seal carries its time: an input kept past KEPT_INPUT_MAX_AGE (through a long outage, or
    put back from a backup) is not started with the policy pinned when it was sent."""
    with pytest.raises(RunQueued):
        submit(submitter, str(uuid.uuid4()))
    busy.undo()
    monkeypatch.setattr(kept_inputs, "KEPT_INPUT_MAX_AGE", timedelta(seconds=-1))
    due_now()

    assert pending_starts_run() == []

    expired = Submission.objects.get()
    assert (expired.started, expired.start_input) == (False, None)
    assert expired.start_error == "It was kept too long without starting: send the form again."


def started_input(temporal, workflow_id: str) -> AgentInput:
    """The input the kept submission's run was started with, as its history holds it."""
    history = temporal.run(temporal.client.get_workflow_handle(workflow_id).fetch_history())
    payload = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    return temporal.run(temporal.client.data_converter.decode([payload], [AgentInput]))[0]
