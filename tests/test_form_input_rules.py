"""The reviewer's forms refuse what the workflow refuses, up front and in its words, and nothing
else: the inbox's decision, note and bulk forms, and the regulatory upload.

A refusal comes back as a 400 with nothing recorded, so a reviewer is never told an action is
"recorded and will be sent" (during a Temporal outage: `outage` below) that the run refuses
later. Each test named for a bug failed before its fix; its docstring says what happened then.
"""

from __future__ import annotations

import html
import io
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from agents.framework.input_rules import action_input_refusal
from agents.framework.reviewer_actions import AnnotateInput
from agents.regulatory.documents import STORE_DIR_ENV
from reviewer_portal import temporal_client
from reviewer_portal.inbox.bulk import BulkDecisionForm
from reviewer_portal.inbox.forms import AnnotationForm, DecisionForm
from reviewer_portal.inbox.models import ActionAttempt
from reviewer_portal.intake.models import DocumentUpload
from reviewer_portal.intake.regulatory import DocumentUploadForm
from tests.actions import decide_input, person_id
from tests.conftest import decide, logged_in, make_user
from tests.test_inbox import make_gate

HTMX = {"HX-Request": "true"}
PROPOSED = "Proof of income before payout.\nPayslips for three months.\n"
# Invisible characters: a bidi override ("Trojan source"), a zero-width space, a byte-order mark.
INVISIBLE = ["\u202e", "\u200b", "\ufeff"]


@pytest.fixture
def outage(settings, transactional_db):
    """Temporal out of reach: what the portal records is "recorded and will be sent"."""
    settings.TEMPORAL_ADDRESS = "127.0.0.1:1"  # nothing listens there
    temporal_client.reset_client()
    yield
    temporal_client.reset_client()


@pytest.fixture
def officer(outage):
    return make_user("officer", "credit_officer")


def editable_gate(proposed: str = PROPOSED):
    """A projected loan gate whose `conditions` a reviewer may edit (no run behind it)."""
    return make_gate(editable=["conditions"], proposal={"conditions": proposed})


def as_browser_sends(text: str) -> str:
    """A textarea's text as a browser posts it back untouched: each line ending as CRLF."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def decision_form(decision: str, proposed: str, **data: str) -> DecisionForm:
    post = {"decision": decision, "submission_id": str(uuid.uuid4()), "revision": "0", **data}
    return DecisionForm(post, editable=["conditions"], proposal={"conditions": proposed})


def bulk(client, gate_ids: list[str], decision: str = "approve", **fields: str):
    data = {"gate_ids": gate_ids, "decision": decision, "submission_id": str(uuid.uuid4()), **fields}
    return client.post("/bulk/", data, headers=HTMX)


def page_text(response) -> str:
    return html.unescape(response.content.decode())


# --- 1. An untouched field is no edit ---------------------------------------------------------


@pytest.mark.parametrize(
    "proposed",
    [
        PROPOSED,
        "  Indented, with trailing spaces  ",
        "\nA blank first line",
        "Windows\r\nlines\r\n",
        "Old\rMac",
    ],
    ids=["trailing-newline", "spaces", "leading-newline", "crlf", "lone-cr"],
)
def test_bug_1_a_field_sent_back_as_proposed_is_no_edit(proposed):
    """Before: the field was stripped (and a lone CR kept), so it differed from the proposal and
    counted as an edit, which the workflow refuses with a rejection ("Edits go with an approval")."""
    form = decision_form(
        "reject", proposed, reason="Income not verified", edit_conditions=as_browser_sends(proposed)
    )

    assert form.is_valid(), form.errors
    assert form.edits() == {}


def test_bug_1_an_approval_sends_the_reviewers_text_as_written_line_endings_normalised():
    form = decision_form("approve", PROPOSED, edit_conditions="Payslips for three months.\r\n\r\n")

    assert form.is_valid(), form.errors
    assert form.edits() == {"conditions": "Payslips for three months.\n\n"}


def test_bug_1_a_field_the_post_leaves_out_is_no_edit():
    form = decision_form("request_changes", PROPOSED, reason="Check the payslips")

    assert form.is_valid(), form.errors
    assert form.edits() == {}


def test_bug_1_a_rejection_that_leaves_the_fields_as_proposed_is_recorded_without_edits(officer):
    """Before: recorded (and signed) with edits {"conditions": <the proposal, stripped>}, which
    the run refuses: "Edits go with an approval; a rejection leaves the proposal as it was."."""
    gate = editable_gate()

    response = decide(
        logged_in(officer),
        gate,
        "reject",
        reason="Income not verified",
        edit_conditions=as_browser_sends(PROPOSED),
    )

    assert "Your rejection is recorded and will be sent" in page_text(response)
    [attempt] = ActionAttempt.objects.filter(action="decide")
    assert (attempt.decision, attempt.edits) == ("reject", {})


@pytest.mark.parametrize(("decision", "verb"), [("reject", "reject"), ("request_changes", "request changes")])
def test_bug_1_a_change_with_other_than_an_approval_is_refused_on_its_field(officer, decision, verb):
    """Refused with a 400 naming the field, nothing recorded. Before: recorded and "will be
    sent", for the run to refuse ("Edits go with an approval")."""
    gate = editable_gate()

    response = decide(
        logged_in(officer), gate, decision, reason="Income not verified", edit_conditions="Payslips only"
    )

    assert response.status_code == 400
    assert (
        f"You changed “Conditions”, and edits go with an approval: undo the change to {verb}."
        in page_text(response)
    )
    assert not ActionAttempt.objects.exists()


# --- 2. The reviewer's text, by the workflow's input rules ------------------------------------


def _decide_refusal(**fields: object) -> str | None:
    return action_input_refusal(decide_input("loan-test--g1", **fields))


def _note_refusal(text: str) -> str | None:
    note = AnnotateInput(
        "loan-test--g1",
        text,
        "officer",
        ["credit_officer"],
        reviewer_id=person_id("officer"),
        action_id="a:1",
    )
    return action_input_refusal(note)


@pytest.mark.parametrize("char", INVISIBLE, ids=["bidi-override", "zero-width-space", "bom"])
def test_bug_2_a_decision_reason_with_invisible_characters_is_refused_in_the_workflows_words(officer, char):
    """Refused with a 400, nothing recorded. Before: recorded and "will be sent", then refused
    by the run."""
    reason = f"Income {char}not verified"
    gate = make_gate()

    response = decide(logged_in(officer), gate, "reject", reason=reason)

    assert response.status_code == 400
    words = _decide_refusal(decision="reject", reason=reason)
    assert words == f"The reason contains invisible characters (U+{ord(char):04X})."
    assert words in page_text(response)
    assert not ActionAttempt.objects.exists()


@pytest.mark.parametrize("char", INVISIBLE, ids=["bidi-override", "zero-width-space", "bom"])
def test_bug_2_an_edit_with_invisible_characters_is_refused_in_the_workflows_words(officer, char):
    edited = f"Payslips {char}for three months."
    gate = editable_gate()

    response = decide(logged_in(officer), gate, "approve", reason="Fine", edit_conditions=edited)

    assert response.status_code == 400
    words = _decide_refusal(reason="Fine", edits={"conditions": edited})
    assert words == f"The edited 'conditions' contains invisible characters (U+{ord(char):04X})."
    assert words in page_text(response)
    assert not ActionAttempt.objects.exists()


@pytest.mark.parametrize("char", INVISIBLE, ids=["bidi-override", "zero-width-space", "bom"])
def test_bug_2_a_note_with_invisible_characters_is_refused_in_the_workflows_words(officer, char):
    text = f"Called the {char}employer"
    gate = make_gate()

    response = logged_in(officer).post(
        f"/gates/{gate.gate_id}/annotate/", {"text": text, "submission_id": str(uuid.uuid4())}, headers=HTMX
    )

    assert response.status_code == 400
    words = _note_refusal(text)
    assert words == f"The note contains invisible characters (U+{ord(char):04X})."
    assert words in page_text(response)
    assert not ActionAttempt.objects.exists()


@pytest.mark.parametrize("char", INVISIBLE, ids=["bidi-override", "zero-width-space", "bom"])
def test_bug_2_a_bulk_reason_with_invisible_characters_is_refused_in_the_workflows_words(officer, char):
    details = f"Low risk {char}throughout"
    gate = make_gate()

    response = bulk(logged_in(officer), [gate.gate_id], reason_text=details)

    assert response.status_code == 400
    words = _decide_refusal(reason=details)
    assert words == f"The reason contains invisible characters (U+{ord(char):04X})."
    assert words in page_text(response)
    assert not ActionAttempt.objects.exists()


def test_bug_2_control_characters_are_refused_in_each_form_as_by_the_workflow():
    bell = "Ring \x07 twice"
    forms = {
        "reason": decision_form("reject", PROPOSED, reason=bell),
        "edit_conditions": decision_form("approve", PROPOSED, edit_conditions=bell),
        "text": AnnotationForm({"text": bell, "submission_id": str(uuid.uuid4())}),
        "reason_text": BulkDecisionForm(
            {
                "gate_ids": ["loan-test--g1"],
                "decision": "approve",
                "reason_text": bell,
                "submission_id": str(uuid.uuid4()),
            }
        ),
    }

    errors = {field: form.errors.get(field) for field, form in forms.items()}

    assert errors == {
        "reason": [_decide_refusal(reason=bell)],
        "edit_conditions": [_decide_refusal(edits={"conditions": bell})],
        "text": [_note_refusal(bell)],
        "reason_text": [_decide_refusal(reason=bell)],
    }
    assert _note_refusal(bell) == "The note contains control characters."


def test_the_forms_take_all_the_workflow_takes():
    """Multiline text, tabs, and the format characters languages need (joiners, direction marks,
    the soft hyphen) pass as they pass the workflow; so does an untouched field whose proposal
    holds an invisible character, for only changed fields are sent."""
    text = "First line\r\nsecond\tline: \u05e9\u05dc\u05d5\u05dd\u200f, \u0915\u094d\u200d\u0937, co\u00adop"
    assert _decide_refusal(decision="reject", reason=text, edits={}) is None
    assert _note_refusal(text) is None
    forms = [
        decision_form("reject", PROPOSED, reason=text),
        decision_form("approve", PROPOSED, edit_conditions=text),
        decision_form("reject", "Agent\u200b text", reason="No", edit_conditions="Agent\u200b text"),
        AnnotationForm({"text": text, "submission_id": str(uuid.uuid4())}),
        BulkDecisionForm(
            {
                "gate_ids": ["loan-test--g1"],
                "decision": "approve",
                "reason_text": text,
                "submission_id": str(uuid.uuid4()),
            }
        ),
    ]

    assert [form.errors for form in forms] == [{}] * len(forms)


# --- 3. Gate ids in a bulk selection -----------------------------------------------------------


@pytest.mark.parametrize(
    "odd_id",
    ["loan-test-0001--g1\x00", "loan-test-\u202e-g1", "loan/../--g1", "x" * 201],
    ids=["nul", "bidi-override", "path", "too-long"],
)
def test_bug_3_a_malformed_gate_id_in_a_bulk_selection_refuses_the_whole_of_it(officer, odd_id):
    """Refused with a 400, nothing recorded or sent, not even for the well-formed ids beside it.
    Before: the id went to the database (a NUL is a 500 on PostgreSQL) and the rest were sent."""
    gate = make_gate()

    response = bulk(logged_in(officer), [gate.gate_id, odd_id])

    assert response.status_code == 400
    assert "The selection holds a malformed gate id." in page_text(response)
    assert not ActionAttempt.objects.exists()


# --- 4. A document's title -----------------------------------------------------------------------


@pytest.fixture
def uploader(outage, tmp_path, monkeypatch):
    monkeypatch.setenv(STORE_DIR_ENV, str(tmp_path / "documents"))
    return logged_in(make_user("alex", "compliance_reviewer"))


def upload(client, title: str):
    file = io.BytesIO(b"1. Complaints\nYou can complain to us by phone.\n")
    file.name = "leaflet.txt"
    form = {"title": title, "document": file, "submission_id": str(uuid.uuid4())}
    return client.post("/documents/new/", form)


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("Flexi \u202eSaver", "The title contains invisible characters (U+202E)."),
        ("Flexi\u200bSaver", "The title contains invisible characters (U+200B)."),
        ("\ufeffFlexi Saver", "The title contains invisible characters (U+FEFF)."),
        ("Flexi Saver\x1b[2J", "The title contains control characters."),
        ("Flexi\nSaver", "The title contains control characters."),
        (
            "\u200e\u200f\u00ad",
            "The title has nothing visible in it: write one, or leave it empty for the file name.",
        ),
    ],
    ids=["bidi-override", "zero-width-space", "bom", "escape", "newline", "only-invisible"],
)
def test_bug_4_a_title_that_reads_otherwise_than_it_says_is_refused(uploader, tmp_path, title, message):
    """Refused with a 400: nothing stored, no run started, no upload recorded. Before: the title
    became the subject colleagues read in their inbox."""
    response = upload(uploader, title)

    assert response.status_code == 400
    assert message in page_text(response)
    assert not (tmp_path / "documents").exists()
    assert not DocumentUpload.objects.exists()


def test_a_title_in_a_right_to_left_script_is_taken():
    document = SimpleUploadedFile("leaflet.txt", b"1. Complaints\n")
    title = "\u05e9\u05dc\u05d5\u05dd\u200f leaflet"
    form = DocumentUploadForm({"title": title, "submission_id": str(uuid.uuid4())}, {"document": document})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["title"] == title


@pytest.mark.parametrize("emptied", ["", "   ", "\r\n\r\n"], ids=["empty", "spaces", "blank-lines"])
def test_an_edit_emptied_on_approval_is_refused_in_the_workflows_words(emptied):
    """The run refuses an edited field with nothing in it; the form now says so first (it used to
    record the approval, to be refused by the run, or later, after an outage)."""
    form = decision_form("approve", PROPOSED, edit_conditions=emptied)
    assert not form.is_valid()
    assert form.errors["edit_conditions"] == ["The edited 'conditions' must be non-empty text."]
