"""The same form sent again with other content (found by a review). A credit officer who pressed
Back, corrected the amount from 12,000 to 21,000 and sent the form again was told it was submitted,
and the run kept 12,000; while the first start was unconfirmed, the record took the new input
under the first subject and either start could win; an upload sent again with another file had
that file stored, and the page said it was being read, but only the first was ever reviewed, under
its title. Now a submission keeps a digest of its content: the same form with the same content is
the same submission, as before; with other content it is refused (409), nothing started, kept,
replaced or stored, as a reviewer's action reused with other content is (tests/test_outbox.py)."""

from __future__ import annotations

import hashlib
import io
import uuid
from typing import Any

import pytest
from django.contrib.messages import get_messages

from agents.loans.intake import LOAN_INTAKE
from agents.regulatory.documents import DocumentNotFound, DocumentStore
from reviewer_portal.domains import domain_of
from reviewer_portal.history import services as history_services
from reviewer_portal.history.models import Submission
from reviewer_portal.intake.kept_inputs import kept_input
from reviewer_portal.intake.models import DocumentUpload
from reviewer_portal.intake.outcomes import QUEUED, RunChanged, RunQueued
from reviewer_portal.intake.pending_starts import _give_up, pending_starts_run
from reviewer_portal.intake.services import intake_submit
from tests import test_pending_starts
from tests.conftest import logged_in, make_user
from tests.test_pending_starts import due_now
from tests.test_start_path import LOAN

busy, submitter = test_pending_starts.busy, test_pending_starts.submitter
CHANGED = "This form was already submitted with other values"
UPLOAD_CHANGED = "This form was already used to upload another file"
LEAFLET = b"1. Complaints\nYou can complain to us by phone.\n"
LEAFLET_V2 = b"1. Complaints\nYou can complain to us by phone or in writing.\n"


def form(submission_id: str, **changes: object) -> dict[str, str]:
    return {**{k: str(v) for k, v in {**LOAN, **changes}.items()}, "submission_id": submission_id}


def submit(user, submission_id: str, **changes: object) -> str:
    values = {**LOAN, **changes}
    return intake_submit(agent="loans", values=values, submitted_by=user, submission_id=submission_id)


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def run_case(temporal, workflow_id: str) -> dict[str, Any]:
    """The case the run under `workflow_id` was started with, as Temporal keeps it."""

    async def read() -> dict[str, Any]:
        history = await temporal.client.get_workflow_handle(workflow_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        [agent_input] = await temporal.client.data_converter.decode(started.input.payloads)
        return agent_input["case"]

    return temporal.run(read())


def kept_case(submission: Submission) -> dict[str, Any]:
    return kept_input(submission.start_input, submission.workflow_id).case


def test_a_loan_application_sent_again_with_another_amount_is_refused_and_the_run_keeps_the_first(
    temporal, submitter
):
    client = logged_in(submitter)
    submission_id = str(uuid.uuid4())
    assert client.post("/intake/loans/new/", form(submission_id)).status_code == 302

    response = client.post("/intake/loans/new/", form(submission_id, amount=21000))

    assert response.status_code == 409
    page = response.content.decode()
    assert CHANGED in page and 'value="21000' in page
    assert f'value="{submission_id}"' not in page  # sent again, the corrected form is a submission of its own
    submission = Submission.objects.get()
    assert submission.started and submission.subject.startswith("Ada Byron: 12,000 over")
    assert run_case(temporal, submission.workflow_id)["amount"] == 12000

    # The same form with the same values is still the same submission, as before.
    again = client.post("/intake/loans/new/", form(submission_id))
    assert again.status_code == 302 and messages_of(again) == [LOAN_INTAKE.submitted]
    assert Submission.objects.count() == 1


def test_a_kept_submission_sent_again_with_other_values_is_refused_and_its_kept_input_starts(
    temporal, submitter, busy
):
    client = logged_in(submitter)
    submission_id = str(uuid.uuid4())
    first = client.post("/intake/loans/new/", form(submission_id))
    assert first.status_code == 302 and messages_of(first) == [QUEUED]
    kept = Submission.objects.get()

    response = client.post("/intake/loans/new/", form(submission_id, amount=21000))

    assert response.status_code == 409 and CHANGED in response.content.decode()
    unchanged = Submission.objects.get()
    assert (unchanged.subject, unchanged.submitted_at) == (kept.subject, kept.submitted_at)
    assert kept_case(unchanged)["amount"] == 12000
    # The same values again are told "kept" once more, as before.
    again = client.post("/intake/loans/new/", form(submission_id))
    assert again.status_code == 302 and messages_of(again) == [QUEUED]

    busy.undo()
    due_now()
    assert pending_starts_run() == [kept.workflow_id]
    assert run_case(temporal, kept.workflow_id)["amount"] == 12000


def test_a_given_up_submission_sent_again_corrected_is_a_new_try_under_its_new_subject(
    temporal, submitter, busy
):
    """Nothing was started and its input is gone; its submitter was told nothing was submitted."""
    submission_id = str(uuid.uuid4())
    with pytest.raises(RunQueued):
        submit(submitter, submission_id)
    _give_up(Submission.objects.get(), "Temporal refused it: whatever.")

    with pytest.raises(RunQueued):
        submit(submitter, submission_id, amount=21000)

    kept = Submission.objects.get()
    assert kept.subject.startswith("Ada Byron: 21,000 over") and kept_case(kept)["amount"] == 21000
    with pytest.raises(RunChanged):
        submit(submitter, submission_id)  # the first values are not the kept ones any more
    busy.undo()
    due_now()
    assert pending_starts_run() == [kept.workflow_id]
    assert run_case(temporal, kept.workflow_id)["amount"] == 21000


def test_two_corrected_sends_of_a_given_up_form_at_once_keep_one_and_refuse_the_other(
    temporal, submitter, busy
):
    submission_id = str(uuid.uuid4())
    with pytest.raises(RunQueued):
        submit(submitter, submission_id)
    _give_up(Submission.objects.get(), "Temporal refused it: whatever.")
    real = Submission.objects.filter
    raced = []

    def filter(*args: object, **kwargs: object):
        """The other send keeps its values between this one's read and its update."""
        if not raced and {"pk", "content_digest"} <= kwargs.keys():
            raced.append(True)
            with pytest.raises(RunQueued):
                submit(submitter, submission_id, amount=30000)
        return real(*args, **kwargs)

    busy.setattr(history_services.Submission.objects, "filter", filter)

    with pytest.raises(RunChanged):
        submit(submitter, submission_id, amount=21000)

    assert raced and kept_case(Submission.objects.get())["amount"] == 30000


def test_a_started_submission_recorded_before_digests_were_kept_refuses_nothing_as_before(
    temporal, submitter
):
    submission_id = str(uuid.uuid4())
    submit(submitter, submission_id)
    Submission.objects.update(content_digest="")  # as the migration leaves the records before it

    submit(submitter, submission_id, amount=21000)  # told submitted, the run as it was: as before

    assert run_case(temporal, f"loan-{submission_id}")["amount"] == 12000


def test_a_kept_submission_recorded_before_digests_were_kept_takes_its_form_sent_again_as_before(
    temporal, submitter, busy
):
    submission_id = str(uuid.uuid4())
    with pytest.raises(RunQueued):
        submit(submitter, submission_id)
    Submission.objects.update(content_digest="")  # as the migration leaves the records before it

    with pytest.raises(RunQueued):
        submit(submitter, submission_id, amount=21000)  # kept afresh, as before, and its digest with it

    assert kept_case(Submission.objects.get())["amount"] == 21000
    with pytest.raises(RunChanged):
        submit(submitter, submission_id, amount=30000)


@pytest.fixture
def uploader(portal):
    return make_user("alex", "compliance_reviewer")


@pytest.fixture
def document_store(tmp_path, monkeypatch) -> DocumentStore:
    monkeypatch.setenv("DOCUMENT_STORE_DIR", str(tmp_path / "documents"))
    return DocumentStore.from_env(domain_of("regulatory").namespace)


def upload(user, submission_id: str, data: bytes = LEAFLET, title: str = "Leaflet"):
    file = io.BytesIO(data)
    file.name = "leaflet.txt"
    return logged_in(user).post(
        "/documents/new/", {"title": title, "document": file, "submission_id": submission_id}
    )


def stored(store: DocumentStore, data: bytes) -> bool:
    try:
        return store.upload(hashlib.sha256(data).hexdigest()) == data
    except DocumentNotFound:
        return False


@pytest.mark.parametrize(
    ("data", "title"), [(LEAFLET_V2, "Leaflet"), (LEAFLET, "Complaints leaflet")], ids=["file", "title"]
)
def test_an_upload_sent_again_with_another_file_or_title_is_refused_and_not_stored(
    temporal, uploader, document_store, data, title
):
    submission_id = str(uuid.uuid4())
    assert upload(uploader, submission_id).status_code == 302

    response = upload(uploader, submission_id, data, title)

    assert response.status_code == 409
    page = response.content.decode()
    assert UPLOAD_CHANGED in page and f'value="{submission_id}"' not in page  # but listed as uploaded
    assert "Document uploaded" not in " ".join(messages_of(response))
    assert (DocumentUpload.objects.get().title, Submission.objects.get().subject) == (
        "Leaflet",
        "Regulatory review: Leaflet",
    )
    assert (
        run_case(temporal, f"regulatory-{submission_id}")["upload_id"] == hashlib.sha256(LEAFLET).hexdigest()
    )
    assert stored(document_store, data) == (data == LEAFLET)
    # The same file under the same title is still the same upload, as before.
    assert upload(uploader, submission_id).status_code == 302


def test_a_kept_upload_sent_again_with_another_file_is_refused_and_its_own_file_reviewed(
    temporal, uploader, document_store, busy
):
    submission_id = str(uuid.uuid4())
    assert upload(uploader, submission_id).status_code == 302  # kept

    response = upload(uploader, submission_id, LEAFLET_V2)

    assert response.status_code == 409 and UPLOAD_CHANGED in response.content.decode()
    assert not stored(document_store, LEAFLET_V2)
    busy.undo()
    due_now()
    assert pending_starts_run() == [f"regulatory-{submission_id}"]
    assert (
        run_case(temporal, f"regulatory-{submission_id}")["upload_id"] == hashlib.sha256(LEAFLET).hexdigest()
    )


def test_a_given_up_upload_sent_again_with_another_file_names_that_file_on_its_record(
    temporal, uploader, document_store, busy
):
    submission_id = str(uuid.uuid4())
    assert upload(uploader, submission_id).status_code == 302  # kept
    _give_up(Submission.objects.get(), "Temporal refused it: whatever.")

    assert upload(uploader, submission_id, LEAFLET_V2, "Leaflet v2").status_code == 302  # kept afresh

    assert DocumentUpload.objects.get().title == "Leaflet v2"
    assert Submission.objects.get().subject == "Regulatory review: Leaflet v2"
