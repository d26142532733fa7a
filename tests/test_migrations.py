"""Migrations on data the old code could leave: the upgrade never fails on it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("inbox", "0008_gate_status_changes_requested")]
AFTER = [("inbox", "0009_signed_actions")]


def loan_gate_fields() -> dict[str, object]:
    """A pending loan gate's columns as every migration since 0011 has them, flags aside."""
    now = timezone.now()
    return dict(
        agent="loans", kind="loan_decision", subject="x", submitted_by="intake", recommendation="approve",
        rationale="", model="m", opened_at=now, version=1, role="credit_officer", sla_seconds=600,
        deadline=now, bulk_allowed=True,
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_queued_decisions_a_reviewer_left_twice_on_one_gate_keep_only_the_newest():
    # The old code let a reviewer queue a second decision on a gate; the new constraint forbids it.
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    try:
        user = old.get_model("auth", "User").objects.create(username="officer")
        now = timezone.now()
        gate = old.get_model("inbox", "Gate").objects.create(
            gate_id="loan-x--g1", workflow_id="loan-x", agent="loans", kind="loan_decision", subject="x",
            submitted_by="intake", recommendation="approve", rationale="", model="m", role="credit_officer",
            sla_seconds=60, opened_at=now, deadline=now, version=1,
        )  # fmt: skip
        attempts = old.get_model("inbox", "DecisionAttempt").objects
        first = attempts.create(update_id="decide:loan-x--g1:1", gate=gate, reviewer=user, decision="approve")
        attempts.filter(pk=first.pk).update(
            status="undelivered", created_at=now - timezone.timedelta(minutes=5)
        )
        second = attempts.create(update_id="decide:loan-x--g1:2", gate=gate, reviewer=user, decision="reject")
        attempts.filter(pk=second.pk).update(status="undelivered")

        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)

        new = executor.loader.project_state(AFTER).apps.get_model("inbox", "ActionAttempt").objects
        assert new.get(pk=second.pk).status == "undelivered"
        withdrawn = new.get(pk=first.pk)
        assert withdrawn.status == "withdrawn" and "newer decision" in withdrawn.detail
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_gates_escalated_before_past_roles_were_kept_get_them_from_their_policy():
    before, after = (
        [("inbox", "0010_gate_past_roles_and_claim_required")],
        [("inbox", "0011_gate_past_roles_backfill")],
    )
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    try:
        now = timezone.now()
        common = dict(
            agent="loans", kind="loan_decision", subject="x", submitted_by="intake", recommendation="approve",
            rationale="", model="m", opened_at=now, version=2,
        )  # fmt: skip
        gates = old.get_model("inbox", "Gate").objects
        gates.create(gate_id="loan-e--g1", workflow_id="loan-e", role="senior_credit_officer", escalation_level=1,
                     sla_seconds=600, deadline=now + timezone.timedelta(minutes=10), **common)  # fmt: skip
        gates.create(gate_id="loan-p--g1", workflow_id="loan-p", role="credit_officer", sla_seconds=600,
                     deadline=now, **common)  # fmt: skip

        executor = MigrationExecutor(connection)
        executor.migrate(after)

        new = executor.loader.project_state(after).apps.get_model("inbox", "Gate").objects
        escalated, plain = new.get(pk="loan-e--g1"), new.get(pk="loan-p--g1")
        assert (escalated.past_roles, escalated.moved_at) == (["credit_officer"], now)
        assert (plain.past_roles, plain.moved_at) == ([], None)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_pending_gates_written_before_flags_were_kept_get_their_agents_flags():
    before, after = [("inbox", "0011_gate_past_roles_backfill")], [("inbox", "0012_gate_flags")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    try:
        common = loan_gate_fields()
        checked = [
            {"name": "loans.credit_bureau", "ok": True, "result": {"bureau_score": 720}},
            {"name": "loans.affordability", "ok": True, "result": {"debt_to_income": 0.2}},
            {
                "name": "loans.lending_policy_check",
                "ok": True,
                "result": {"passed": True},
                "requested_by": "framework",
            },
        ]
        gates = old.get_model("inbox", "Gate").objects
        gates.create(gate_id="loan-u--g1", workflow_id="loan-u", **common)
        gates.create(gate_id="loan-c--g1", workflow_id="loan-c", tool_results=checked, **common)
        gates.create(gate_id="loan-d--g1", workflow_id="loan-d", status="approved", **common)

        executor = MigrationExecutor(connection)
        executor.migrate(after)

        new = executor.loader.project_state(after).apps.get_model("inbox", "Gate").objects
        assert new.get(pk="loan-u--g1").flags == [
            "No lending policy check in the evidence: check the policy before deciding."
        ]
        assert new.get(pk="loan-c--g1").flags == []
        assert new.get(pk="loan-d--g1").flags == []  # decided: nothing is offered for it any more
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_a_gate_an_older_portal_inserts_during_a_rolling_deploy_is_flagged_not_refused():
    """A worker or portal still on code from before flags writes a gate after the migration: its
    insert names no flags column. It is taken (a refused insert would fail that worker's every
    publish until it was replaced), and the row is flagged as not checked, so it is never offered
    for a bulk decision before the run's next write works its flags out."""
    from reviewer_portal.inbox.models import FLAGS_NOT_WORKED_OUT, Gate
    from reviewer_portal.inbox.selectors import BULK_ELIGIBLE

    executor = MigrationExecutor(connection)
    older = executor.loader.project_state([("inbox", "0011_gate_past_roles_backfill")]).apps
    older.get_model("inbox", "Gate").objects.create(
        gate_id="loan-o--g1", workflow_id="loan-o", **loan_gate_fields()
    )

    row = Gate.objects.get(pk="loan-o--g1")
    assert row.flags == [FLAGS_NOT_WORKED_OUT]
    assert not Gate.objects.filter(BULK_ELIGIBLE, pk=row.pk).exists()
    assert Gate.objects.filter(BULK_ELIGIBLE).count() == 0


@pytest.mark.django_db(transaction=True)
def test_migrate_works_the_flags_of_pending_gates_out_again_under_the_rules_deployed():
    """A release that changes an agent's rules: its `migrate` leaves no pending row with the old
    rules' flags, so the inbox neither offers a gate the new rules flag for a bulk decision nor
    withholds one they no longer flag. A decided gate keeps what it was decided with."""
    from django.core.management import call_command

    from reviewer_portal.inbox.models import Gate
    from reviewer_portal.inbox.selectors import BULK_ELIGIBLE

    common = loan_gate_fields()
    checked = [
        {"name": "loans.credit_bureau", "ok": True, "result": {"bureau_score": 720}},
        {
            "name": "loans.lending_policy_check",
            "ok": True,
            "result": {"passed": True},
            "requested_by": "framework",
        },
    ]
    Gate.objects.create(gate_id="loan-n--g1", workflow_id="loan-n", flags=[], **common)  # now flagged
    Gate.objects.create(
        gate_id="loan-k--g1", workflow_id="loan-k", tool_results=checked, flags=["old"], **common
    )
    Gate.objects.create(gate_id="loan-a--g1", workflow_id="loan-a", status="approved", flags=[], **common)

    call_command("migrate", verbosity=0)

    flags = dict(Gate.objects.values_list("gate_id", "flags"))
    assert flags == {
        "loan-n--g1": ["No lending policy check in the evidence: check the policy before deciding."],
        "loan-k--g1": [],
        "loan-a--g1": [],
    }
    eligible = Gate.objects.filter(BULK_ELIGIBLE, status="pending").values_list("gate_id", flat=True)
    assert list(eligible) == ["loan-k--g1"]


@pytest.mark.django_db(transaction=True)
def test_migrating_back_to_before_flags_and_forward_again_works_out_the_flags_only_forward():
    """A release rolled back: `migrate inbox 0011` leaves a table without flags, which the refresh
    that ends each migrate must then leave alone, not fail on; forward again, it works them out."""
    from django.core.management import call_command

    from reviewer_portal.inbox.models import Gate

    try:
        call_command("migrate", "inbox", "0011_gate_past_roles_backfill", verbosity=0)
        with connection.cursor() as cursor:
            columns = [c.name for c in connection.introspection.get_table_description(cursor, "inbox_gate")]
        assert "flags" not in columns
    finally:
        call_command("migrate", verbosity=0)
    assert Gate.objects.filter(status="pending").count() == 0  # and the table is usable again


@pytest.mark.django_db(transaction=True)
def test_migrating_the_inbox_to_zero_and_another_app_alone_still_end_cleanly():
    """Django sends post_migrate after every migrate, of any app: with the inbox unapplied, the
    refresh has no gates to look at and must not fail the command."""
    from django.core.management import call_command

    try:
        call_command("migrate", "inbox", "zero", verbosity=0)
        call_command("migrate", "auth", verbosity=0)
    finally:
        call_command("migrate", verbosity=0)
