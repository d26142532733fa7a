"""The customer inquiry agent on the team's own worker and task queue (`run_worker --domain
customer_service`, a real subprocess): its CRM lookup and policy search run there, a support
representative checks (and edits) the reply before it is sent, and a failing lookup is retried by
the platform and then referred to the representative."""

from __future__ import annotations

import json
import os
import signal
import uuid

import pytest

from agents.customer_service import INQUIRY_AGENT, SUPPORT_REP
from tests.actions import decide
from tests.conftest import agent_input_for, record_history, start_run, wait_for_gate
from tests.test_sidecar import manage

pytestmark = pytest.mark.once  # an agent on Temporal, not the portal's database: one CI pass


def inquiry(temporal, queue: str, customer_id: str, topic: str):
    case = {"customer_id": customer_id, "topic": topic}
    agent_input = agent_input_for(
        INQUIRY_AGENT, f"Inquiry from {customer_id}: {topic}", case, submitted_by="contact-centre"
    )
    return start_run(temporal, queue, agent_input, prefix="inquiry")


def test_the_teams_own_worker_serves_its_queue_and_a_rep_checks_each_reply(temporal, tmp_path):
    queue = f"customer-service-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite3'}",
        "TEMPORAL_ADDRESS": temporal.address,
        "AGENT_PACKAGES": "agents.loans,agents.customer_service",
        "AGENT_DOMAINS": json.dumps({"customer_service": {"task_queue": queue}}),
    }
    assert manage("migrate", "-v0", env=env).wait(60) == 0
    worker = manage("run_worker", "--domain", "customer_service", env=env)
    try:
        plan = next(line for line in worker.stdout if line.startswith("Worker:"))
        answered = inquiry(temporal, queue, "CUST-2001", "card fees")
        unknown = inquiry(temporal, queue, "CUST-9999", "card fees")
        gate = wait_for_gate(temporal, answered)
        referred = wait_for_gate(temporal, unknown)
        edited = gate.recommendation.proposal["reply"].replace("thank you for asking", "thanks for asking")
        decide(temporal, answered, gate.gate_id, reason="Checked.", reviewer="support", roles=[SUPPORT_REP],
               edits={"reply": edited})  # fmt: skip
        result = temporal.run(answered.result(), timeout=60)
        record_history(temporal, answered, "customer_service_reply_edited_and_sent")
        temporal.run(unknown.terminate("test done"))
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=40)
    finally:
        worker.kill()

    assert f"task queue {queue}, agents customer_service," in plan
    assert (
        gate.role == SUPPORT_REP
        and "Foreign transaction fees are 2.75 %" in gate.recommendation.proposal["reply"]
    )
    assert result.action == {"sent_to": "CUST-2001", "reply": edited, "approved_by": "support"}
    crm = next(r for r in referred.tool_results if r.name == "customer_service.crm_lookup")
    assert not crm.ok and "No customer CUST-9999" in crm.error
    assert referred.recommendation.outcome == "refer"
