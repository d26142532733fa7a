"""E-mail notices to a gate's role: a high-priority gate opened, an SLA about to breach."""

from __future__ import annotations

import time

from django.core import mail

from tests.conftest import event_types, loan_input, make_user, start_loan, wait_for_gate


def wait_for_mail(count: int, timeout: float = 30) -> list:
    deadline = time.monotonic() + timeout
    while len(mail.outbox) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return mail.outbox


def reviewers():
    officer = make_user("officer", "credit_officer")
    officer.email = "officer@bank.example"
    officer.save()
    adviser = make_user("adviser", "licensed_adviser")
    adviser.email = "adviser@bank.example"
    adviser.save()


def test_the_role_is_warned_before_the_sla_runs_out(temporal, worker):
    reviewers()
    # Warned 2 s in, escalated (and the warning reset) at 8 s: a window the query's polls see.
    agent_input = loan_input(sla_seconds=8, escalation_sla_seconds=3600)
    agent_input.spec.gate.warn_at = 0.75
    handle = start_loan(temporal, worker, agent_input)

    warned = wait_for_gate(temporal, handle, until=lambda g: g.warned)
    outbox = wait_for_mail(1)

    assert warned.warned and warned.role == "credit_officer" and warned.status == "pending"
    assert [m.to for m in outbox] == [["officer@bank.example"]]
    assert outbox[0].subject.startswith("SLA about to breach: Amira Haddad")
    assert f"/gates/{warned.gate_id}/" in outbox[0].body
    assert "EVENT_TYPE_MARKER_RECORDED" in event_types(temporal, handle)  # the versioning patch
    temporal.run(handle.terminate("test done"))


def test_a_high_priority_gate_is_announced_when_it_opens(temporal, worker):
    reviewers()
    agent_input = loan_input()
    agent_input.spec.gate.priority = "high"
    handle = start_loan(temporal, worker, agent_input)

    wait_for_gate(temporal, handle)
    outbox = wait_for_mail(1)

    assert [m.to for m in outbox] == [["officer@bank.example"]]
    assert outbox[0].subject.startswith("High-priority gate waiting: Amira Haddad")
    temporal.run(handle.terminate("test done"))


def test_normal_gates_far_from_their_sla_send_nothing(temporal, worker):
    reviewers()
    handle = start_loan(temporal, worker, loan_input())
    wait_for_gate(temporal, handle)
    time.sleep(1)
    assert mail.outbox == []
    temporal.run(handle.terminate("test done"))
