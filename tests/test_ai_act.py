"""The EU AI Act record of each decision and the model-risk views, from gate rows in the projection."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.template.loader import render_to_string
from django.utils.html import escape

from agents.framework.ai_act import UNDECLARED
from agents.framework.prompts import PROMPTS
from agents.framework.registry import AGENTS, AgentSpec
from reviewer_portal.archive.models import ArchiveRecord
from reviewer_portal.audit.ai_act import NotDecided, decision_record, plain_words
from reviewer_portal.audit.model_risk import model_risk
from reviewer_portal.inbox.models import Gate
from tests.actions import person_id
from tests.conftest import logged_in, make_user

V1, V2 = PROMPTS[("loans.prescreen", 1)], PROMPTS[("loans.prescreen", 2)]
MODEL = "gpt-4o-mini-2024-07-18"
MONDAY = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)  # ISO week 2025-W11
CASE = {
    "applicant_name": "Amira Haddad",
    "amount": 18000,
    "term_months": 48,
    "purpose": "home improvement, café",  # not ASCII: the digest escapes it
    "annual_income": 62000,
}
EVIDENCE = [
    {"name": "loans.credit_bureau", "ok": True, "result": {"score": 742, "defaults": 0}, "error": None},
    {"name": "loans.affordability", "ok": False, "result": None, "error": "Bureau timeout"},
]
SLA_REASON = "No credit decision within the SLA after escalation to a senior credit officer."
BASIS = "Annex III 5(b): creditworthiness assessment / credit scoring of natural persons"


def loan_gate(
    name: str,
    *,
    recommendation: str,
    opened: datetime,
    status: str = "pending",
    decided_after: timedelta | None = None,
    decided_by: str = "olivia",
    prompt=V2,
    model: str = MODEL,
    offline: bool = False,
    **fields: Any,
) -> Gate:
    """A loan gate row as the projection holds it (the snapshot carries the pinned prompt)."""
    decided = decided_after is not None
    return Gate.objects.create(
        gate_id=f"loan-{name}--g1",
        workflow_id=f"loan-{name}",
        agent="loans",
        kind="loan_decision",
        subject=f"Loan {name}",
        case=CASE,
        submitted_by="intake",
        recommendation=recommendation,
        rationale=f"Rationale for {name}.",
        risk_factors=["thin credit file"] if recommendation == "decline" else [],
        tool_results=EVIDENCE,
        model="offline model" if offline else model,
        offline_model=offline,
        role="credit_officer",
        status=status,
        sla_seconds=4 * 3600,
        opened_at=opened,
        deadline=opened + timedelta(hours=4),
        decided_by=decided_by if decided else "",
        decided_by_id=person_id(decided_by) if decided and decided_by != "system" else "",
        decided_at=opened + decided_after if decided else None,
        version=2 if decided else 1,
        prompt_id=prompt.id,
        prompt_version=prompt.version,
        prompt_sha256=prompt.sha256,
        snapshot={
            "gate_id": f"loan-{name}--g1",
            "prompt": {"id": prompt.id, "version": prompt.version, "sha256": prompt.sha256},
        },
        **fields,
    )


@pytest.fixture
def gates(db) -> dict[str, Gate]:
    """Five decided loan gates of one model and prompt, a pending one, and one of an older prompt."""
    return {
        "agree": loan_gate(
            "agree",
            recommendation="approve",
            opened=MONDAY,
            status="approved",
            decided_after=timedelta(minutes=30),
            reason="Affordable and clean file.",
            decided_via="portal",
            decision_id="act-agree",
        ),
        "override_reject": loan_gate(
            "override-reject",
            recommendation="approve",
            opened=MONDAY + timedelta(hours=1),
            status="rejected",
            decided_after=timedelta(hours=1),
            reason="Income not verified.",
        ),
        "override_approve": loan_gate(
            "override-approve",
            recommendation="decline",
            opened=MONDAY + timedelta(days=1),
            status="approved",
            decided_after=timedelta(hours=2),
            reason="Bureau error corrected.",
            escalation_level=1,
        ),
        "refer": loan_gate(
            "refer",
            recommendation="refer",
            opened=MONDAY + timedelta(days=2),
            status="approved",
            decided_after=timedelta(hours=4),
            reason="Referral checked by phone.",
        ),
        "system": loan_gate(
            "system",
            recommendation="approve",
            opened=MONDAY + timedelta(days=2, hours=1),
            status="rejected",
            decided_after=timedelta(hours=8),
            decided_by="system",
            reason=SLA_REASON,
            escalation_level=1,
        ),
        "pending": loan_gate("pending", recommendation="approve", opened=MONDAY + timedelta(days=3)),
        "older": loan_gate(
            "older",
            recommendation="approve",
            opened=datetime(2025, 2, 3, 9, 0, tzinfo=UTC),
            status="approved",
            decided_after=timedelta(minutes=10),
            prompt=V1,
            offline=True,
        ),
    }


@pytest.fixture
def auditor(db):
    return logged_in(make_user("audrey", "auditor"))


def digest(case: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(case, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# --- the high-risk declaration -------------------------------------------------------------------


def test_each_agent_declares_its_ai_act_class_and_runs_do_not_carry_it():
    assert AGENTS["loans"].ai_act.high_risk is True and AGENTS["loans"].ai_act.basis == BASIS
    for name in ("advice", "regulatory"):
        assert AGENTS[name].ai_act.high_risk is False
        assert AGENTS[name].ai_act.basis.startswith("Not in Annex III")
    # Workflow input (the pinned run spec) never carries it, so changing it cannot break replay.
    assert not hasattr(AGENTS["loans"].pin(), "ai_act")


def test_an_agent_that_declares_nothing_is_shown_as_undeclared_not_as_low_risk(gates, monkeypatch):
    spec = AGENTS["loans"]
    bare = AgentSpec(**{f: getattr(spec, f) for f in spec.__dataclass_fields__ if f != "ai_act"})
    assert bare.ai_act == UNDECLARED
    monkeypatch.setitem(AGENTS, "loans", bare)

    record = decision_record(gates["agree"])

    assert record["ai_act"]["high_risk"] is None
    assert "has not declared" in record["ai_act"]["statement"]


# --- the record ----------------------------------------------------------------------------------


def test_the_record_of_an_override_names_model_prompt_inputs_reviewer_and_classification(gates, settings):
    settings.OPENAI_BASE_URL = "https://llm.bank.example/v1"
    ArchiveRecord.objects.create(
        namespace="default",
        seq=7,
        kind="run",
        workflow_id="loan-override-reject",
        run_id="r1",
        archived_at=MONDAY + timedelta(days=40),
        prev_hash="0" * 64,
        record_hash="ab" * 32,
        content_sha256="cd" * 32,
    )
    gate = gates["override_reject"]

    record = decision_record(gate)

    assert record["system"] == {
        "portal": "Reviewer portal",
        "agent": "loans",
        "agent_title": "Loan application pre-screening",
        "gate_kind": "loan_decision",
    }
    assert record["provider"] == "OpenAI-compatible API (llm.bank.example)"
    assert record["model"] == MODEL
    assert record["prompt"] == {"id": "loans.prescreen", "version": 2, "sha256": V2.sha256}
    assert record["inputs"]["sha256"] == digest(CASE) and record["inputs"]["case"] == CASE
    assert record["evidence"] == EVIDENCE
    assert record["ai_recommendation"]["outcome"] == "approve"
    assert record["ai_recommendation"]["rationale"] == "Rationale for override-reject."
    assert record["ai_recommendation"]["revisions"] == []
    assert record["decision"] == {"status": "rejected", "by": "person", "reason": "Income not verified."}
    assert record["human_decision"] == {
        "decision": "rejected",
        "reviewer": "olivia",
        "reviewer_id": person_id("olivia"),
        "role": "credit_officer",
        "role_label": "Credit officer",
        "reason": "Income not verified.",
        "edits": {},
        "edit_diff": "",
        "via": "",
    }
    assert (
        record["human_override"]["ai_verdict"] == "approve" and record["human_override"]["overrode"] is True
    )
    assert record["ai_act"]["high_risk"] is True and record["ai_act"]["basis"] == BASIS
    assert record["times"] == {
        "opened_at": MONDAY + timedelta(hours=1),
        "deadline": MONDAY + timedelta(hours=5),
        "decided_at": MONDAY + timedelta(hours=2),
    }
    assert record["run"]["workflow_id"] == "loan-override-reject"
    assert record["run"]["audit_trail"] == "/audit/loan-override-reject/"
    assert record["archive"] == {"namespace": "default", "seq": 7, "record_hash": "ab" * 32}


def test_override_flags_follow_the_ai_verdict_and_say_when_there_is_none(gates):
    flags = {name: decision_record(gates[name])["human_override"] for name in gates if name != "pending"}

    assert flags["agree"]["overrode"] is False
    assert flags["override_reject"]["overrode"] is True
    assert (
        flags["override_approve"]["overrode"] is True and flags["override_approve"]["ai_verdict"] == "decline"
    )
    assert flags["refer"]["overrode"] is None and flags["refer"]["ai_verdict"] is None
    assert "no approve or decline verdict" in flags["refer"]["assessment"]
    assert flags["system"]["overrode"] is None and "No person decided" in flags["system"]["assessment"]


def test_an_sla_closure_has_no_human_decision_and_the_offline_model_is_named(gates):
    system, older = decision_record(gates["system"]), decision_record(gates["older"])

    assert system["human_decision"] is None
    assert system["decision"] == {"status": "rejected", "by": "sla_policy", "reason": SLA_REASON}
    assert system["archive"] is None
    assert older["provider"] == "offline model" and older["model"] == "offline model"
    assert older["prompt"]["version"] == 1


def test_other_agents_advice_overrides_and_tool_calls_carry_no_verdict(gates):
    advice = loan_gate(
        "advice", recommendation="advise", opened=MONDAY, status="rejected", decided_after=timedelta(hours=1)
    )
    Gate.objects.filter(pk=advice.pk).update(agent="advice", role="licensed_adviser")
    finding = loan_gate(
        "finding",
        recommendation="regulatory.record_finding",
        opened=MONDAY,
        status="approved",
        decided_after=timedelta(hours=1),
        tool_call={"name": "regulatory.record_finding", "arguments": {"rule": "R1"}},
    )
    Gate.objects.filter(pk=finding.pk).update(agent="regulatory", role="compliance_reviewer")

    advised = decision_record(Gate.objects.get(pk=advice.pk))
    recorded = decision_record(Gate.objects.get(pk=finding.pk))

    assert advised["human_override"]["overrode"] is True and advised["ai_act"]["high_risk"] is False
    assert advised["human_decision"]["role_label"] == "Licensed adviser"
    assert recorded["human_override"] == {
        "ai_verdict": None,
        "overrode": None,
        "assessment": "The AI gave no approve or decline verdict, so the reviewer neither followed nor overrode it.",
    }
    assert plain_words(recorded).recommended == (
        "The AI proposed the action regulatory.record_finding and asked a person to approve it first."
    )
    assert "not a high-risk AI system" in plain_words(recorded).classification


def test_a_pending_gate_has_no_record(gates):
    with pytest.raises(NotDecided, match="not decided yet"):
        decision_record(gates["pending"])


# --- the pages -----------------------------------------------------------------------------------


def test_the_readable_record_explains_the_decision_in_plain_words(gates, auditor):
    page = auditor.get("/audit/decisions/loan-override-reject--g1/").content.decode()

    assert "The AI recommended approving." in page
    assert "olivia (Credit officer) rejected it." in page
    assert "Their reason: Income not verified." in page
    assert "The reviewer overrode the AI: it recommended approving, they rejected it." in page
    assert f"Under the EU AI Act this is a high-risk AI system. Basis: {escape(BASIS)}." in page
    assert "Amira Haddad" in page and "loans.credit_bureau" in page and "Bureau timeout" in page
    assert digest(CASE) in page and V2.sha256 in page
    assert 'href="/audit/decisions/loan-override-reject--g1.json"' in page

    agreed = auditor.get("/audit/decisions/loan-agree--g1/").content.decode()
    assert escape("The reviewer followed the AI's recommendation.") in agreed
    closed = auditor.get("/audit/decisions/loan-system--g1/").content.decode()
    assert "No one decided within the time allowed, so the SLA policy rejected it automatically." in closed
    referred = auditor.get("/audit/decisions/loan-refer--g1/").content.decode()
    assert "The AI referred the case to a person without recommending an outcome." in referred


def test_the_json_export_is_the_same_record_as_an_attachment(gates, auditor):
    response = auditor.get("/audit/decisions/loan-override-approve--g1.json")

    assert response.status_code == 200
    assert (
        response["Content-Disposition"]
        == 'attachment; filename="ai-act-record-loan-override-approve--g1.json"'
    )
    record = json.loads(response.content)
    assert record["format"] == "eu-ai-act-decision-record/1"
    assert record["human_override"] == {
        "ai_verdict": "decline",
        "overrode": True,
        "assessment": "The reviewer overrode the AI: it recommended declining, they approved it.",
    }
    assert record["inputs"]["sha256"] == digest(record["inputs"]["case"]) == digest(CASE)
    assert record["prompt"]["sha256"] == V2.sha256
    assert record["human_decision"]["reviewer"] == "olivia"
    assert record["ai_act"] == {
        "high_risk": True,
        "basis": BASIS,
        "statement": plain_words(decision_record(gates["override_approve"])).classification,
    }
    assert record["times"]["opened_at"] == "2025-03-11T09:00:00Z"
    assert record["ai_recommendation"]["risk_factors"] == ["thin credit file"]


def test_pending_and_unknown_gates_have_no_record(gates, auditor):
    pending = auditor.get("/audit/decisions/loan-pending--g1/")
    assert pending.status_code == 404 and "not decided yet" in pending.content.decode()
    pending_json = auditor.get("/audit/decisions/loan-pending--g1.json")
    assert pending_json.status_code == 404 and "not decided yet" in pending_json.json()["error"]
    assert auditor.get("/audit/decisions/loan-nobody--g1/").status_code == 404
    assert auditor.get("/audit/decisions/loan-nobody--g1.json").status_code == 404


def test_only_auditors_and_admins_read_records_and_model_risk(gates, auditor):
    officer = logged_in(make_user("olivia", "credit_officer"))
    admin = logged_in(make_user("root", superuser=True))
    urls = ["/audit/decisions/loan-agree--g1/", "/audit/decisions/loan-agree--g1.json", "/audit/models/"]

    assert [officer.get(url).status_code for url in urls] == [403, 403, 403]
    assert [admin.get(url).status_code for url in urls] == [200, 200, 200]


def test_the_run_page_links_each_decided_gate_to_its_record(gates):
    context = {"workflow_id": "loan-x", "unavailable": "gone", "gates": [gates["agree"], gates["pending"]]}

    page = render_to_string("audit/run.html", {**context, "auditor": True})
    # A gate's reviewer reads the trail too, without the auditors' records.
    reviewers_page = render_to_string("audit/run.html", {**context, "auditor": False})

    assert page.count("AI Act record") == 1
    assert 'href="/audit/decisions/loan-agree--g1/"' in page
    assert "AI Act record" not in reviewers_page


# --- model risk ----------------------------------------------------------------------------------


def test_model_risk_per_agent_model_and_prompt_version(gates):
    risk = model_risk(now=MONDAY + timedelta(days=3))

    current, older = (next(r for r in risk.rows if r.prompt_version == v) for v in (2, 1))
    assert (current.model_label, current.figures.opened, current.figures.human, current.figures.system) == (
        MODEL,
        6,
        4,
        1,
    )
    assert (current.figures.with_verdict, current.figures.overrides) == (3, 2)
    assert current.figures.override_text == "66.7 % (2 of 3)"
    assert current.figures.breach_text == "33.3 % (2 of 6)"
    assert current.median == timedelta(minutes=90) and current.p90 == timedelta(hours=4)
    assert (older.model_label, older.figures.human, older.figures.override_text) == (
        "offline model",
        1,
        "0.0 % (0 of 1)",
    )


def test_the_trend_counts_iso_weeks_and_the_inventory_first_and_last_use(gates):
    risk = model_risk(now=MONDAY + timedelta(days=3))

    weeks = {w.label: w.figures for w in risk.weeks}
    assert len(risk.weeks) == 12 and risk.weeks[-1].label == "2025-W11"
    assert (weeks["2025-W11"].human, weeks["2025-W11"].system, weeks["2025-W11"].overrides) == (4, 1, 2)
    assert (weeks["2025-W11"].opened, weeks["2025-W11"].breaches) == (6, 2)
    assert weeks["2025-W06"].human == 1 and weeks["2025-W07"].human == 0
    assert risk.charts.overrides.rows[-1].text == "66.7 % (2 of 3)"
    inventory = {(i.model_label, i.prompt_version): i for i in risk.inventory}
    assert inventory[(MODEL, 2)].first_use == MONDAY
    assert inventory[(MODEL, 2)].last_use == MONDAY + timedelta(days=3)
    assert inventory[(MODEL, 2)].gates == 6 and inventory[(MODEL, 2)].prompt_sha256 == V2.sha256
    assert (
        inventory[("offline model", 1)].gates == 1
        and not inventory[("offline model", 1)].registered_text_differs
    )


def test_the_model_risk_page_shows_the_figures_charts_and_tables(gates, auditor):
    page = auditor.get("/audit/models/").content.decode()

    assert "66.7 % (2 of 3)" in page and "33.3 % (2 of 6)" in page
    assert "1 h 30 min" in page and "4 h 00 min" in page
    assert "2025-03-10 09:00" in page and "2025-03-13 09:00" in page and "2025-02-03 09:00" in page
    assert V2.sha256[:12] in page and 'href="/audit/prompts/loans.prescreen/v2/"' in page
    assert (
        'class="chart columns chart-weekly-decisions"' in page
        and 'class="chart rows chart-weekly-overrides"' in page
    )
    assert "The trend's numbers" in page
    assert 'style="' not in page and "<script>" not in page  # the CSP allows neither
