"""The team view (issue 11): a supervisor sees their roles' queues, who holds what and for how
long; reassigns and releases gates in bulk through the `assign` Update; marks a reviewer absent so
their claims are released and nobody offers them gates. Tampered posts change nothing."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from agents.framework.workflow import AgentWorkflow
from reviewer_portal.accounts.roles import REVIEWER_ROLES
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.inbox.selectors import gate_assignees_for
from reviewer_portal.inbox.services import gate_assign
from reviewer_portal.team.absences import absence_of, absences_current
from reviewer_portal.team.models import Absence
from reviewer_portal.team.selectors import supervised_roles_of, team_board_for
from reviewer_portal.team.services import TeamRefusal, absence_end, absence_mark
from tests.conftest import loan_input, logged_in, make_user, projected_gate, start_loan
from tests.test_inbox import make_gate


def officer_gate(**fields) -> Gate:
    """A credit officer's loan gate, supervised as the loan policy says."""
    return make_gate(supervisors=["senior_credit_officer", "admin"], **fields)


def post_team(client: Client, gate_ids: list[str], action: str = "reassign", **fields: str):
    data = {
        "role": "credit_officer",
        "gate_ids": gate_ids,
        "action": action,
        "submission_id": str(uuid.uuid4()),
        **fields,
    }
    return client.post("/team/gates/", data)


def mark_absent(client: Client, username: str, **fields: str):
    data = {"username": username, "submission_id": str(uuid.uuid4()), **fields}
    return client.post("/team/absences/", data)


def claim(gate: Gate, user, when: timedelta | None = None) -> ActionAttempt:
    """The user's claim through the portal's service; `when` backdates it (how long held)."""
    attempt = gate_assign(gate=gate, reviewer=user, assignee=user, submission_id=str(uuid.uuid4()))
    assert attempt.status == "accepted", attempt.detail
    if when is not None:
        ActionAttempt.objects.filter(pk=attempt.pk).update(created_at=timezone.now() - when)
    return attempt


def workflow_assignee(temporal, handle) -> str:
    return temporal.run(handle.query(AgentWorkflow.gate)).assignee


def row(page: str, gate: Gate) -> str:
    match = re.search(rf'<tr data-gate-id="{re.escape(gate.gate_id)}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {gate.gate_id}"
    return match.group(1)


@pytest.fixture
def team(db):
    """A credit team: two officers, a senior who supervises them, and a compliance reviewer."""
    return {
        "officer": make_user("officer", "credit_officer"),
        "colleague": make_user("colleague", "credit_officer"),
        "senior": make_user("senior", "senior_credit_officer"),
        "compliance": make_user("compliance", "compliance_reviewer"),
    }


# Selectors and authorization -------------------------------------------------------------------


def test_a_senior_supervises_the_officers_queue_an_officer_supervises_nothing(team):
    assert "credit_officer" in supervised_roles_of(user=team["senior"])
    assert supervised_roles_of(user=team["officer"]) == []
    assert set(supervised_roles_of(user=make_user("root", superuser=True))) == set(REVIEWER_ROLES)


@pytest.mark.parametrize("role", [*REVIEWER_ROLES, "auditor", None])
def test_only_supervisors_and_admins_open_the_team_view(db, role):
    user = (
        make_user("someone", superuser=True)
        if role == "admin"
        else make_user("someone", *([role] if role else []))
    )
    supervises = bool(supervised_roles_of(user=user))
    client = logged_in(user)

    page = client.get("/team/")
    posted = post_team(client, ["loan-test-x--g1"], "unclaim")
    inbox = client.get("/").content.decode() if role != "auditor" else client.get("/audit/").content.decode()

    assert page.status_code == (200 if supervises else 403)
    assert supervises or "The team view is for supervisors of a reviewer role." in page.content.decode()
    assert posted.status_code == (400 if supervises else 403)  # a supervisor's is refused: no such gate
    assert ('href="/team/"' in inbox) == supervises
    assert role not in ("admin", "senior_credit_officer") or supervises


def test_anonymous_is_sent_to_log_in(db):
    assert Client().get("/team/").url.startswith("/accounts/login/")


def test_the_senior_sees_the_officers_pending_gates_holders_and_how_long_held(team):
    held = officer_gate(assignee="officer")
    unheld = officer_gate()
    ActionAttempt.objects.create(
        action="assign",
        action_id="assign:x:1",
        gate=held,
        reviewer=team["officer"],
        assignee=team["officer"],
        status="accepted",
    )
    ActionAttempt.objects.filter(gate=held).update(created_at=timezone.now() - timedelta(hours=2, minutes=5))
    make_gate(role="compliance_reviewer", kind="finding")  # not the senior's to see here

    page = logged_in(team["senior"]).get("/team/").content.decode()
    (board,) = [b for b in team_board_for(user=team["senior"]) if b.role == "credit_officer"]
    loads = {load.user.username: load for load in board.reviewers}

    assert [r.gate.gate_id for r in board.rows] == [held.gate_id, unheld.gate_id]
    assert "officer" in row(page, held) and "2\xa0hours" in row(page, held)
    assert "Unclaimed" in row(page, unheld)
    assert loads["officer"].holds == 1 and loads["colleague"].holds == 0
    assert 'data-label="Time left"' in row(page, held) and "left</span>" in row(page, held)
    assert "Compliance" not in page
    assert 'value="' + held.gate_id + '"' in row(page, held)  # a checkbox: the senior may reassign it


def test_a_gate_whose_policy_names_other_supervisors_is_listed_without_a_checkbox(team):
    gate = make_gate(supervisors=["admin"])
    page = logged_in(team["senior"]).get("/team/").content.decode()
    refused = post_team(logged_in(team["senior"]), [gate.gate_id], "unclaim")
    assert "Your roles may not reassign this gate" in row(page, gate)
    assert refused.status_code == 400 and not ActionAttempt.objects.exists()


# Tampering: refused as a whole, nothing recorded or sent ----------------------------------------


def test_a_tampered_team_post_is_refused_and_changes_nothing(team):
    officers = [officer_gate(assignee="officer"), officer_gate()]
    finding = make_gate(role="compliance_reviewer", kind="finding")
    senior = logged_in(team["senior"])
    ids = [g.gate_id for g in officers]

    cases = {
        "another role's gate": post_team(senior, [*ids, finding.gate_id], assignee="colleague"),
        "a queue not supervised": post_team(senior, [finding.gate_id], "unclaim", role="compliance_reviewer"),
        "an assignee without the role": post_team(senior, ids, assignee="compliance"),
        "an unknown assignee": post_team(senior, ids, assignee="nobody"),
        "500 ids": post_team(senior, [f"loan-test-{n}--g1" for n in range(500)], "unclaim"),
        "a NUL in an id": post_team(senior, ["loan\x00--g1"], "unclaim"),
        "a bidi override in the name": post_team(senior, ids, assignee="colle\u202eague"),
        "an oversize name": post_team(senior, ids, assignee="c" * 151),
        "an unknown action": post_team(senior, ids, "approve"),
        "no gates": post_team(senior, [], "unclaim"),
    }

    for name, response in cases.items():
        assert response.status_code == 400, name
        assert "Nothing was changed or sent" in response.content.decode(), name
    assert "1 selected gate is not pending in this queue" in cases["another role's gate"].content.decode()
    assert "at most 50 gates" in cases["500 ids"].content.decode()
    assert "not an active reviewer with this role" in cases["an assignee without the role"].content.decode()
    assert not ActionAttempt.objects.exists()
    assert Gate.objects.get(pk=officers[0].pk).assignee == "officer"


def test_a_peer_officer_may_not_post_to_the_team_view(team):
    gate = officer_gate(assignee="officer")
    response = post_team(logged_in(team["colleague"]), [gate.gate_id], "unclaim")
    assert response.status_code == 403 and not ActionAttempt.objects.exists()


def test_a_tampered_absence_is_refused_and_records_nothing(team):
    senior = logged_in(team["senior"])
    cases = {
        "another team's reviewer": mark_absent(senior, "compliance"),
        "themselves": mark_absent(senior, "senior"),
        "an unknown name": mark_absent(senior, "nobody"),
        "a control character": mark_absent(senior, "officer", reason="ill\x07"),
        "an invisible character": mark_absent(senior, "officer", reason="ill\u200b"),
        "an oversize reason": mark_absent(senior, "officer", reason="x" * 501),
        "a past return": mark_absent(senior, "officer", until="2020-01-01"),
    }
    for name, response in cases.items():
        assert response.status_code == 400, name
    assert "not a reviewer of a team you supervise" in cases["another team's reviewer"].content.decode()
    assert not Absence.objects.exists()
    # Seniors oversee officers, not each other: a peer is not theirs to mark absent, even one who
    # also reviews in a role the senior supervises.
    peer = make_user("senior-b", "senior_credit_officer", "credit_officer")
    refused = mark_absent(senior, "senior-b")
    assert refused.status_code == 400 and "not a reviewer of a team you supervise" in refused.content.decode()
    assert "senior_credit_officer" not in supervised_roles_of(user=team["senior"])
    assert not Absence.objects.filter(user=peer).exists()
    assert logged_in(team["officer"]).get("/team/").status_code == 403


# Absences ----------------------------------------------------------------------------------------


def test_an_absent_reviewer_is_not_offered_as_an_assignee_until_marked_present(team):
    gate = officer_gate()
    absence, outcomes = absence_mark(
        user=team["colleague"],
        marked_by=team["senior"],
        reason="Leave",
        until=None,
        submission_id=str(uuid.uuid4()),
    )
    offered_while_absent = list(gate_assignees_for(gate=gate).values_list("username", flat=True))
    absent_page = logged_in(team["senior"]).get("/team/").content.decode()
    twice = pytest.raises(TeamRefusal, match="already marked absent")
    with twice:
        absence_mark(
            user=team["colleague"],
            marked_by=team["senior"],
            reason="",
            until=None,
            submission_id=str(uuid.uuid4()),
        )
    reassign = post_team(logged_in(team["senior"]), [gate.gate_id], assignee="colleague")

    absence_end(absence=absence, ended_by=team["senior"])

    assert outcomes == []  # they held nothing
    assert offered_while_absent == ["officer"]
    assert reassign.status_code == 400 and "colleague is marked absent" in reassign.content.decode()
    assert 'data-reviewer="colleague"' in absent_page and "Mark colleague present" in absent_page
    assert list(gate_assignees_for(gate=gate).values_list("username", flat=True)) == ["colleague", "officer"]
    record = Absence.objects.get()
    assert record.marked_by == team["senior"] and record.ended_by == team["senior"] and record.ended_at
    assert not absences_current().exists()
    with pytest.raises(TeamRefusal, match="not marked absent any more"):
        absence_end(absence=record, ended_by=team["senior"])


def test_marking_present_through_the_view_keeps_the_record(team):
    senior = logged_in(team["senior"])
    assert mark_absent(senior, "colleague", reason="Training").status_code == 200
    absence = Absence.objects.get()

    refused = logged_in(team["officer"]).post("/team/absences/present/", {"absence": absence.pk})
    present = senior.post("/team/absences/present/", {"absence": absence.pk})
    page = senior.get("/team/").content.decode()

    assert refused.status_code == 403
    assert present.status_code == 302
    assert "marked present by senior" in page and "Training" in page
    assert not absences_current().exists()


# On the real dev server ------------------------------------------------------------------------


@pytest.fixture
def credit_team(portal_settings):
    return {
        "officer": make_user("officer", "credit_officer"),
        "colleague": make_user("colleague", "credit_officer"),
        "senior": make_user("senior", "senior_credit_officer"),
    }


def loan_gates(temporal, portal, count: int, submitted_by: str = "intake"):
    handles = [start_loan(temporal, portal, loan_input(submitted_by=submitted_by)) for _ in range(count)]
    return [(handle, projected_gate(handle)) for handle in handles]


def test_a_senior_reassigns_two_held_gates_in_bulk(temporal, portal, credit_team):
    (h1, g1), (h2, g2) = loan_gates(temporal, portal, 2)
    claim(g1, credit_team["officer"])
    claim(g2, credit_team["officer"])

    response = post_team(logged_in(credit_team["senior"]), [g1.gate_id, g2.gate_id], assignee="colleague")
    page = response.content.decode()

    assert response.status_code == 200
    assert page.count("now held by colleague") == 2
    assert workflow_assignee(temporal, h1) == workflow_assignee(temporal, h2) == "colleague"
    assigned = ActionAttempt.objects.filter(reviewer=credit_team["senior"], status="accepted")
    assert assigned.count() == 2 and {a.assignee.username for a in assigned} == {"colleague"}
    assert row(page, Gate.objects.get(pk=g1.pk)).count("colleague") == 1


def test_bulk_reassign_refuses_the_submitter_per_gate_and_sends_the_rest(temporal, portal, credit_team):
    [(mine, own)] = loan_gates(temporal, portal, 1, submitted_by="colleague")
    [(other, theirs)] = loan_gates(temporal, portal, 1)

    page = post_team(
        logged_in(credit_team["senior"]), [own.gate_id, theirs.gate_id], assignee="colleague"
    ).content.decode()

    assert "colleague cannot take this gate" in page and "now held by colleague" in page
    assert workflow_assignee(temporal, mine) == "" and workflow_assignee(temporal, other) == "colleague"


def test_bulk_release_reports_the_workflows_refusal_for_an_unclaimed_gate(temporal, portal, credit_team):
    (h1, held), (h2, free) = loan_gates(temporal, portal, 2)
    claim(held, credit_team["officer"])

    page = post_team(
        logged_in(credit_team["senior"]), [held.gate_id, free.gate_id], "unclaim"
    ).content.decode()

    assert "released, anyone in the queue may claim it" in page
    assert "Refused</strong> by the agent: This gate is already unclaimed." in page
    assert workflow_assignee(temporal, h1) == "" and workflow_assignee(temporal, h2) == ""


def test_marking_a_reviewer_absent_releases_their_claims_on_the_running_gates(temporal, portal, credit_team):
    (h1, g1), (h2, g2), (h3, g3) = loan_gates(temporal, portal, 3)
    claim(g1, credit_team["officer"], when=timedelta(hours=3))
    claim(g2, credit_team["officer"])
    claim(g3, credit_team["colleague"])
    senior = logged_in(credit_team["senior"])
    before = senior.get("/team/").content.decode()

    response = mark_absent(senior, "officer", reason="Sick leave")
    page = response.content.decode()

    assert "3\xa0hours" in row(before, g1)
    assert response.status_code == 200 and page.count("released, anyone in the queue may claim it") == 2
    assert workflow_assignee(temporal, h1) == workflow_assignee(temporal, h2) == ""
    assert workflow_assignee(temporal, h3) == "colleague"  # someone else's claim stays
    releases = ActionAttempt.objects.filter(reviewer=credit_team["senior"], assignee=None)
    assert {a.reason for a in releases} == {"officer is absent: Sick leave"}
    absence = Absence.objects.get()
    assert absence.user == credit_team["officer"] and absence.marked_by == credit_team["senior"]
    # While absent, nobody is offered them: not on the gate page, not in the team view.
    gate_page = logged_in(credit_team["colleague"]).get(f"/gates/{g1.gate_id}/").content.decode()
    assert "officer" not in list(
        gate_assignees_for(gate=Gate.objects.get(pk=g1.pk)).values_list("username", flat=True)
    )
    assert '<option value="officer">' not in gate_page
    assert '<option value="officer">' not in re.search(
        r'id="assignee-credit_officer".*?</select>', page, re.S
    ).group(0)


def test_each_reviewers_load_counts_every_pending_gate_and_their_oldest_claim(team, monkeypatch):
    monkeypatch.setattr("reviewer_portal.team.selectors.ROWS_PER_ROLE", 2)
    held = [officer_gate(assignee="officer") for _ in range(3)]
    for n, gate in enumerate(held):
        ActionAttempt.objects.create(
            action="assign",
            action_id=f"assign:{n}",
            gate=gate,
            reviewer=team["officer"],
            assignee=team["officer"],
        )
        ActionAttempt.objects.filter(gate=gate).update(
            status="accepted", created_at=timezone.now() - timedelta(hours=n + 1)
        )
    officer_gate(assignee="colleague")  # held outside the portal: counted, since unknown
    officer_gate(assignee="gone", assignee_id="")  # a holder with no account any more
    make_user("gone")

    (board,) = [b for b in team_board_for(user=team["senior"]) if b.role == "credit_officer"]
    loads = {load.user.username: load for load in board.reviewers}
    page = logged_in(team["senior"]).get("/team/").content.decode()

    assert board.pending == 5 and len(board.rows) == 2
    assert loads["officer"].holds == 3
    assert timezone.now() - loads["officer"].oldest_held_since > timedelta(hours=2, minutes=59)
    assert loads["colleague"].holds == 1 and loads["colleague"].oldest_held_since is None
    assert loads["gone"].holds == 1  # lost the role, still shown holding it
    assert "Credit officer: 5 pending" in page and "The 2 most urgent are listed" in page


def test_an_absent_reviewer_cannot_claim_until_marked_present(team):
    gate = officer_gate()
    absence, _ = absence_mark(
        user=team["colleague"],
        marked_by=team["senior"],
        reason="Leave",
        until=None,
        submission_id=str(uuid.uuid4()),
    )
    claim_form = {"submission_id": str(uuid.uuid4())}

    refused = logged_in(team["colleague"]).post(
        f"/gates/{gate.gate_id}/claim/", claim_form, headers={"HX-Request": "true"}
    )

    assert refused.status_code == 409
    assert "You are marked absent" in refused.content.decode() and "by senior" in refused.content.decode()
    assert not ActionAttempt.objects.filter(gate=gate, reviewer=team["colleague"]).exists()
    absence_end(absence=absence, ended_by=team["senior"])
    assert absence_of(team["colleague"]) is None  # present again: claims go to the run as before


def test_an_absence_ends_by_itself_on_its_return_day(team):
    Absence.objects.create(
        user=team["colleague"],
        since=timezone.now() - timedelta(days=3),
        until=timezone.now() - timedelta(minutes=1),
        marked_by=team["senior"],
    )
    gate = officer_gate()
    assert not absences_current().exists()
    assert "colleague" in gate_assignees_for(gate=gate).values_list("username", flat=True)


@pytest.mark.parametrize("absence", ["", "abc", "0", "-1", str(2**70), "1\x00"])
def test_a_tampered_mark_present_is_refused(team, absence):
    response = logged_in(team["senior"]).post("/team/absences/present/", {"absence": absence})
    assert response.status_code == 400 and "No such absence." in response.content.decode()
