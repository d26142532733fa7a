"""How agent data is shown to reviewers: labels and values, never Python reprs."""

from __future__ import annotations

import dataclasses

import pytest

from agents.framework.registry import AGENTS
from agents.loans.presentation import CHECK_WITHOUT_FIGURES, NO_POLICY_CHECK
from reviewer_portal.inbox.presentation import (
    UNCHECKED,
    case_facts,
    details_of,
    evidence_of,
    flags_of,
    formatted,
)
from reviewer_portal.inbox.templatetags.gate_format import display, label, tone


def test_keys_become_labels():
    assert label("annual_income") == "Annual income"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "Yes"),
        (False, "No"),
        ([], "none"),
        (None, "none"),
        (["score below 580", "1 default(s) on file"], "score below 580; 1 default(s) on file"),
        (18000.0, "18,000"),
        (1118.623, "1,118.62"),
        (0.079, "0.079"),
        (742, "742"),
        ("car", "car"),
        ({"code": "ISA", "value": 1200.5}, "Code: ISA, Value: 1,200.50"),
        ([{"code": "A"}, {"code": "B"}], "Code: A\nCode: B"),
    ],
)
def test_values_are_shown_for_people(value, shown):
    assert display(value) == shown


# --- what agents declare (agents.framework.presentation) ----------------------------------------


@pytest.mark.parametrize(
    ("value", "fmt", "shown"),
    [
        (0.079, "percent", "7.9 %"),
        (0.5, "percent", "50 %"),
        (18000.0, "currency", "£18,000"),
        (1118.623, "currency", "£1,118.62"),
        ("48", "months", "48 months"),
        (1, "months", "1 month"),
        (742, "integer", "742"),
        ("2026-11-26T10:00:00+00:00", "date", "2026-11-26"),
        # Not what the format expects: shown as it is, never an error.
        ("n/a", "currency", "n/a"),
        (True, "percent", "Yes"),
        (float("nan"), "currency", "nan"),
        (None, "currency", "none"),
    ],
)
def test_declared_formats(value, fmt, shown, settings):
    settings.CURRENCY = "GBP"
    assert formatted(value, fmt) == shown


def test_a_currency_without_a_symbol_is_named(settings):
    settings.CURRENCY = "CHF"
    assert formatted(2500, "currency") == "2,500 CHF"


def test_loan_case_and_evidence_read_with_the_loan_agents_labels_and_formats(settings):
    settings.CURRENCY = "GBP"
    case = {
        "applicant_name": "Tomasz Nowak",
        "amount": 9500.0,
        "term_months": 36,
        "credit_score": 668,
        "x": 1,
    }
    facts = {f.label: f.text for f in case_facts("loans", case)}
    bureau = {
        "name": "loans.credit_bureau",
        "ok": True,
        "result": {"bureau_score": 658, "credit_utilisation": 0.5},
    }
    failed = {"name": "loans.affordability", "ok": False, "error": "term must be positive"}
    [credit, broken] = evidence_of("loans", [bureau, failed])

    assert facts == {
        "Applicant": "Tomasz Nowak",
        "Amount": "£9,500",
        "Term": "36 months",
        "Declared credit score": "668",
        "X": "1",  # undeclared keys still read plainly
    }
    assert credit.title == "Credit bureau"
    assert [(f.label, f.text) for f in credit.facts] == [
        ("Bureau credit score", "658"),
        ("Credit utilisation", "50 %"),
    ]
    assert (broken.ok, broken.error) == (False, "term must be positive")
    policy = {
        "name": "loans.lending_policy_check",
        "ok": True,
        "result": {"passed": True, "breaches": [], "referrals": []},
        "requested_by": "framework",
    }
    affordable = {"name": "loans.affordability", "ok": True, "result": {"debt_to_income": 0.2}}
    evidence = [bureau, affordable, policy]
    fair = {**case, "credit_score": 660}
    assert flags_of("loans", case, evidence) == ["Declared credit score 668; the bureau reports 658."]
    assert flags_of("loans", fair, evidence) == []
    # A check the model made (the framework's figures were missing, or it asked again after the
    # framework's) had figures of the model's choosing: said, even with the bureau's file beside
    # it, as when the bureau failed for the framework and the model fetched it again itself.
    models_check = {**policy, "requested_by": "model"}
    assert flags_of("loans", fair, [affordable, models_check]) == [CHECK_WITHOUT_FIGURES]
    down = {"name": "loans.credit_bureau", "ok": False, "error": "bureau down", "requested_by": "framework"}
    refetched = [down, affordable, bureau, {k: v for k, v in models_check.items() if k != "requested_by"}]
    assert flags_of("loans", fair, refetched) == [CHECK_WITHOUT_FIGURES]
    assert flags_of("loans", fair, [*evidence, models_check]) == [CHECK_WITHOUT_FIGURES]  # the last counts
    # A check that found breaches or asks for a referral is said whatever the AI recommends.
    breached = {**policy, "result": {"passed": False, "breaches": ["1 default(s) on file"], "referrals": []}}
    referred = {**policy, "result": {"passed": True, "breaches": [], "referrals": ["amount above 25,000"]}}
    assert flags_of("loans", fair, [bureau, affordable, breached]) == [
        "The lending policy check did not pass (1 default(s) on file)."
    ]
    assert flags_of("loans", fair, [bureau, affordable, referred]) == [
        "The lending policy check asks for a referral (amount above 25,000)."
    ]
    # A policy check that failed, or that nobody made, is said: the framework makes it only with
    # the bureau's and the calculator's figures.
    failed_check = {**policy, "ok": False, "error": "down"}
    assert flags_of("loans", fair, [bureau, failed_check]) == [NO_POLICY_CHECK]
    assert flags_of("loans", fair, [bureau]) == [NO_POLICY_CHECK]


def test_a_flag_rule_that_fails_on_odd_data_flags_the_gate_as_unchecked_not_an_error(monkeypatch):
    """A rule that cannot judge a gate's data must not take the page down, nor leave the gate open
    to a bulk decision: the gate is flagged as unchecked."""

    def broken(case, results, made_by):
        raise KeyError("bureau_score")

    monkeypatch.setitem(AGENTS, "loans", dataclasses.replace(AGENTS["loans"], flags=broken))
    assert flags_of("loans", {"credit_score": "not a number"}, []) == [UNCHECKED]
    assert flags_of("loans", {}, [{"name": None, "ok": True, "result": "not a mapping"}, 7]) == [UNCHECKED]


def test_records_read_as_a_table_not_joined_strings():
    holdings = {
        "name": "advice.holdings",
        "ok": True,
        "result": {"positions": [{"code": "ISA", "value": 1200.5}, {"code": "GIA", "value": 300}]},
    }
    [evidence] = evidence_of("advice", [holdings])
    [positions] = evidence.facts

    assert positions.header == ["Code", "Value"]
    assert positions.rows == [["ISA", "1,200.50"], ["GIA", "300"]]


def test_an_unregistered_agents_data_still_reads_plainly():
    assert [(f.label, f.text) for f in case_facts("gone", {"total_cost": 12.5})] == [("Total cost", "12.50")]
    assert details_of("gone", {"anything": 1}) == ""


def test_a_recommendations_colour_follows_the_agents_verdicts_not_loan_words():
    assert tone("approve", "loans") == "tone-approve"
    assert tone("decline", "loans") == "tone-reject"
    assert tone("refer", "loans") == "tone-none"
    assert tone("reply", "customer_service") == "tone-approve"  # the inquiry agent's own word
    assert tone("regulatory.record_finding", "regulatory") == "tone-none"
