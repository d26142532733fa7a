"""A bulk decision applies to each gate as the inbox showed it (reviewer_portal.inbox.services): a
gate that changed since the table was drawn (say, the agent revised its recommendation after a
colleague asked for changes) is refused by the portal, with nothing sent, since the reviewer never
saw what they would be approving; the others go ahead. A tampered version is refused the same way."""

from __future__ import annotations

import re
import uuid

from django.utils import timezone

from agents.framework.types import Revision
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.inbox.models import ActionAttempt
from reviewer_portal.inbox.projection import gate_apply_snapshot
from tests.conftest import APPROVABLE, loan_input, logged_in, make_user, projected_gate, start_loan

HTMX = {"HX-Request": "true"}
CHANGED = "Changed since the inbox showed it"


def drawn_form(page: str) -> dict[str, str]:
    """The hidden versions the inbox rows carry for the bulk form, as the browser posts them."""
    return dict(re.findall(r'name="(shown_[^"]+)" value="([0-9.a-f]+)" form="bulk-form"', page))


def test_a_gate_revised_after_the_inbox_was_drawn_is_refused_and_the_others_are_decided(temporal, portal):
    officer = make_user("officer", "credit_officer")
    unchanged, revised, tampered = (
        start_loan(temporal, portal, loan_input(APPROVABLE, submitted_by="intake")) for _ in range(3)
    )
    gates = [projected_gate(handle) for handle in (unchanged, revised, tampered)]
    client = logged_in(officer)
    shown = drawn_form(client.get("/").content.decode())
    assert {f"shown_{g.gate_id}" for g in gates} <= set(shown)
    # The agent's revised recommendation reaches the projection after the table was drawn.
    snapshot = temporal.run(revised.query(AgentWorkflow.gate))
    sent_back = Revision(snapshot.recommendation, "colleague", "Verify the income.", timezone.now())
    snapshot.revisions = [*snapshot.revisions, sent_back]
    snapshot.version += 1
    gate_apply_snapshot(snapshot=snapshot)
    shown[f"shown_{gates[2].gate_id}"] = "1" * 20  # not a version anyone saw

    response = client.post(
        "/bulk/",
        {
            "gate_ids": [g.gate_id for g in gates],
            "decision": "approve",
            "reason_text": "Low risk",
            "submission_id": str(uuid.uuid4()),
            **shown,
        },
        headers=HTMX,
    )

    html = response.content.decode()
    assert response.status_code == 200 and html.count(CHANGED) == 2
    assert response.headers["HX-Trigger"] == "gates-changed"  # the table is drawn again
    assert html.count("Approved</strong>, recorded by the agent.") == 1
    assert set(ActionAttempt.objects.filter(action="decide").values_list("gate_id", flat=True)) == {
        gates[0].gate_id
    }
    assert not ActionAttempt.objects.filter(gate_id__in=[gates[1].gate_id, gates[2].gate_id]).exists()


def test_a_bulk_decision_refused_whole_as_changed_reloads_the_table(temporal, portal):
    """Every selected gate changed: nothing sent, and the table is drawn again, so the next try
    sees what changed (not the same refusal again)."""
    officer = make_user("officer", "credit_officer")
    handle = start_loan(temporal, portal, loan_input(APPROVABLE, submitted_by="intake"))
    gate = projected_gate(handle)
    data = {
        "gate_ids": [gate.gate_id],
        "decision": "approve",
        "reason_text": "Low risk",
        "submission_id": str(uuid.uuid4()),
        f"shown_{gate.gate_id}": str(gate.version - 1),
    }

    response = logged_in(officer).post("/bulk/", data, headers=HTMX)

    assert CHANGED in response.content.decode() and response.headers["HX-Trigger"] == "gates-changed"
    assert not ActionAttempt.objects.exists()
