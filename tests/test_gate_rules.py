"""The gate rules and the input rules as pure functions: no server, `now` passed in."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from agents.framework import gate_changes, gates, input_rules
from agents.framework.gates import TOOL_GATE_EVIDENCE_BYTES, TOOL_GATE_EVIDENCE_COUNT, tool_gate_evidence
from agents.framework.reviewer_actions import AnnotateInput, AssignInput
from agents.framework.types import Annotation, GateSnapshot, Recommendation, ToolResult
from tests import actions

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def gate(**fields) -> GateSnapshot:
    return dataclasses.replace(
        GateSnapshot(
            gate_id="loan-x--g1",
            workflow_id="loan-x",
            agent="loans",
            kind="loan_decision",
            subject="x",
            case={},
            submitted_by="intake",
            recommendation=Recommendation("approve", "fine"),
            tool_results=[],
            model="m",
            offline_model=True,
            role="credit_officer",
            sla_seconds=3600,
            opened_at=NOW,
            deadline=NOW + timedelta(hours=1),
            submitted_by_id=actions.person_id("intake"),
        ),
        **fields,
    )


def test_a_decided_gate_refuses_another_decision_and_says_who_decided():
    decided = gate(status="approved", decided_by="officer")

    refusal = gates.decision_refusal(decided, actions.decide_input("loan-x--g1", "reject", "no"), NOW)

    assert refusal == "This gate was already decided (approved by officer)."


def test_a_decision_on_an_earlier_revision_is_refused():
    revised = gates.reopen(
        gate(status="changes_requested", decided_by="b"), Recommendation("refer", "r"), NOW
    )

    stale = gates.decision_refusal(revised, actions.decide_input("loan-x--g1", reason="ok", revision=0), NOW)
    current = gates.decision_refusal(
        revised, actions.decide_input("loan-x--g1", reason="ok", revision=1), NOW
    )

    assert stale is not None and "revised its recommendation" in stale
    assert current is None


def test_four_eyes_compares_user_ids_not_names():
    renamed_submitter = actions.decide_input("loan-x--g1", reviewer="intake-renamed")
    renamed_submitter.reviewer_id = actions.person_id("intake")
    namesake = actions.decide_input("loan-x--g1", reviewer="intake")
    namesake.reviewer_id = actions.person_id("someone-else")

    assert "Four-eyes rule" in (gates.decision_refusal(gate(), renamed_submitter, NOW) or "")
    assert gates.decision_refusal(gate(), namesake, NOW) is None


def test_notes_per_gate_are_bounded_in_number_and_in_size():
    note = AnnotateInput(
        "loan-x--g1", "one more", "officer", ["credit_officer"], reviewer_id="1", action_id="a"
    )
    full = gate(annotations=[Annotation("o", "x", NOW)] * gates.MAX_NOTES)
    long = gate(annotations=[Annotation("o", "x" * 2000, NOW)] * 20)

    assert f"has {gates.MAX_NOTES} notes" in (gates.annotation_refusal(full, note) or "")
    assert "characters in all" in (gates.annotation_refusal(long, note) or "")


def test_an_operator_reassignment_needs_a_reason():
    change = AssignInput(
        "loan-x--g1", "root", ["admin"], "officer", ["credit_officer"],
        reviewer_id="9", assignee_id="1", action_id="a", origin="operator",
    )  # fmt: skip

    assert gates.assignment_refusal(gate(), change) == "An operator override needs a reason."
    assert gates.assignment_refusal(gate(), dataclasses.replace(change, reason="On leave")) is None


def test_a_patch_carries_the_changed_fields_and_only_the_new_notes():
    before = gate(annotations=[Annotation("o", "first", NOW)])
    after = gates.annotate(before, AnnotateInput("loan-x--g1", "second", "officer", [], reviewer_id="1"), NOW)

    patch = gate_changes.patch(before, after)

    assert (patch.base_version, patch.version) == (1, 2)
    assert patch.changes == {"version": 2}
    assert [a.text for a in patch.annotations] == ["second"]


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("fine", None),
        ("Zürich, 東京, مرحبا, emoji 👩\u200d💻, soft\u00adhyphen, \u200fRTL mark", None),
        ("lone \ud800", "not valid Unicode"),
        ("bell \x07", "control characters"),
        ("override \u202e", "invisible characters (U+202E)"),
        ("zero\u200bwidth", "invisible characters (U+200B)"),
        ("tag \U000e0041", "invisible characters (U+E0041)"),
        ("bom \ufeff", "invisible characters (U+FEFF)"),
    ],
)
def test_text_rules_refuse_what_reads_differently_from_what_it_says(text, refusal):
    said = input_rules.text_refusal("note", text, max_length=2000)

    assert said == refusal if refusal is None else refusal in (said or "")


def test_a_tool_calls_gate_shows_the_runs_small_results_and_never_a_large_one():
    score = ToolResult("c1", "fraud.score", True, {"score": 0.97, "model_version": "sha256:ab"})
    section = ToolResult(
        "c2", "regulatory.read_section", True, {"text": "x" * (TOOL_GATE_EVIDENCE_BYTES + 1)}
    )
    failed = ToolResult("c3", "fraud.rules", False, error="rules service unavailable")
    many = [ToolResult(f"m{i}", "lookup", True, {"i": i}) for i in range(TOOL_GATE_EVIDENCE_COUNT + 5)]

    assert tool_gate_evidence([score, section, failed]) == [score, failed]
    assert tool_gate_evidence(many) == many[-TOOL_GATE_EVIDENCE_COUNT:]  # the latest, in order
    assert tool_gate_evidence([]) == []
