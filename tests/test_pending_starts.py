"""A start Temporal was too busy to confirm (issue 12, found by the attacker's review): the run may
or may not have started, so the submission is kept with the run's input, the submitter is told it
starts without being sent again, and the delivery loop starts it, or finds it started, once.
Before, nothing was kept: a run that had started anyway had no submission (or, for a document, no
upload) for its submitter to follow, and one that had not was lost unless the form was sent again."""

from __future__ import annotations

import dataclasses
import io
import json
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.utils import timezone
from temporalio.client import WorkflowExecutionStatus

from reviewer_portal import temporal_client
from reviewer_portal.history.models import Submission
from reviewer_portal.intake import services
from reviewer_portal.intake.models import DocumentUpload
from reviewer_portal.intake.pending_starts import pending_starts_run
from reviewer_portal.intake.services import QUEUED, RunQueued, input_to_keep, intake_submit, kept_input
from tests.conftest import logged_in, make_user
from tests.test_start_path import LOAN

NEVER_IN_TIME = 1e-9  # the client loop gives up on the start before Temporal can answer


@pytest.fixture
def submitter(portal):
    return make_user("intake-officer", "credit_officer")


@pytest.fixture
def busy(monkeypatch):
    monkeypatch.setattr(services, "START_TIMEOUT_SECONDS", NEVER_IN_TIME)
    return monkeypatch


def submit(submitter, submission_id: str) -> str:
    return intake_submit(agent="loans", values=LOAN, submitted_by=submitter, submission_id=submission_id)


def status(temporal, workflow_id: str) -> WorkflowExecutionStatus | None:
    return temporal.run(temporal.client.get_workflow_handle(workflow_id).describe()).status


def due_now() -> None:
    """The delivery loop waits a few seconds before starting a kept submission: it is due."""
    Submission.objects.update(submitted_at=timezone.now() - timedelta(minutes=1))


def test_a_start_too_busy_to_confirm_is_kept_and_the_delivery_loop_starts_it_once(temporal, submitter, busy):
    submission_id = str(uuid.uuid4())
    with pytest.raises(RunQueued, match="you need not send it again"):
        submit(submitter, submission_id)
    kept = Submission.objects.get()
    assert not kept.started and kept_input(kept.start_input).submitted_by_id == str(submitter.pk)

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
    assert "Kept; starts shortly" in page


def test_a_kept_input_changed_in_the_database_is_never_started_and_the_rest_still_are(
    temporal, submitter, busy, caplog
):
    """Someone able to write to the database must not choose a run's policy or the keys it trusts."""
    for _ in range(3):
        with pytest.raises(RunQueued):
            submit(submitter, str(uuid.uuid4()))
    busy.undo()
    changed, unsealed, good = Submission.objects.order_by("submitted_at")
    forged = kept_input(changed.start_input)
    forged.spec.approvals, forged.trusted_keys = [], []
    resealed = {"sealed": changed.start_input["sealed"][:-6] + input_to_keep(forged)["sealed"][-6:]}
    Submission.objects.filter(pk=changed.pk).update(start_input=resealed)
    Submission.objects.filter(pk=unsealed.pk).update(
        start_input=json.loads(json.dumps(dataclasses.asdict(forged), default=str))
    )
    due_now()

    started = pending_starts_run()

    assert started == [good.workflow_id]
    assert caplog.text.count("or was changed; not started") == 2
    assert not Submission.objects.get(pk=changed.pk).started
    assert not Submission.objects.get(pk=unsealed.pk).started


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
