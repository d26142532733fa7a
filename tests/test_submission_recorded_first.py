"""A submission is recorded before its run is started (issue 12, the attacker's review of the kept
starts), as a reviewer's action is recorded before it is sent. Before, the start came first and
the record after it: a database that failed in between answered 500 for a run that existed with
no record (or, kept, left nothing at all), and a fresh page then started a second run; an answer
Temporal lost after starting the run said "nothing was submitted"; a run started outside the
portal could be recorded as anyone's who sent its id; a given-up submission sent again was told
"kept" with nothing kept."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError
from django.utils import timezone
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from agents.framework.types import AgentInput
from reviewer_portal.history import services as history_services
from reviewer_portal.history.models import Submission
from reviewer_portal.intake import pending_starts, services
from reviewer_portal.intake.outcomes import RunNotStarted, RunOfAnother, RunQueued
from reviewer_portal.intake.pending_starts import pending_starts_run
from tests import test_pending_starts
from tests.conftest import loan_input, logged_in, make_user
from tests.test_pending_starts import due_now, submit
from tests.test_start_path import LOAN

busy, submitter = test_pending_starts.busy, test_pending_starts.submitter
LOCKED = OperationalError("database is locked")


def locked(**kwargs: object) -> None:
    raise LOCKED


def form(submission_id: str) -> dict[str, str]:
    return {**{k: str(v) for k, v in LOAN.items()}, "submission_id": submission_id}


def runs(temporal, workflow_id: str) -> list[WorkflowExecutionStatus | None]:
    """The status of the run under `workflow_id`, if Temporal has one (one at most: a workflow id
    is never reused for a second run)."""
    try:
        return [temporal.run(temporal.client.get_workflow_handle(workflow_id).describe()).status]
    except RPCError as err:
        assert err.status == RPCStatusCode.NOT_FOUND
        return []


def test_a_database_that_cannot_record_the_submission_starts_nothing_and_keeps_the_form(
    temporal, submitter, monkeypatch
):
    monkeypatch.setattr(services, "submission_record", locked)
    submission_id = str(uuid.uuid4())

    response = logged_in(submitter).post("/intake/loans/new/", form(submission_id))

    assert response.status_code == 503
    page = response.content.decode()
    assert "could not record your submission right now, so nothing was submitted" in page
    assert submission_id in page  # the same form, sent again, is the same submission
    assert runs(temporal, f"loan-{submission_id}") == []
    assert not Submission.objects.exists()


def test_a_database_that_fails_after_the_start_still_tells_the_submitter_and_the_loop_confirms_it(
    temporal, submitter, monkeypatch
):
    monkeypatch.setattr(services, "submission_started", locked)
    submission_id = str(uuid.uuid4())

    response = logged_in(submitter).post("/intake/loans/new/", form(submission_id))

    assert response.status_code == 302  # submitted: the run exists
    kept = Submission.objects.get()
    assert (kept.started, kept.submitted_by_id) == (False, submitter.pk) and kept.start_input
    monkeypatch.undo()
    due_now()
    assert pending_starts_run() == [kept.workflow_id]  # found started, not started again
    assert Submission.objects.get().started
    assert runs(temporal, kept.workflow_id) == [WorkflowExecutionStatus.RUNNING]


@pytest.mark.parametrize(
    "status",
    [
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.UNKNOWN,
        RPCStatusCode.INTERNAL,
    ],
)
def test_an_answer_lost_after_temporal_started_the_run_keeps_the_submission(
    temporal, submitter, monkeypatch, status
):
    start = services.run_start

    async def lost_answer(workflow_id: str, agent_input: AgentInput) -> bool:
        await start(workflow_id, agent_input)
        raise RPCError("connection reset", status, b"")

    monkeypatch.setattr(services, "run_start", lost_answer)

    submission_id = str(uuid.uuid4())
    with pytest.raises(RunQueued, match="Your submission is kept"):
        submit(submitter, submission_id)

    workflow_id = f"loan-{submission_id}"
    assert not Submission.objects.get().started
    monkeypatch.undo()
    due_now()
    assert pending_starts_run() == [workflow_id]
    assert runs(temporal, workflow_id) == [WorkflowExecutionStatus.RUNNING]


def test_a_run_started_outside_the_portal_is_not_recorded_as_whoever_sends_its_id(temporal, portal):
    submission_id = str(uuid.uuid4())
    temporal.run(
        temporal.client.start_workflow(
            "AgentWorkflow", loan_input(submitted_by="intake"), id=f"loan-{submission_id}", task_queue=portal
        )
    )
    mallory = make_user("mallory", "credit_officer")

    with pytest.raises(RunOfAnother, match="already sent by someone else"):
        submit(mallory, submission_id)

    assert not Submission.objects.exists()  # the gate records the run's own submitter


def test_a_kept_submission_whose_id_names_a_run_started_outside_the_portal_is_given_up_not_confirmed(
    temporal, portal, busy
):
    submission_id = str(uuid.uuid4())
    mallory = make_user("mallory", "credit_officer")
    with pytest.raises(RunQueued):
        submit(mallory, submission_id)
    busy.undo()
    temporal.run(
        temporal.client.start_workflow(
            "AgentWorkflow", loan_input(submitted_by="intake"), id=f"loan-{submission_id}", task_queue=portal
        )
    )
    due_now()

    assert pending_starts_run() == []

    kept = Submission.objects.get()
    assert (kept.started, kept.start_input) == (False, None)
    assert kept.start_error == "Its form's id belongs to a run someone else started."


def test_a_given_up_submission_sent_again_while_temporal_is_busy_is_kept_again(temporal, submitter, busy):
    submission_id = str(uuid.uuid4())
    with pytest.raises(RunQueued):
        submit(submitter, submission_id)
    pending_starts._give_up(Submission.objects.get(), "Temporal refused it: whatever.")

    with pytest.raises(RunQueued, match="Your submission is kept"):
        submit(submitter, submission_id)

    kept = Submission.objects.get()
    assert kept.start_input and (kept.start_error, kept.start_attempts) == ("", 0)
    busy.undo()
    due_now()
    assert pending_starts_run() == [kept.workflow_id]


def test_a_kept_submission_sent_again_that_temporal_refuses_for_itself_is_told_so_and_given_up(
    temporal, submitter, busy
):
    """Before, a resent form was told "kept" whatever Temporal answered: one it refused for its
    input went on being tried, and refused, for 20 passes of the delivery loop."""
    submission_id = str(uuid.uuid4())
    with pytest.raises(RunQueued):
        submit(submitter, submission_id)

    async def refused(workflow_id: str, agent_input: AgentInput) -> bool:
        raise RPCError("Blob data size exceeds limit.", RPCStatusCode.INVALID_ARGUMENT, b"")

    busy.setattr(services, "run_start", refused)
    with pytest.raises(RunNotStarted, match=r"Temporal refused it \(Blob data size exceeds limit.\)"):
        submit(submitter, submission_id)

    given_up = Submission.objects.get()
    assert (given_up.started, given_up.start_input) == (False, None)
    assert given_up.start_error == "Temporal refused it: Blob data size exceeds limit."
    due_now()
    assert pending_starts_run() == []  # not tried again


def test_another_users_form_id_is_a_conflict_and_the_form_comes_back_with_an_id_of_ones_own(
    temporal, submitter, busy
):
    submission_id = str(uuid.uuid4())
    with pytest.raises(RunQueued):
        submit(submitter, submission_id)
    other = make_user("other-officer", "credit_officer")

    response = logged_in(other).post("/intake/loans/new/", form(submission_id))

    assert response.status_code == 409
    page = response.content.decode()
    assert "already sent by someone else" in page and LOAN["applicant_name"] in page
    assert submission_id not in page  # sent again, it is the other user's own submission
    assert Submission.objects.get().submitted_by_id == submitter.pk


def test_a_form_sent_twice_whose_first_send_forgot_its_record_meanwhile_is_kept_by_the_second(
    temporal, submitter, monkeypatch
):
    """A double click while Temporal is down: the first send, which made the record, forgets it as
    the second finds it. The second must keep a record of its own before it says "kept"."""
    submission_id = str(uuid.uuid4())

    async def refused(workflow_id: str, agent_input: AgentInput) -> bool:
        raise RPCError("connection reset", RPCStatusCode.UNAVAILABLE, b"")

    monkeypatch.setattr(services, "run_start", refused)
    with pytest.raises(RunQueued):
        submit(submitter, submission_id)  # the first send: kept
    monkeypatch.setattr(history_services.Submission.objects, "filter", _deleting_before_update(submission_id))

    with pytest.raises(RunQueued, match="Your submission is kept"):
        submit(submitter, submission_id)

    assert Submission.objects.filter(workflow_id=f"loan-{submission_id}", started=False).exists()


def _deleting_before_update(submission_id: str):
    """Submission.objects.filter, whose first update (the record kept afresh) finds the row gone:
    the first send forgot it between the second's read and its update."""
    real = Submission.objects.filter
    state = {"deleted": False}

    def filter(*args: object, **kwargs: object):
        queryset = real(*args, **kwargs)
        if not state["deleted"] and "started" in kwargs and "pk" in kwargs:
            state["deleted"] = True
            real(workflow_id=f"loan-{submission_id}").delete()
        return queryset

    return filter


def test_a_start_that_fails_in_the_portal_before_reaching_temporal_starts_nothing_and_keeps_nothing(
    temporal, submitter, monkeypatch
):
    async def no_payload_key(workflow_id: str, agent_input: AgentInput) -> bool:
        raise ImproperlyConfigured("No payload key for namespace loans")

    monkeypatch.setattr(services, "run_start", no_payload_key)
    submission_id = str(uuid.uuid4())

    response = logged_in(submitter).post("/intake/loans/new/", form(submission_id))

    assert response.status_code == 503
    assert "The run could not be started, so nothing was submitted." in response.content.decode()
    assert not Submission.objects.exists()


def test_a_form_id_naming_a_run_started_outside_the_portal_with_no_input_is_another_s(temporal, portal):
    submission_id = str(uuid.uuid4())
    temporal.run(
        temporal.client.start_workflow("AgentWorkflow", id=f"loan-{submission_id}", task_queue="nobody")
    )

    with pytest.raises(RunOfAnother):
        submit(make_user("mallory", "credit_officer"), submission_id)

    assert not Submission.objects.exists()


def test_another_users_upload_id_is_a_conflict_and_the_upload_form_comes_back_with_an_id_of_ones_own(
    temporal, portal, busy
):
    submission_id = str(uuid.uuid4())

    def upload(user: object) -> Any:
        file = io.BytesIO(b"1. Complaints\nYou can complain to us by phone.\n")
        file.name = "leaflet.txt"
        return logged_in(user).post(
            "/documents/new/", {"title": "Leaflet", "document": file, "submission_id": submission_id}
        )

    assert upload(make_user("alex", "compliance_reviewer")).status_code == 302  # kept
    response = upload(make_user("blake", "compliance_reviewer"))

    assert response.status_code == 409
    page = response.content.decode()
    assert "already sent by someone else" in page and submission_id not in page


def test_the_delivery_loop_leaves_a_kept_submission_alone_while_its_own_start_may_still_succeed(
    temporal, submitter, busy, settings
):
    with pytest.raises(RunQueued):
        submit(submitter, str(uuid.uuid4()))
    settings.START_WAIT_SECONDS = 15.0  # the submitter's wait, then START_LIFETIME_SECONDS more
    Submission.objects.update(submitted_at=timezone.now() - timedelta(seconds=70))

    assert pending_starts_run() == []
