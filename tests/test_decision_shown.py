"""A decision from the gate page is made on the gate as the page showed it (reviewer_portal.inbox.
seen): the form carries what the page showed, and a gate that has changed since in a way the
reviewer has not seen is not decided.

Found by the review of queued decisions: the page's form named the recommendation's revision
only, and the panel's live re-read is given up while a reviewer fills in the form, so a
colleague's note (or new evidence) that landed meanwhile was decided over unseen. Now the decision
is refused with nothing recorded, the notes and the case come back with it, the reviewer's words
are kept, and the next post, made on what they now see, goes through.
"""

from __future__ import annotations

import html
import re
import uuid

import pytest

from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.services import gate_annotate
from tests.conftest import decide, logged_in, make_user

SHOWN = re.compile(r'name="shown" value="([^"]*)"')
HTMX = {"HX-Request": "true"}
REASON = "Affordable on verified income — payslips checked \N{GRINNING FACE}."


@pytest.fixture
def officer(portal_settings):
    return make_user("officer", "credit_officer")


def shown_on(client, gate: Gate) -> str:
    """The token the gate page's decision form carries, once the reviewer has claimed the gate
    (before that, the panel offers the claim, not the form)."""
    client.post(
        f"/gates/{gate.gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers={"HX-Request": "true"}
    )
    page = client.get(f"/gates/{gate.gate_id}/").content.decode()
    return html.unescape(SHOWN.search(page).group(1))


def decisions() -> list[ActionAttempt]:
    return list(ActionAttempt.objects.filter(action="decide"))


def test_a_colleagues_note_added_while_the_page_was_open_stops_the_decision_until_read(loan_gate, officer):
    _, gate = loan_gate
    client = logged_in(officer)
    shown = shown_on(client, gate)
    note = gate_annotate(
        gate=gate,
        reviewer=make_user("colleague", "credit_officer"),
        text="Applicant called: income fell.",
        submission_id=str(uuid.uuid4()),
    )
    assert note.status == "accepted"

    response = decide(client, gate, reason=REASON, shown=shown)

    text = html.unescape(response.content.decode())
    assert response.status_code == 409
    assert "The gate changed since the page showed it (a colleague's note)" in text
    assert decisions() == []  # nothing recorded, nothing sent
    assert 'id="notes-list" hx-swap-oob="true"' in text and "Applicant called: income fell." in text
    assert REASON in text  # their words kept
    again = decide(client, gate, reason=REASON, shown=html.unescape(SHOWN.search(text).group(1)))
    assert again.status_code == 200
    assert [d.status for d in decisions()] == ["accepted"]


def test_the_panels_live_reread_brings_a_colleagues_note_along_with_the_new_form(loan_gate, officer):
    """A push re-reads the decision panel alone, which then carries a new token: without the note
    beside it, the reviewer would decide on a page that does not show it, and the new token would
    let the decision through. The re-read sends what the page showed, and gets what changed."""
    _, gate = loan_gate
    client = logged_in(officer)
    shown = shown_on(client, gate)
    gate_annotate(
        gate=gate,
        reviewer=make_user("colleague", "credit_officer"),
        text="Applicant called: income fell.",
        submission_id=str(uuid.uuid4()),
    )
    panel = f"/gates/{gate.gate_id}/"

    stale = html.unescape(
        client.get(panel, {"panel": "decision", "shown": shown}, headers=HTMX).content.decode()
    )
    current = html.unescape(SHOWN.search(stale).group(1))
    fresh = client.get(panel, {"panel": "decision", "shown": current}, headers=HTMX).content.decode()

    assert 'id="notes-list" hx-swap-oob="true"' in stale and "Applicant called: income fell." in stale
    assert current != shown
    assert "hx-swap-oob" not in fresh  # nothing changed since: the panel alone


def test_the_reviewers_own_note_and_claim_change_nothing_they_have_not_seen(loan_gate, officer):
    _, gate = loan_gate
    client = logged_in(officer)
    shown = shown_on(client, gate)
    gate_annotate(gate=gate, reviewer=officer, text="Payslips checked.", submission_id=str(uuid.uuid4()))

    response = decide(client, gate, reason=REASON, shown=shown)  # claims first, as the page does

    assert response.status_code == 200
    assert [d.status for d in decisions()] == ["accepted"]


@pytest.mark.parametrize(
    "shown",
    ["", "not-a-token", "v0.case-abc", "x" * 400],
    ids=["none (an older page)", "garbage", "another version", "long"],
)
def test_a_form_without_a_token_this_portal_wrote_is_decided_on_the_revision_alone(loan_gate, officer, shown):
    _, gate = loan_gate

    response = decide(logged_in(officer), gate, reason=REASON, shown=shown)

    assert response.status_code == 200
    assert [d.status for d in decisions()] == ["accepted"]


@pytest.mark.parametrize(
    "shown", ["v1.case-000000000000.notes-000000000000", "v1.notes-\u202eüñí"], ids=["forged", "odd unicode"]
)
def test_a_tampered_token_is_refused_with_nothing_recorded_and_the_page_gives_the_right_one(
    loan_gate, officer, shown
):
    _, gate = loan_gate
    client = logged_in(officer)

    refused = decide(client, gate, reason=REASON, shown=shown)

    assert refused.status_code == 409 and decisions() == []
    right = html.unescape(SHOWN.search(refused.content.decode()).group(1))
    assert decide(client, gate, reason=REASON, shown=right).status_code == 200
    assert [d.status for d in decisions()] == ["accepted"]


def test_an_oversize_token_is_a_form_error_with_nothing_recorded(loan_gate, officer):
    _, gate = loan_gate

    response = decide(logged_in(officer), gate, reason=REASON, shown="v1." + "case-0" * 200)

    assert response.status_code == 400 and decisions() == []


def test_a_changed_case_or_evidence_brings_the_case_column_along_and_nothing_else(loan_gate, officer):
    """What changed decides what comes along: the case column for the case, the recommendation
    or the evidence (here as if the page had shown other evidence), the notes for a note."""
    _, gate = loan_gate
    client = logged_in(officer)
    shown = re.sub(r"evidence-[0-9a-f]+", "evidence-000000000000", shown_on(client, gate))

    reread = client.get(f"/gates/{gate.gate_id}/", {"panel": "decision", "shown": shown}, headers=HTMX)

    text = reread.content.decode()
    assert 'id="gate-case" hx-swap-oob="true"' in text and "AI recommendation" in text
    assert 'id="notes-list"' not in text
