"""A start Temporal was too busy to confirm (issue 12, found by the attacker's review): the run may
or may not have started, so the submission is kept with the run's input, the submitter is told it
starts without being sent again, and the delivery loop starts it, or finds it started, once.
Before, nothing was kept: a run that had started anyway had no submission (or, for a document, no
upload) for its submitter to follow, and one that had not was lost unless the form was sent again."""

from __future__ import annotations

import asyncio
import io
import threading
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.utils import timezone
from temporalio.client import WorkflowExecutionStatus

from agents.framework.types import AgentInput
from reviewer_portal import temporal_client
from reviewer_portal.history.models import Submission
from reviewer_portal.history.selectors import STARTING
from reviewer_portal.intake import services
from reviewer_portal.intake.kept_inputs import kept_input
from reviewer_portal.intake.models import DocumentUpload
from reviewer_portal.intake.outcomes import QUEUED, RunQueued
from reviewer_portal.intake.pending_starts import pending_starts_run
from reviewer_portal.intake.services import intake_submit
from tests.conftest import logged_in, make_user
from tests.test_sidecar import poll_until
from tests.test_start_path import LOAN


@pytest.fixture
def submitter(portal):
    return make_user("intake-officer", "credit_officer")


@pytest.fixture
def busy(monkeypatch):
    """Temporal too busy to answer a start within the submitter's wait (the loop's own starts are
    the real ones); `busy.undo()` and it answers again."""

    async def unanswered(workflow_id: str, agent_input: AgentInput) -> bool:
        await asyncio.sleep(60)
        raise temporal_client.TemporalUnreachable("never answered")

    monkeypatch.setattr(services, "run_start", unanswered)
    monkeypatch.setattr(django_settings, "START_WAIT_SECONDS", 0.05)
    return monkeypatch


def submit(submitter, submission_id: str) -> str:
    return intake_submit(agent="loans", values=LOAN, submitted_by=submitter, submission_id=submission_id)


def status(temporal, workflow_id: str) -> WorkflowExecutionStatus | None:
    return temporal.run(temporal.client.get_workflow_handle(workflow_id).describe()).status


def due_now() -> None:
    """The delivery loop waits a few seconds before starting a kept submission: it is due."""
    Submission.objects.update(submitted_at=timezone.now() - timedelta(minutes=10))


def test_a_start_too_busy_to_confirm_is_kept_and_the_delivery_loop_starts_it_once(temporal, submitter, busy):
    submission_id = str(uuid.uuid4())
    with pytest.raises(RunQueued, match="may not have started yet") as queued:
        submit(submitter, submission_id)
    kept = Submission.objects.get()
    assert queued.value.workflow_id == kept.workflow_id
    assert not kept.started and kept_input(kept.start_input, kept.workflow_id).submitted_by_id == str(
        submitter.pk
    )

    busy.undo()  # Temporal answers again
    due_now()
    out = StringIO()
    call_command("deliver_decisions", stdout=out)
    call_command("deliver_decisions", stdout=StringIO())  # a second pass finds nothing to start

    kept.refresh_from_db()
    assert (kept.started, kept.start_input) == (True, None)
    assert f"started {kept.workflow_id}" in out.getvalue()
    assert status(temporal, kept.workflow_id) == WorkflowExecutionStatus.RUNNING
    # The same form sent again all the same: one run, one record.
    assert submit(submitter, submission_id) == kept.workflow_id
    assert Submission.objects.count() == 1


def test_a_start_confirmed_after_the_submitter_stopped_waiting_confirms_its_submission_itself(
    temporal, submitter, monkeypatch
):
    """The start is not given up when the wait ends (START_WAIT_SECONDS): it goes on, and marks the
    kept submission started when Temporal answers, without the delivery loop."""
    start = services.run_start
    temporal_answers = threading.Event()

    async def slow(workflow_id: str, agent_input: AgentInput) -> bool:
        await asyncio.to_thread(temporal_answers.wait, 30)
        return await start(workflow_id, agent_input)

    monkeypatch.setattr(services, "run_start", slow)
    monkeypatch.setattr(django_settings, "START_WAIT_SECONDS", 0.05)
    with pytest.raises(RunQueued):
        submit(submitter, str(uuid.uuid4()))

    kept = Submission.objects.get()
    assert not kept.started  # the submitter was answered before Temporal was
    temporal_answers.set()
    poll_until(lambda: Submission.objects.get().started, timeout=20)
    assert Submission.objects.get().started
    assert Submission.objects.get().start_input is None
    assert status(temporal, kept.workflow_id) == WorkflowExecutionStatus.RUNNING


def test_a_start_that_reached_temporal_but_answered_late_is_found_started_not_started_again(
    temporal, submitter, monkeypatch
):
    start = services.run_start
    reached = threading.Event()

    async def late(workflow_id: str, agent_input: AgentInput) -> bool:
        await start(workflow_id, agent_input)
        reached.set()
        await asyncio.sleep(60)  # the answer never comes back in time
        raise temporal_client.TemporalUnreachable("never answered")

    monkeypatch.setattr(services, "run_start", late)
    monkeypatch.setattr(django_settings, "START_WAIT_SECONDS", 0.05)
    with pytest.raises(RunQueued):
        submit(submitter, str(uuid.uuid4()))
    kept = Submission.objects.get()
    assert reached.wait(30)  # Temporal started it; its answer is what is lost
    assert status(temporal, kept.workflow_id) == WorkflowExecutionStatus.RUNNING
    due_now()

    # Confirmed by the loop, or already by the run itself: its gate, once projected, records it.
    assert pending_starts_run() in ([kept.workflow_id], [])
    kept.refresh_from_db()
    assert kept.started and kept.start_input is None
    history = temporal.run(temporal.client.get_workflow_handle(kept.workflow_id).fetch_history())
    assert sum(e.HasField("workflow_execution_started_event_attributes") for e in history.events) == 1


def test_the_same_form_sent_again_before_the_loop_confirms_the_kept_submission(temporal, submitter, busy):
    submission_id = str(uuid.uuid4())
    with pytest.raises(RunQueued):
        submit(submitter, submission_id)
    busy.undo()

    workflow_id = submit(submitter, submission_id)

    assert Submission.objects.get().started and Submission.objects.get().start_input is None
    assert status(temporal, workflow_id) == WorkflowExecutionStatus.RUNNING
    due_now()
    assert pending_starts_run() == []


def test_the_intake_page_says_the_submission_is_kept_and_the_history_shows_it_starting(
    temporal, submitter, busy
):
    client = logged_in(submitter)
    form = {**{k: str(v) for k, v in LOAN.items()}, "submission_id": str(uuid.uuid4())}

    response = client.post("/intake/loans/new/", form)

    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [QUEUED]
    page = client.get("/history/submissions/").content.decode()
    assert STARTING in page


def test_temporal_still_down_leaves_the_kept_submissions_for_the_next_pass(
    settings, temporal, submitter, busy
):
    with pytest.raises(RunQueued):
        submit(submitter, str(uuid.uuid4()))
    busy.undo()
    due_now()
    # The connection the given-up start began is made by now, then forgotten with the address.
    temporal_client.run_on_client_loop(temporal_client.get_client())
    settings.TEMPORAL_ADDRESS = "127.0.0.1:1"  # nothing listens there
    temporal_client.reset_client()

    assert pending_starts_run() == []
    assert not Submission.objects.get().started

    settings.TEMPORAL_ADDRESS = temporal.address
    temporal_client.reset_client()
    assert len(pending_starts_run()) == 1


def test_a_document_upload_too_busy_to_confirm_keeps_its_upload_for_the_uploader(temporal, portal, busy):
    alex = make_user("alex", "compliance_reviewer")
    submission_id = str(uuid.uuid4())
    file = io.BytesIO(b"1. Complaints\nYou can complain to us by phone.\n")
    file.name = "leaflet.txt"

    response = logged_in(alex).post(
        "/documents/new/", {"title": "Leaflet", "document": file, "submission_id": submission_id}
    )

    assert response.status_code == 302 and response.url == f"/documents/{submission_id}/"
    assert DocumentUpload.objects.get().workflow_id == f"regulatory-{submission_id}"
    assert not Submission.objects.get().started
    busy.undo()
    due_now()
    assert pending_starts_run() == [f"regulatory-{submission_id}"]
    assert status(temporal, f"regulatory-{submission_id}") is not None


def test_a_start_the_submitter_stopped_waiting_for_is_given_up_after_its_lifetime_then_the_loop_starts_it(
    temporal, submitter, busy, caplog
):
    """Background starts do not pile up while Temporal is slow: each ends after
    START_LIFETIME_SECONDS, and only then is its submission the delivery loop's."""
    busy.setattr(services, "START_LIFETIME_SECONDS", 0.2)
    with pytest.raises(RunQueued):
        submit(submitter, str(uuid.uuid4()))

    poll_until(lambda: "not started yet" in caplog.text, timeout=10)
    assert "not started yet (TimeoutError" in caplog.text
    busy.undo()
    kept = Submission.objects.get()
    assert not kept.started
    assert pending_starts_run() == []  # not due before the start's lifetime is surely over
    due_now()
    assert pending_starts_run() == [kept.workflow_id]
