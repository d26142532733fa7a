"""The audit trail: read from the real Workflow history, decoded, for auditors and admins only."""

from __future__ import annotations

import json
import time
import uuid

from django.test import Client

from agents.framework.prompts import latest_prompt
from tests.conftest import (
    DECLINABLE,
    decide,
    event_types,
    loan_input,
    logged_in,
    make_user,
    projected_gate,
    start_loan,
)


def test_the_auditor_sees_every_step_of_a_decided_run(temporal, portal, loan_gate):
    handle, gate = loan_gate
    decide(logged_in(make_user("officer", "credit_officer")), gate, reason="Clean file, affordable")
    temporal.run(handle.result())
    auditor = logged_in(make_user("auditor", "auditor"))

    page = auditor.get(f"/audit/{gate.workflow_id}/").content.decode()

    assert "Run started by intake" in page
    pinned = latest_prompt("loans.prescreen").version
    assert f"LLM call: offline model with prompt loans.prescreen v{pinned}" in page
    assert "Tool call: loans.credit_bureau" in page and "Tool call: loans.lending_policy_check" in page
    # The credit file, affordability and the policy check are the framework's opening calls, not
    # the AI's choice (a call the model makes is not labelled: tests/test_opening_calls.py).
    framework = ", made by the framework before the AI&#x27;s first turn"
    assert f"Tool call: loans.credit_bureau{framework}" in page
    assert f"Tool call: loans.affordability{framework}" in page
    assert f"Tool call: loans.lending_policy_check{framework}" in page
    assert "Gate opened for Credit officer (recommendation: approve)" in page
    assert "decide: approve by officer: Clean file, affordable" in page
    assert "Downstream action loans.issue_offer" in page
    assert "Run completed: approved" in page
    assert f'href="http://127.0.0.1:8233/namespaces/default/workflows/{gate.workflow_id}"' in page
    assert (
        page.index("LLM call")
        < page.index("Gate opened")
        < page.index("decide: approve")
        < page.index("Downstream action")
    )


def test_the_export_is_the_same_timeline_as_json(temporal, portal, loan_gate):
    handle, gate = loan_gate
    # The projection has the gate as soon as the publish wrote it; history has the publish once
    # the server recorded its completion, a moment later (the run then waits on its SLA timer).
    waiting = time.monotonic() + 30
    while "EVENT_TYPE_TIMER_STARTED" not in event_types(temporal, handle):
        assert time.monotonic() < waiting, "the run never waited on its gate"
        time.sleep(0.1)
    admin = logged_in(make_user("root", superuser=True))

    response = admin.get(f"/audit/{gate.workflow_id}/export.json")

    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    audit = json.loads(response.content)
    assert audit["workflow_id"] == gate.workflow_id and audit["status"] == "running"
    kinds = [entry["kind"] for entry in audit["entries"]]
    assert kinds[0] == "run" and "llm" in kinds and "tool" in kinds and kinds[-1] == "gate"
    llm = next(e for e in audit["entries"] if e["kind"] == "llm")
    assert llm["data"]["input"]["prompt"]["id"] == "loans.prescreen"
    assert len(llm["data"]["input"]["prompt"]["sha256"]) == 64
    assert llm["data"]["output"]["usage"]["total_tokens"] > 0
    asked = {
        e["data"]["tool"]: e["data"].get("requested_by", "model")
        for e in audit["entries"]
        if e["kind"] == "tool"
    }
    assert asked == {
        "loans.credit_bureau": "framework",
        "loans.affordability": "framework",
        "loans.lending_policy_check": "framework",
    }


def test_reviewers_may_not_read_audit_trails_and_unknown_runs_are_404(temporal, portal, loan_gate):
    _, gate = loan_gate
    officer = logged_in(make_user("officer", "credit_officer"))
    auditor = logged_in(make_user("auditor", "auditor"))
    compliance = logged_in(make_user("compliance", "compliance_reviewer"))

    # The reviewers of a run's gates read its trail read-only (tests/test_history.py); no one else.
    assert compliance.get(f"/audit/{gate.workflow_id}/").status_code == 403
    assert officer.get(f"/audit/{gate.workflow_id}/export.json").status_code == 403
    assert officer.get("/audit/").status_code == 403
    assert auditor.get(f"/audit/loan-{uuid.uuid4()}/").status_code == 404
    assert gate.subject in auditor.get("/audit/").content.decode()
    assert Client().get("/audit/").status_code == 302


def test_refused_attempts_are_kept_by_the_portal_and_shown_to_auditors(temporal, portal):
    # A loan the AI declined: a rejection agrees with it, so it reaches the run without a confirm step.
    gate = projected_gate(start_loan(temporal, portal, loan_input(DECLINABLE)))
    decide(logged_in(make_user("officer", "credit_officer")), gate, decision="reject", reason="")

    page = logged_in(make_user("auditor", "auditor")).get(f"/gates/{gate.gate_id}/").content.decode()

    assert "reject by officer, refused: A rejection needs a reason." in page
    assert 'name="decision"' not in page  # auditors read; they do not decide


def test_notes_and_edits_have_their_own_lines_in_the_timeline(temporal, portal):
    agent_input = loan_input(submitted_by="intake")
    agent_input.spec.editable = ["conditions"]
    handle = start_loan(temporal, portal, agent_input)
    gate = projected_gate(handle)
    officer = logged_in(make_user("officer", "credit_officer"))
    officer.post(f"/gates/{gate.gate_id}/claim/", {"submission_id": str(uuid.uuid4())})
    officer.post(
        f"/gates/{gate.gate_id}/annotate/", {"text": "Checked payslips", "submission_id": str(uuid.uuid4())}
    )
    decide(officer, gate, reason="fine", edit_conditions="Payslips on file")
    temporal.run(handle.result())

    page = logged_in(make_user("auditor", "auditor")).get(f"/audit/{gate.workflow_id}/").content.decode()

    assert "Claimed by officer" in page
    assert "Note by officer: Checked payslips" in page
    assert "decide: approve by officer with edits to conditions: fine" in page
