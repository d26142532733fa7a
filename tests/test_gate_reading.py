"""Each gate kind reads well (issue 11, item 6): a compliance finding reads as the rule, the
passage and the section it quotes, highlighted; a reviewer's edits side by side; labels, formats
and rejection grounds from what each agent declares; no registry names, hashes twice or 0-based
indexes. Unit checks of the pieces, then real gates from the Temporal dev server in the portal."""

from __future__ import annotations

import re
from types import SimpleNamespace

from django.template.loader import render_to_string

import agents.regulatory  # noqa: F401  (registers the agent even if AGENT_PACKAGES leaves it out)
from agents.framework.presentation import Passage
from agents.framework.registry import AGENTS
from agents.regulatory.presentation import finding_passage
from reviewer_portal.inbox.grounds import GENERIC, rejection_grounds
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.passages import readable
from reviewer_portal.inbox.presentation import evidence_of, proposal_facts, risk_factor, tool_label
from reviewer_portal.inbox.side_by_side import Piece, field_diffs, rows
from tests import actions
from tests.conftest import decide, logged_in, make_user, projected_gate, start_loan
from tests.test_advice import start_advice
from tests.test_regulatory import (  # noqa: F401  (document_store: each test its own store)
    REVIEW_DOCUMENT,
    document_store,
    start_review,
    wait_for_gates,
)

COMPLIANCE = ["compliance_reviewer"]
FUND_QUOTE = "Our linked fund has delivered growth of 7.5% a year since 2018."
FINDING = {
    "document_id": "447f162622278694f38cb1c3ce7562ba60a33cad4d836ce743fb861568dc9473",
    "excerpt": FUND_QUOTE,
    "index": 2,
    "proposed_action": "Add a risk warning.",
    "rationale": "Past performance without a warning.",
    "rule": "FP-02",
    "severity": "high",
}


def visible_text(page: str) -> str:
    """The page as a reader sees it: no tags, no attributes."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


# --- labels and formats from the agent's declarations -----------------------------------------


def test_a_finding_proposal_reads_in_the_agents_words_without_its_internal_ids():
    facts = [(f.label, f.text) for f in proposal_facts("regulatory", FINDING)]

    assert facts == [
        ("Rule", "FP-02"),
        ("Severity", "high"),
        ("Section", "3"),  # index 2 of the document, counted as people count
        ("Quoted passage", FUND_QUOTE),
        ("Proposed action", "Add a risk warning."),
        ("Why", "Past performance without a warning."),
    ]  # the fingerprint is the case's, shown once there


def test_tools_read_as_their_declared_labels_and_a_rules_title_is_not_the_documents():
    search = {
        "name": "regulatory.rulebook_search",
        "ok": True,
        "result": {"index": 0, "heading": "1. Scope", "matches": [{"rule": "FP-02", "title": "No warning"}]},
    }
    [evidence] = evidence_of("regulatory", [search])
    [section, heading, matches] = evidence.facts

    assert tool_label("regulatory.record_finding") == "Record finding"
    assert tool_label("regulatory.read_section") == "Section read"
    assert tool_label("someone.else_tool") == "Else tool"  # undeclared: from its name
    assert evidence.title == "Rulebook search"
    assert [(section.label, section.text), (heading.label, heading.text)] == [
        ("Section", "1"),
        ("Section heading", "1. Scope"),
    ]
    assert matches.header == ["Rule", "Rule breached"]  # not "Document", the case's title


def test_a_gated_argument_reads_with_its_label_and_other_risk_factors_as_written():
    assert risk_factor("regulatory", "severity: high") == "Severity: high"
    assert risk_factor("advice", "emergency fund below six months") == "emergency fund below six months"
    assert (
        risk_factor("advice", "concentration: Northwind plc is 79%") == "Concentration: Northwind plc is 79%"
    )


def test_advice_shares_read_as_percentages_not_raw_ratios(settings):
    settings.CURRENCY = "GBP"
    holdings = {
        "name": "advice.holdings",
        "ok": True,
        "result": {
            "positions": [{"name": "Northwind plc", "value": 42000, "share": 0.792}],
            "by_asset_class": {"cash": 0.057, "single_stock": 0.792},
        },
    }
    [evidence] = evidence_of("advice", [holdings])
    facts = {f.label: f for f in evidence.facts}

    assert facts["Holdings"].header == ["Name", "Value", "Share of portfolio"]
    assert facts["Holdings"].rows == [["Northwind plc", "42,000", "79.2 %"]]
    assert facts["Share by asset class"].text == "Cash: 5.7 %\nSingle stock: 79.2 %"


def test_rejection_grounds_belong_to_the_gate_kind():
    # Credit's own grounds: what loans declare beyond the generic few every agent may share.
    credit = set(AGENTS["loans"].rejection_grounds["loan_decision"]) - set(GENERIC)
    compliance = rejection_grounds("regulatory", "compliance_finding")
    advice = rejection_grounds("advice", "advice_signoff")

    assert compliance == (
        "Not supported by the document",
        "Wrong rule cited",
        "Severity overstated",
        "Already addressed",
        "Other",
    )
    assert credit == {"Outside risk appetite", "Duplicate application"}
    assert not credit & set(compliance) and not credit & set(advice)
    # A kind its agent declares nothing for gets the generic few, never another agent's.
    assert rejection_grounds("regulatory", "some_new_kind") == (*GENERIC, "Other")


# --- the passage a finding quotes --------------------------------------------------------------


def test_a_short_section_is_shown_whole_with_the_quote_found_across_spacing_and_case():
    passage = readable(
        Passage(
            "2. Charges", "An exit fee applies.\nWe may\n  change OUR charges.", "we may change our charges"
        )
    )

    assert passage.found and passage.whole is None
    assert (passage.shown.before, passage.shown.quote, passage.shown.after) == (
        "An exit fee applies.\n",
        "We may\n  change OUR charges",
        ".",
    )


def test_a_long_section_shows_the_quote_in_context_and_the_whole_section_on_request():
    before, after = "Branches open at nine. " * 100, " Staff check it." * 100
    quote = "Accounts may be opened without identity verification."
    passage = readable(Passage("4. Opening", before + quote + after, quote))

    assert passage.shown.quote == quote
    assert passage.shown.before.startswith("… ") and passage.shown.after.endswith(" …")
    assert len(passage.shown.before) < 500 and len(passage.shown.after) < 500
    assert passage.whole is not None
    assert passage.whole.before + passage.whole.quote + passage.whole.after == before + quote + after


def test_odd_unicode_spacing_and_text_that_looks_like_markup_are_matched_as_plain_text():
    section = "Growth\u00a0of 7.5%\u2028a year <b>since</b> 2018 \u202eevil\u202c."
    passage = readable(Passage("3. Returns", section, "growth of 7.5% a year <b>since</b>"))

    assert passage.found and passage.shown.quote == "Growth\u00a0of 7.5%\u2028a year <b>since</b>"
    assert readable(Passage("3. Returns", section, "(.*)" + "x" * 10_000)).found is False  # no regex


def test_a_quote_not_in_the_section_shows_the_section_unmarked():
    passage = readable(Passage("1. Scope", "Nothing to see.", "an invented quotation"))

    assert not passage.found and passage.shown.quote == "" and passage.shown.before == "Nothing to see."


def test_a_finding_reads_its_section_from_the_document_under_review_and_no_other(document_store):  # noqa: F811
    document = document_store.put(REVIEW_DOCUMENT)
    case = {"document_id": document.document_id}
    proposal = {**FINDING, "document_id": document.document_id}
    other = document_store.put("# Elsewhere\nOur linked fund has delivered growth of 7.5% a year since 2018.")
    read = {
        "name": "regulatory.read_section",
        "ok": True,
        "result": {"index": 2, "heading": "3. As read", "text": "x"},
    }

    assert finding_passage(case, proposal, [], "default") == Passage(
        "3. Investment returns", FUND_QUOTE, FUND_QUOTE
    )
    # The model wrote the finding's document id: another document's words never show under this one.
    assert finding_passage(case, {**proposal, "document_id": other.document_id}, [read], "default") is None
    assert finding_passage(case, {**proposal, "index": 99}, [], "default") is None
    # A document the store no longer holds reads as the run read it, if the gate carries that.
    gone = {"document_id": "0" * 64}
    assert finding_passage(gone, {**proposal, **gone}, [read], "default") == Passage(
        "3. As read", "x", FUND_QUOTE
    )
    assert finding_passage(gone, {**proposal, **gone}, [], "default") is None


# --- side by side ------------------------------------------------------------------------------


def test_an_edit_reads_line_against_line_with_the_changed_words_marked():
    [changed, added] = rows("Invest 1,100 a month.", "Invest 1,000 a month.\nReview in a year.")

    assert changed.kind == "changed"
    assert [p for p in changed.before if p.changed] == [Piece("1,100 ", True)]
    assert [p for p in changed.after if p.changed] == [Piece("1,000 ", True)]
    assert (added.kind, added.before, added.after) == ("added", [], [Piece("Review in a year.", True)])


def test_a_gate_that_kept_only_its_unified_diff_still_reads_side_by_side():
    unified = (
        "--- proposed_action (proposed)\n+++ proposed_action (approved)\n@@ -1,2 +1,2 @@\n"
        " Keep this line.\n-Add a warning.\n+Add 'Capital at risk'.\n"
    )
    [diff] = field_diffs({}, {}, unified)

    assert diff.name == "proposed_action"
    assert [r.kind for r in diff.rows] == ["same", "changed"]
    assert "".join(p.text for p in diff.rows[1].after) == "Add 'Capital at risk'."


# --- real gates in the portal ------------------------------------------------------------------


def test_a_compliance_finding_reads_as_rule_passage_and_section_with_nothing_internal(temporal, portal):
    reviewer = logged_in(make_user("alex", *COMPLIANCE))
    handle, _ = start_review(temporal, portal, REVIEW_DOCUMENT, turns_per_run=0)
    [fund] = wait_for_gates(temporal, handle, 1)
    gate = projected_gate(handle)

    page = reviewer.get(f"/gates/{gate.gate_id}/").content.decode()
    text = visible_text(page)

    assert "Record finding" in text and "record_finding" not in page.lower().replace("regulatory.record", "")
    assert text.count(gate.case["document_id"]) == 1  # the case's fingerprint, once
    assert "Index" not in text and "Document id" not in text and "amounts in GBP" not in text
    assert "Severity: high" in text and "severity: high" not in text
    assert "In the document: 3. Investment returns" in text
    assert f"<mark>{FUND_QUOTE}</mark>" in page
    grounds = re.findall(r'<option value="([^"]+)"', page)
    assert "Wrong rule cited" in grounds
    assert not {"Outside risk appetite", "Duplicate application", "Policy breach"} & set(grounds)

    edited = "Add 'Capital at risk' beside the 7.5% figure."
    actions.decide(
        temporal,
        handle,
        fund.gate_id,
        "approve",
        "Valid",
        "bob",
        COMPLIANCE,
        edits={"proposed_action": edited},
    )
    projected_gate(handle, version=gate.version + 1)
    decided = reviewer.get(f"/gates/{gate.gate_id}/").content.decode()

    assert '<table class="side-by-side">' in decided
    assert "<ins>risk&#x27; beside the 7.5% figure.</ins>" in decided
    assert "<del>" in decided and "@@" not in decided and "(proposed)" not in decided
    temporal.run(handle.terminate("test done"))


def test_a_section_too_long_for_the_gates_evidence_comes_from_the_sealed_store_escaped(temporal, portal):
    filler = "Our branches open from 9am to 5pm on weekdays. " * 100  # > the gate's 4 KB of evidence
    waiver = "Accounts may be opened without identity verification <script>alert('x')</script> for deposits under £1,000."
    handle, _ = start_review(
        temporal, portal, f"# Opening an account\n{filler}\n{waiver}", title="Branch guide"
    )
    wait_for_gates(temporal, handle, 1)
    gate = projected_gate(handle)
    assert not any(r["name"] == "regulatory.read_section" for r in gate.tool_results)

    page = logged_in(make_user("alex", *COMPLIANCE)).get(f"/gates/{gate.gate_id}/").content.decode()

    assert "In the document: Opening an account" in page
    assert "<summary>Show the whole section</summary>" in page
    marked = re.findall(r"<mark>(.*?)</mark>", page, re.S)
    assert len(marked) == 2 and all("identity verification" in m for m in marked)
    assert "<script>alert" not in page and "&lt;script&gt;" in marked[0]
    temporal.run(handle.terminate("test done"))


def test_another_roles_reviewer_reads_no_finding_or_passage(temporal, portal):
    handle, _ = start_review(temporal, portal, REVIEW_DOCUMENT, turns_per_run=0)
    wait_for_gates(temporal, handle, 1)
    gate = projected_gate(handle)

    response = logged_in(make_user("officer", "credit_officer")).get(f"/gates/{gate.gate_id}/")

    assert response.status_code in (403, 404)
    assert FUND_QUOTE not in response.content.decode()
    temporal.run(handle.terminate("test done"))


def test_loan_and_advice_gates_keep_their_own_grounds_and_show_no_passage(temporal, portal):
    loan = projected_gate(start_loan(temporal, portal))
    advice = projected_gate(start_advice(temporal, portal))

    loan_page = (
        logged_in(make_user("officer", "credit_officer")).get(f"/gates/{loan.gate_id}/").content.decode()
    )
    advice_page = (
        logged_in(make_user("adviser-b", "licensed_adviser"))
        .get(f"/gates/{advice.gate_id}/")
        .content.decode()
    )

    assert "In the document" not in loan_page and "In the document" not in advice_page
    assert "Unsuitable for the customer" in advice_page and "Wrong rule cited" not in advice_page
    assert "Share by asset class" in advice_page and "0.792" not in visible_text(advice_page)


def test_credit_grounds_posted_on_a_compliance_finding_are_refused_and_nothing_is_decided(temporal, portal):
    handle, _ = start_review(temporal, portal, REVIEW_DOCUMENT, turns_per_run=0)
    wait_for_gates(temporal, handle, 1)
    gate = projected_gate(handle)
    reviewer = logged_in(make_user("alex", *COMPLIANCE))

    response = decide(reviewer, gate, "reject", "Too risky", preset="Outside risk appetite")

    assert "Select a valid choice" in response.content.decode()
    assert Gate.objects.get(pk=gate.pk).status == "pending"
    assert not ActionAttempt.objects.filter(gate=gate, action="decide").exists()
    temporal.run(handle.terminate("test done"))


def test_edits_that_look_like_markup_are_shown_escaped_side_by_side():
    gate = SimpleNamespace(
        agent="regulatory",
        decided_by="bob",
        proposal={"proposed_action": "Add a warning."},
        edits={"proposed_action": "Add <script>alert('x')</script> a warning."},
        edit_diff="",
    )

    page = render_to_string("inbox/_side_by_side.html", {"gate": gate})

    assert "<script>" not in page
    assert "<ins>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; </ins>" in page
    assert "<caption>Proposed action</caption>" in page and "Approved by bob" in page
