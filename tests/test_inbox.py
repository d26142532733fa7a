"""The inbox: queues, filters, sorting, pages and bulk decisions.

Listing tests create projection rows with `make_gate` (no Temporal needed); the bulk decision test
runs real loan agents on the dev server and checks each gate got its own Update.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.framework.types import ToolResult
from agents.framework.workflow import AgentWorkflow
from reviewer_portal.accounts.roles import reviewer_roles_of
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.own_cases import own_pending
from reviewer_portal.inbox.permissions import gate_permissions_for
from reviewer_portal.inbox.projection import gate_apply_snapshot
from reviewer_portal.inbox.selectors import inbox_queues_for
from tests.actions import person_id
from tests.conftest import (
    APPROVABLE,
    DECLINABLE,
    event_types,
    loan_input,
    logged_in,
    make_user,
    projected_gate,
    start_loan,
)
from tests.test_gate_rules import gate as gate_snapshot

_numbers = itertools.count(1)
HTMX = {"HX-Request": "true"}
UPDATE_COMPLETED = "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED"


def make_gate(*, left: timedelta = timedelta(minutes=50), **fields: Any) -> Gate:
    """A pending, bulk-eligible loan gate for credit officers with `left` until its deadline."""
    n = next(_numbers)
    now = timezone.now()
    sla = fields.pop("sla_seconds", 3600)
    name = fields.pop("applicant_name", f"Applicant {n:04d}")
    values: dict[str, Any] = {
        "gate_id": f"loan-test-{n:04d}--g1",
        "workflow_id": f"loan-test-{n:04d}",
        "agent": "loans",
        "kind": "loan_decision",
        "subject": f"{name}: 10,000 over 36 months, car",
        "amount": Decimal(10_000),
        "case": {"applicant_name": name},
        "submitted_by": "intake",
        "recommendation": "approve",
        "rationale": "All lending policy checks passed.",
        "risk_factors": [],
        "model": "offline",
        "role": "credit_officer",
        "sla_seconds": sla,
        "opened_at": now + left - timedelta(seconds=sla),
        "deadline": now + left,
        "version": 1,
        "bulk_allowed": True,
        **fields,
    }
    values.setdefault("submitted_by_id", person_id(values["submitted_by"]))
    values.setdefault("assignee_id", person_id(values.get("assignee", "")))
    return Gate.objects.create(**values)


def listed(response) -> list[str]:
    """The gate ids of the rows in an inbox page, in order."""
    assert response.status_code in (200, 400, 403), response.status_code
    return re.findall(r'<tr data-gate-url="[^"]+" data-gate-id="([^"]+)"', response.content.decode())


@pytest.fixture
def officer(db):
    return make_user("officer", "credit_officer")


# --- queues -------------------------------------------------------------------------------


def test_queue_tabs_show_only_the_users_roles_with_their_pending_counts(db):
    user = make_user("both", "credit_officer", "compliance_reviewer")
    make_gate(), make_gate(), make_gate(assignee="both")
    make_gate(role="compliance_reviewer", agent="regulatory")
    make_gate(role="licensed_adviser", agent="advice")
    make_gate(status="approved")

    page = logged_in(user).get("/").content.decode()

    tabs = re.findall(
        r'<li><a href="([^"]*)"[^>]*>([^<]+) <span class="count">(\d+)<span class="sr-only"> pending', page
    )
    assert [(label, int(count)) for _, label, count in tabs] == [
        ("All my queues", 4),
        ("Credit officer", 3),
        ("Compliance reviewer", 1),
        ("Assigned to me", 1),
    ]
    assert [href for href, _, _ in tabs] == [
        "",
        "?queue=credit_officer",
        "?queue=compliance_reviewer",
        "?queue=mine",
    ]
    assert "Licensed adviser" not in page and "Admin" not in page


def test_queue_counts_are_one_aggregate_query(db, django_assert_num_queries):
    user = make_user("both", "credit_officer", "compliance_reviewer")
    make_gate(), make_gate(role="compliance_reviewer")
    reviewer_roles_of(user)  # the user's groups, cached for the request
    own_pending(user)  # and their own pending cases (one indexed lookup), cached likewise

    with django_assert_num_queries(1):
        queues = inbox_queues_for(user=user)

    assert [(q.key, q.count) for q in queues] == [
        ("", 2),
        ("credit_officer", 1),
        ("compliance_reviewer", 1),
        ("mine", 0),
    ]


def test_superusers_get_the_admin_queue(db):
    admin = make_user("root", superuser=True)
    held = make_gate(role="admin", needs_attention="Held for an admin: no decision within the SLA.")

    response = logged_in(admin).get("/?queue=admin")

    assert listed(response) == [held.gate_id]
    assert 'aria-current="page">Admin <span class="count"' in response.content.decode()


def test_a_queue_lists_its_roles_gates_and_assigned_to_me_the_users_own(db):
    user = make_user("both", "credit_officer", "senior_credit_officer")
    credit, senior = make_gate(), make_gate(role="senior_credit_officer", escalation_level=1)
    claimed = make_gate(assignee="both", left=timedelta(minutes=55))
    make_gate(assignee="someone-else")
    client = logged_in(user)

    assert credit.gate_id in listed(client.get("/?queue=credit_officer"))
    assert senior.gate_id not in listed(client.get("/?queue=credit_officer"))
    assert listed(client.get("/?queue=senior_credit_officer")) == [senior.gate_id]
    assert listed(client.get("/?queue=mine")) == [claimed.gate_id]


def test_a_forged_queue_of_a_role_the_user_lacks_is_403_and_lists_nothing(officer):
    make_gate()
    theirs = make_gate(role="compliance_reviewer", subject="Compliance only")

    response = logged_in(officer).get("/?queue=compliance_reviewer")

    assert response.status_code == 403
    assert listed(response) == []
    assert "You do not work in that queue" in response.content.decode()
    assert theirs.subject not in response.content.decode()


def test_no_filter_reveals_another_roles_gates(officer):
    theirs = make_gate(role="licensed_adviser", agent="advice", assignee="officer", applicant_name="Hidden")
    client = logged_in(officer)

    for query in ("", "?assignee=officer", "?q=Hidden", "?agent=advice", "?queue=mine", "?sla=on_time"):
        assert theirs.gate_id not in listed(client.get(f"/{query}")), query


def test_anonymous_users_are_sent_to_log_in(db):
    response = Client().get("/?queue=credit_officer")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert Client().post("/bulk/", {}).status_code == 302


# --- filters and sorting ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sla", "expected"),
    [
        # Escalation is a fact about the gate's past: an escalated gate is on time on its new SLA.
        ("on_time", ["on_time", "escalated"]),
        ("at_risk", ["at_risk"]),
        ("overdue", ["overdue"]),
        ("escalated", ["escalated"]),
    ],
)
def test_sla_filter(officer, sla, expected):
    gates = {
        "on_time": make_gate(left=timedelta(minutes=50)),
        # 10 of 60 minutes left: under a quarter of the SLA.
        "at_risk": make_gate(left=timedelta(minutes=10)),
        "overdue": make_gate(left=timedelta(seconds=-5)),
        # Plenty of its new SLA left, but escalated once already.
        "escalated": make_gate(left=timedelta(hours=3), sla_seconds=4 * 3600, escalation_level=1),
    }

    response = logged_in(officer).get(f"/?sla={sla}")

    assert listed(response) == [gates[name].gate_id for name in expected]


def test_at_risk_depends_on_each_gates_own_sla(officer):
    # 20 minutes left is at risk on a 2-hour SLA (17 %) but not on a 1-hour one (33 %).
    long_sla = make_gate(left=timedelta(minutes=20), sla_seconds=2 * 3600)
    short_sla = make_gate(left=timedelta(minutes=20), sla_seconds=3600)
    client = logged_in(officer)

    assert listed(client.get("/?sla=at_risk")) == [long_sla.gate_id]
    assert listed(client.get("/?sla=on_time")) == [short_sla.gate_id]
    assert 'badge at-risk">at risk' in client.get("/?sla=at_risk").content.decode()


def test_agent_amount_and_assignee_filters_combine(officer):
    make_user("colleague", "credit_officer")
    small = make_gate(amount=Decimal(900))
    mid = make_gate(amount=Decimal(20_000))
    mid_claimed = make_gate(amount=Decimal(30_000), assignee="officer")
    mid_colleague = make_gate(amount=Decimal(40_000), assignee="colleague")
    big = make_gate(amount=Decimal(60_000))
    other_agent = make_gate(amount=Decimal(20_000), agent="advice")
    client = logged_in(officer)

    in_range = set(listed(client.get("/?agent=loans&min_amount=1000&max_amount=50000")))
    assert in_range == {mid.gate_id, mid_claimed.gate_id, mid_colleague.gate_id}
    assert listed(client.get("/?min_amount=1000&max_amount=50000&assignee=me")) == [mid_claimed.gate_id]
    assert listed(client.get("/?assignee=colleague")) == [mid_colleague.gate_id]
    unassigned = set(listed(client.get("/?assignee=unassigned")))
    assert unassigned == {small.gate_id, mid.gate_id, big.gate_id, other_agent.gate_id}
    assert listed(client.get("/?agent=advice")) == [other_agent.gate_id]


def test_opened_dates_are_inclusive_days(officer):
    def opened_on(day: str) -> Gate:
        opened = timezone.make_aware(datetime.fromisoformat(day))
        return make_gate(opened_at=opened, sla_seconds=3600, deadline=timezone.now() + timedelta(hours=1))

    before, first, last, after = (
        opened_on("2026-03-31T23:59:00"),
        opened_on("2026-04-01T00:00:00"),
        opened_on("2026-04-30T23:59:59"),
        opened_on("2026-05-01T00:00:00"),
    )

    response = logged_in(officer).get("/?opened_after=2026-04-01&opened_before=2026-04-30")

    assert set(listed(response)) == {first.gate_id, last.gate_id}
    assert before.gate_id not in listed(response) and after.gate_id not in listed(response)


def test_search_matches_subject_or_applicant_name_ignoring_case(officer):
    by_name = make_gate(applicant_name="Amira Haddad", subject="Loan 17: 18,000 over 48 months")
    by_subject = make_gate(subject="Home improvement for the Haddad family")
    make_gate(applicant_name="Sofia Rossi")
    client = logged_in(officer)

    assert set(listed(client.get("/?q=haddad"))) == {by_name.gate_id, by_subject.gate_id}
    assert listed(client.get("/?q=AMIRA")) == [by_name.gate_id]
    assert listed(client.get("/?q=100%25")) == []  # a literal %, not a wildcard


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("deadline", ["a", "b", "c", "none"]),
        ("-deadline", ["none", "c", "b", "a"]),
        ("age", ["c", "none", "b", "a"]),  # youngest first
        ("-age", ["a", "b", "none", "c"]),  # oldest first
        ("amount", ["b", "c", "a", "none"]),  # gates without an amount come last either way
        ("-amount", ["a", "c", "b", "none"]),
    ],
)
def test_sorting(officer, sort, expected):
    now = timezone.now()
    gates = {
        "a": make_gate(
            amount=Decimal(30_000), opened_at=now - timedelta(hours=4), deadline=now + timedelta(minutes=10)
        ),
        "b": make_gate(
            amount=Decimal(5_000), opened_at=now - timedelta(hours=3), deadline=now + timedelta(minutes=20)
        ),
        "c": make_gate(
            amount=Decimal(12_000), opened_at=now - timedelta(hours=1), deadline=now + timedelta(minutes=30)
        ),
        "none": make_gate(
            amount=None, opened_at=now - timedelta(hours=2), deadline=now + timedelta(minutes=40)
        ),
    }

    response = logged_in(officer).get(f"/?sort={sort}")

    assert listed(response) == [gates[name].gate_id for name in expected]


def test_pages_of_25_with_links_that_keep_the_filters(officer):
    gates = [make_gate(left=timedelta(minutes=30 + i), amount=Decimal(2_000)) for i in range(30)]
    make_gate(amount=Decimal(500))  # filtered out
    client = logged_in(officer)

    first = client.get("/?min_amount=1000&sort=deadline")
    second = client.get("/?min_amount=1000&sort=deadline&page=2")
    beyond = client.get("/?min_amount=1000&sort=deadline&page=9")

    assert listed(first) == [g.gate_id for g in gates[:25]]
    assert listed(second) == [g.gate_id for g in gates[25:]]
    assert listed(beyond) == listed(second)  # past the end: the last page
    html = first.content.decode()
    assert "30 gates, page 1 of 2" in html
    assert 'href="?min_amount=1000&amp;sort=deadline&amp;page=2" rel="next"' in html
    # The queue tabs keep the filters too, and start again from the first page.
    assert 'href="?min_amount=1000&amp;sort=deadline&amp;queue=mine"' in second.content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("min_amount=lots", "Amount from: Enter a number."),
        ("max_amount=-5", "Amount to: Ensure this value is greater than or equal to 0."),
        ("min_amount=5000&max_amount=100", "Amount to: The upper amount is below the lower one."),
        ("opened_after=2026-13-01", "Opened from: Enter a valid date."),
        ("opened_after=2026-05-02&opened_before=2026-05-01", "Opened until: This date is before"),
        ("sort=price", "Sort by: Select a valid choice. price is not one of the available choices."),
        ("sla=late", "SLA: Select a valid choice."),
        ("queue=everyone", "Queue: Select a valid choice."),
        ("agent=unknown", "Agent: Select a valid choice."),
        ("assignee=bad%20name!", "Assignee: Enter a valid username."),
        ("page=0", "Page: Ensure this value is greater than or equal to 1."),
        ("page=last", "Page: Enter a whole number."),
        (f"q={'x' * 101}", "Search: Ensure this value has at most 100 characters"),
    ],
)
def test_a_bad_filter_value_is_a_400_with_a_clear_message_and_the_rest_still_apply(officer, query, message):
    kept = make_gate(amount=Decimal(2_000))

    response = logged_in(officer).get(f"/?{query}")

    assert response.status_code == 400
    assert message in response.content.decode()
    if "amount" not in query:
        assert listed(response) == [kept.gate_id]


def test_an_empty_filter_form_submission_redirects_to_a_clean_url(officer):
    response = logged_in(officer).get("/?queue=credit_officer&q=&sla=at_risk&agent=&min_amount=&page=")

    assert response.status_code == 302
    assert response["Location"] == "/?queue=credit_officer&sla=at_risk"
    assert logged_in(officer).get("/?q=&sla=").headers["Location"] == "/"


def test_the_filter_form_shows_the_current_filters_with_labels(officer):
    html = (
        logged_in(officer).get("/?queue=credit_officer&q=Haddad&sla=at_risk&min_amount=1000").content.decode()
    )

    for name, label in [
        ("q", "Search"),
        ("sla", "SLA"),
        ("agent", "Agent"),
        ("assignee", "Assignee"),
        ("min_amount", "Amount from"),
        ("max_amount", "Amount to"),
        ("opened_after", "Opened from"),
        ("opened_before", "Opened until"),
        ("sort", "Sort by"),
    ]:
        assert f'<label for="id_{name}">{label}:</label>' in html, name
    assert 'name="q" value="Haddad"' in html
    assert '<option value="at_risk" selected>' in html
    assert '<input type="hidden" name="queue" value="credit_officer">' in html


# --- the polled table ---------------------------------------------------------------------


def test_the_htmx_poll_gets_the_table_for_the_same_filters_and_fresh_counts(officer):
    match = make_gate(applicant_name="Amira Haddad", amount=Decimal(18_000))
    make_gate(applicant_name="Sofia Rossi")
    client = logged_in(officer)

    page = client.get("/?q=amira&sort=-amount").content.decode()
    poll = client.get("/?q=amira&sort=-amount", headers=HTMX)

    assert 'hx-get="/?q=amira&amp;sort=-amount"' in page
    body = poll.content.decode()
    assert poll.status_code == 200 and "<html" not in body
    assert listed(poll) == [match.gate_id]
    assert 'hx-get="/?q=amira&amp;sort=-amount"' in body
    # The queue tabs come along out of band, so their counts stay current too.
    assert '<nav id="queue-tabs" class="queues" aria-label="Queues" hx-swap-oob="true">' in body


def test_rows_carry_the_gate_url_and_id_and_a_gate_link(officer):
    gate = make_gate()

    html = logged_in(officer).get("/").content.decode()

    assert f'<tr data-gate-url="/gates/{gate.gate_id}/" data-gate-id="{gate.gate_id}">' in html
    assert f'<a class="gate-link" href="/gates/{gate.gate_id}/">{gate.subject}</a>' in html


def test_only_low_risk_gates_the_policy_allows_in_bulk_can_be_selected(officer):
    eligible = make_gate()
    ineligible = [
        make_gate(bulk_allowed=False),
        make_gate(recommendation="refer"),
        make_gate(risk_factors=["debt-to-income above 40 %"]),
        make_gate(needs_attention="The model could not be used."),
    ]

    html = logged_in(officer).get("/").content.decode()

    boxes = re.findall(r'<input type="checkbox" class="bulk-select" name="gate_ids" value="([^"]+)"', html)
    assert boxes == [eligible.gate_id]
    assert len(listed(logged_in(officer).get("/"))) == 1 + len(ineligible)
    assert f'aria-label="Select {eligible.subject}"' in html


# --- bulk decisions -------------------------------------------------------------------------


def bulk(client: Client, gate_ids: list[str], decision: str = "approve", *, htmx: bool = True, **fields: str):
    data = {"gate_ids": gate_ids, "decision": decision, "submission_id": str(uuid.uuid4()), **fields}
    return client.post("/bulk/", data, headers=HTMX if htmx else {})


def test_a_bulk_rejection_needs_a_reason_and_sends_nothing_without_one(officer):
    gate = make_gate()

    response = bulk(logged_in(officer), [gate.gate_id], "reject")

    assert response.status_code == 400
    assert "A rejection needs a reason: choose one or write it." in response.content.decode()
    assert not ActionAttempt.objects.exists()


# The evidence a loan gate decided in bulk carries (no flag): the bureau's file, the calculator's
# figures, and the policy check the framework made with them.
POLICY_CHECKED = [
    {"name": "loans.credit_bureau", "ok": True, "result": {"bureau_score": 720, "defaults": 0}},
    {"name": "loans.affordability", "ok": True, "result": {"debt_to_income": 0.2}},
    {
        "name": "loans.lending_policy_check",
        "ok": True,
        "result": {"passed": True, "breaches": [], "referrals": []},
        "requested_by": "framework",
    },
]


def test_a_bulk_rejection_is_confirmed_as_against_the_ai_or_nothing_is_sent(officer):
    gate = make_gate(tool_results=POLICY_CHECKED)  # bulk-eligible: the AI recommends approving it

    response = bulk(logged_in(officer), [gate.gate_id], "reject", reason_preset="Policy breach")
    confirmed = bulk(
        logged_in(officer), [gate.gate_id], "reject", reason_preset="Policy breach", against_ai="on"
    )

    assert response.status_code == 400
    assert "tick the box to confirm you reject them against its recommendation" in response.content.decode()
    assert confirmed.status_code == 200  # sent (the gate has no run here, so it is not delivered)
    assert [a.decision for a in ActionAttempt.objects.all()] == ["reject"]


def test_a_bulk_approval_of_a_gate_a_colleague_holds_claims_nothing_and_sends_nothing(temporal, portal):
    officer = make_user("officer", "credit_officer")
    colleague = make_user("colleague", "credit_officer")
    handle = start_loan(temporal, portal, loan_input(APPROVABLE, submitted_by="intake"))
    gate = projected_gate(handle)
    held = logged_in(colleague).post(
        f"/gates/{gate.gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers=HTMX
    )
    assert "You claimed this gate." in held.content.decode()

    inbox = logged_in(officer).get("/").content.decode()
    response = bulk(logged_in(officer), [gate.gate_id], "approve", reason_text="Low risk")

    assert f'value="{gate.gate_id}"' not in inbox  # no checkbox on a colleague's gate
    assert "Refused</strong> by the portal, nothing sent: Held by colleague" in response.content.decode()
    assert not ActionAttempt.objects.filter(reviewer=officer).exists()  # no claim, no decision
    assert Gate.objects.get(pk=gate.pk).status == "pending"


def test_a_bulk_decision_without_a_selection_is_a_400(officer):
    response = bulk(logged_in(officer), [])

    assert response.status_code == 400
    assert "Select at least one gate in the list." in response.content.decode()


def test_bulk_refuses_ineligible_and_forged_ids_without_sending_anything(officer):
    risky = make_gate(risk_factors=["bureau defaults"])
    decided = make_gate(status="approved", decided_by="colleague")
    theirs = make_gate(role="compliance_reviewer", subject="Compliance finding")

    response = bulk(logged_in(officer), [risky.gate_id, decided.gate_id, theirs.gate_id, "no-such-gate"])

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("Refused</strong> by the portal") == 4
    assert f"{risky.subject}</a>:" in html and "Not eligible for a bulk decision" in html
    assert "No longer pending (approved by colleague)." in html
    # Another role's gate is not even named: only the id that was posted comes back.
    assert theirs.subject not in html and f"<code>{theirs.gate_id}</code>" in html
    assert "<code>no-such-gate</code>" in html and "No such gate in your queues." in html
    assert "HX-Trigger" not in response.headers
    assert not ActionAttempt.objects.exists()


def test_two_low_risk_gates_are_approved_in_bulk_each_by_its_own_update(temporal, portal):
    officer = make_user("officer", "credit_officer")
    first = start_loan(temporal, portal, loan_input(APPROVABLE, submitted_by="intake"))
    second = start_loan(temporal, portal, loan_input(APPROVABLE, submitted_by="intake", sla_seconds=7200))
    risky = start_loan(temporal, portal, loan_input(DECLINABLE, submitted_by="intake"))
    gates = [projected_gate(h) for h in (first, second, risky)]
    assert [bool(g.risk_factors) for g in gates] == [False, False, True]
    client = logged_in(officer)
    # Loan gates are decided by the reviewer who holds them: the officer claims the first on its
    # page; selecting the second for a bulk decision claims it.
    claimed = client.post(
        f"/gates/{gates[0].gate_id}/claim/", {"submission_id": str(uuid.uuid4())}, headers=HTMX
    )
    assert "You claimed this gate." in claimed.content.decode()
    submission = str(uuid.uuid4())
    data = {
        "gate_ids": [g.gate_id for g in gates] + ["loan-forged--g1"],
        "decision": "approve",
        "reason_text": "Low risk, policy checks passed",
        "submission_id": submission,
    }

    inbox = client.get("/").content.decode()
    response = client.post("/bulk/", data, headers=HTMX)
    again = client.post("/bulk/", data, headers=HTMX)  # a double submit of the same form

    assert 'name="gate_ids" value="' + gates[2].gate_id not in inbox  # not offered for bulk
    html = response.content.decode()
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "gates-changed"
    assert html.count("Approved</strong>, recorded by the agent.") == 2
    assert html.count("Refused</strong> by the portal") == 2
    [bulk_claim] = ActionAttempt.objects.filter(action="assign", gate_id=gates[1].gate_id)
    assert (bulk_claim.status, bulk_claim.assignee) == ("accepted", officer)
    attempts = {a.gate_id: a for a in ActionAttempt.objects.filter(action="decide")}
    assert set(attempts) == {gates[0].gate_id, gates[1].gate_id}
    assert {a.status for a in attempts.values()} == {"accepted"}
    assert {a.reason for a in attempts.values()} == {"Low risk, policy checks passed"}
    # Each gate got its own Update, with its own ID derived from the form and the gate.
    update_ids = {a.update_id for a in attempts.values()}
    assert len(update_ids) == 2 and all(i.startswith("decide:loan-") for i in update_ids)
    for handle, gate in zip((first, second), gates[:2], strict=True):
        assert temporal.run(handle.result()).outcome == "approved"
        assert event_types(temporal, handle).count(UPDATE_COMPLETED) == 2  # the claim, the approval
        history = temporal.run(handle.fetch_history())
        sent = [
            e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
            for e in history.events
            if e.HasField("workflow_execution_update_accepted_event_attributes")
        ]
        assert sent[1:] == [attempts[gate.gate_id].update_id]
    # The double submit found them decided: no new attempt, no second Update.
    assert again.status_code == 200 and ActionAttempt.objects.filter(action="decide").count() == 2
    # The risky run was never sent anything and still waits for an individual decision.
    assert UPDATE_COMPLETED not in event_types(temporal, risky)
    assert temporal.run(risky.query(AgentWorkflow.gate)).status == "pending"
    assert Gate.objects.get(gate_id=gates[2].gate_id).status == "pending"
    temporal.run(risky.terminate("test done"))


def test_a_gate_its_agent_flags_is_refused_in_bulk_and_left_for_its_own_page(officer):
    """A loan gate with no policy check in its evidence (the bureau failed, say, and the model
    recommended approval without one) is flagged, so no bulk decision reaches it: the flag is a
    question for a reviewer looking at that gate."""
    unchecked = make_gate()
    checked = make_gate(tool_results=POLICY_CHECKED)

    response = bulk(
        logged_in(officer),
        [unchecked.gate_id, checked.gate_id],
        "reject",
        reason_preset="Policy breach",
        against_ai="on",
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "Flagged (No lending policy check in the evidence" in html
    assert "decide it on its own page." in html
    assert [a.gate_id for a in ActionAttempt.objects.all()] == [checked.gate_id]
    # The same form sent again (its submission id replayed): the flagged gate is still refused,
    # and the other keeps its one decision.
    client = logged_in(officer)
    form = {
        "gate_ids": [unchecked.gate_id, checked.gate_id],
        "decision": "reject",
        "submission_id": str(uuid.uuid4()),
        "reason_preset": "Policy breach",
        "against_ai": "on",
    }
    first, again = client.post("/bulk/", form, headers=HTMX), client.post("/bulk/", form, headers=HTMX)
    assert "Flagged (No lending policy check" in first.content.decode()
    assert "Flagged (No lending policy check" in again.content.decode()
    assert ActionAttempt.objects.filter(gate_id=unchecked.gate_id).count() == 0


def test_the_projection_keeps_a_gates_flags_and_the_inbox_offers_no_bulk_box_for_a_flagged_one(officer):
    """The agent's flags are worked out as the gate is written, so the inbox neither offers a
    flagged gate for a bulk decision nor hides why: its row says "flagged" and names the flag."""
    evidence = [
        ToolResult(f"c{n}", r["name"], True, r["result"], requested_by=r.get("requested_by", "model"))
        for n, r in enumerate(POLICY_CHECKED)
    ]
    unchecked = gate_snapshot(
        gate_id="loan-flag-1--g1", workflow_id="loan-flag-1", subject="Unchecked", tool_results=evidence[:2]
    )
    checked = gate_snapshot(
        gate_id="loan-flag-2--g1", workflow_id="loan-flag-2", subject="Checked", tool_results=evidence
    )
    for snapshot in (unchecked, checked):
        gate_apply_snapshot(snapshot=dataclasses.replace(snapshot, bulk_allowed=True))

    assert Gate.objects.get(gate_id=unchecked.gate_id).flags == [
        "No lending policy check in the evidence: check the policy before deciding."
    ]
    assert Gate.objects.get(gate_id=checked.gate_id).flags == []
    html = logged_in(officer).get("/").content.decode()
    boxes = re.findall(r'<input type="checkbox" class="bulk-select" name="gate_ids" value="([^"]+)"', html)
    assert boxes == [checked.gate_id]
    row = html[html.index('data-gate-id="loan-flag-1--g1"') :]
    row = row[: row.index("</tr>")]
    assert 'class="badge attention flagged"' in row and "No lending policy check in the evidence" in row
    assert "flagged" not in html[html.index('data-gate-id="loan-flag-2--g1"') :].split("</tr>")[0]
    # Sent all the same (a form from before, or written by hand): refused, and says why.
    response = bulk(logged_in(officer), [unchecked.gate_id], "approve")
    assert "Flagged (No lending policy check in the evidence" in response.content.decode()
    assert not ActionAttempt.objects.exists()


def test_bulk_without_javascript_shows_the_results_on_the_inbox_page(officer):
    gate = make_gate(risk_factors=["bureau defaults"])

    response = bulk(logged_in(officer), [gate.gate_id], htmx=False, reason_preset="Policy breach")

    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert "Refused</strong> by the portal" in html
    assert listed(response) == [gate.gate_id]


def test_a_gates_permissions_come_from_one_reading_of_the_users_roles(db, django_assert_num_queries):
    officer = make_user("officer", "credit_officer")
    senior = make_user("senior", "senior_credit_officer")
    gate = make_gate(submitted_by="officer", supervisors=["senior_credit_officer"], assignee="other")

    with django_assert_num_queries(1):  # the user's groups, once for every answer
        mine = gate_permissions_for(user=officer, gate=gate)
    theirs = gate_permissions_for(user=senior, gate=gate)
    decided = gate_permissions_for(
        user=make_user("officer2", "credit_officer"), gate=make_gate(status="approved")
    )

    # The officer submitted it: four eyes, so neither the decision panel nor the claim (it waits
    # for another officer: tests/test_history.py).
    assert (mine.decide, mine.annotate, mine.claim, mine.supervises) == (False, True, False, False)
    assert (mine.holds, mine.held_by_other) == (False, True)
    assert (theirs.decide, theirs.assign, theirs.supervises, theirs.claim) == (False, True, True, False)
    assert (decided.decide, decided.assign, decided.annotate) == (False, False, True)


def test_an_inbox_page_costs_the_same_queries_for_two_rows_as_for_twenty(db):
    """No query per row: a row's fields (the recommendation's tool call too) come with the page."""
    officer = make_user("officer", "credit_officer")
    client = logged_in(officer)

    def queries_for_a_page() -> int:
        client.get("/")  # warm the session and the per-process caches
        with CaptureQueriesContext(connection) as page:
            assert client.get("/?q=Applicant").status_code == 200
        return len(page.captured_queries)

    make_gate(), make_gate()
    two = queries_for_a_page()
    for _ in range(18):
        make_gate()
    twenty = queries_for_a_page()

    assert twenty == two
