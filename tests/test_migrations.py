"""Migrations on data the old code could leave: the upgrade never fails on it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("inbox", "0008_gate_status_changes_requested")]
AFTER = [("inbox", "0009_signed_actions")]


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
