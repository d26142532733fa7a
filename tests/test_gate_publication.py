"""Only an agent's own run publishes its gates: a workflow started by anyone who may start
workflows in a namespace (an operator, a compromised worker of another domain) and that calls the
portal's publish activity cannot overwrite another run's gate or put a gate into another domain's
queue. Each attempt is refused, non-retryable, and the projection keeps what it had."""

from __future__ import annotations

import dataclasses
import json
import uuid

from temporalio.converter import AdvancedJSONEncoder, value_to_type
from temporalio.worker import Worker

from agents.framework.run_checks import RunChecks
from agents.framework.types import GateSnapshot
from agents.framework.worker_keyring import WorkerKeyring
from reviewer_portal.domains import domain_of
from reviewer_portal.inbox.models import ActionAttempt, Gate
from reviewer_portal.temporal_client import seal_keys
from reviewer_portal.trust.public_keys import worker_keyring
from tests.agents.forger import GateForger
from tests.conftest import logged_in, make_user, submit_loan_application
from tests.test_namespaces import split_domains, wait_for_projected  # noqa: F401 (fixture)


def forge(
    temporal,
    namespace: str,
    publish_queue: str,
    snapshot: GateSnapshot | dict,
    workflow_id: str,
    activity: str = "publish_gate_change",
) -> str:
    """Run GateForger in `namespace` with `snapshot`, calling `activity` on the portal's queue;
    what it was answered. Its worker holds the namespace's keys, as a compromised worker of
    another domain would, so its activities carry a worker's seal and reach the publish
    activity's own checks (without them, the seal alone refuses them: tests/test_poller_attacks.py)."""
    fields = snapshot if isinstance(snapshot, dict) else dataclasses.asdict(snapshot)
    publication = {"snapshot": json.loads(json.dumps(fields, cls=AdvancedJSONEncoder))}

    async def run() -> str:
        client = await temporal.client_of(namespace)
        queue = f"forger-{uuid.uuid4().hex[:8]}"
        checks = RunChecks(worker_keyring(), seal_keys(namespace))
        async with Worker(
            client, task_queue=queue, workflows=[GateForger], interceptors=[WorkerKeyring(checks)]
        ):
            return await client.execute_workflow(
                GateForger.run, args=[publication, publish_queue, activity], id=workflow_id, task_queue=queue
            )

    return temporal.run(run())


def test_a_run_cannot_publish_another_runs_gate_or_into_another_domain(temporal, split_domains):  # noqa: F811
    submission_id = str(uuid.uuid4())
    submit_loan_application(logged_in(make_user("intake", "credit_officer")), submission_id)
    real = wait_for_projected(f"loan-{submission_id}")
    loans_queue = domain_of("loans").task_queue
    genuine = value_to_type(GateSnapshot, real.snapshot)
    approved = dataclasses.replace(genuine, version=genuine.version + 5, status="approved", reason="Forged.")

    overwrite = forge(temporal, "loans", loans_queue, approved, workflow_id=f"forger-{uuid.uuid4().hex[:8]}")
    forger_id = f"forger-{uuid.uuid4().hex[:8]}"
    elsewhere = dataclasses.replace(
        genuine, gate_id=f"{forger_id}--g1", workflow_id=forger_id, agent="advice", role="licensed_adviser"
    )
    into_advice = forge(temporal, "loans", loans_queue, elsewhere, workflow_id=forger_id)

    assert overwrite.startswith("refused") and "another run" in overwrite
    assert into_advice.startswith("refused") and "namespace" in into_advice
    real.refresh_from_db()
    assert (real.status, real.version) == ("pending", genuine.version)
    assert not Gate.objects.filter(workflow_id=forger_id).exists()


def test_a_run_of_another_namespace_under_the_same_workflow_id_cannot_take_a_gate_over(
    temporal,
    split_domains,  # noqa: F811
):
    """Workflow ids are unique only within a namespace: a run in the advice namespace started under
    a loan run's workflow id passes the gate-id check. It names its own agent (advice, which does run
    in its namespace), so only the row already there shows the gate is not its to publish. Refused
    for good, and the loan gate keeps its agent, its content, and so where its decisions are sent."""
    submission_id = str(uuid.uuid4())
    submit_loan_application(logged_in(make_user("intake", "credit_officer")), submission_id)
    real = wait_for_projected(f"loan-{submission_id}")
    genuine = value_to_type(GateSnapshot, real.snapshot)
    taken = dataclasses.replace(
        genuine, agent="advice", version=genuine.version + 5, subject="Forged", status="approved"
    )

    answer = forge(temporal, "advice", domain_of("advice").task_queue, taken, workflow_id=real.workflow_id)

    assert answer.startswith("refused") and "namespace" in answer, answer
    real.refresh_from_db()
    assert (real.agent, real.subject, real.status, real.version) == (
        "loans",
        genuine.subject,
        "pending",
        genuine.version,
    )


def test_a_gate_names_as_its_deciding_action_only_an_action_on_itself(
    temporal,
    split_domains,  # noqa: F811
):
    """A run's gate says which action decided it, and the portal marks that action accepted. A
    forger's own gate naming an action on another case (its id learnt somehow) leaves that action as
    it was: still to be delivered to its own run."""
    officer = make_user("officer", "credit_officer")
    submission_id = str(uuid.uuid4())
    submit_loan_application(logged_in(make_user("intake", "credit_officer")), submission_id)
    real = wait_for_projected(f"loan-{submission_id}")
    waiting = ActionAttempt.objects.create(
        action="annotate",
        action_id=f"{real.gate_id}:annotate:{uuid.uuid4()}",
        gate=real,
        reviewer=officer,
        text="Check the income.",
        status=ActionAttempt.Status.UNDELIVERED,
    )
    forger_id = f"forger-{uuid.uuid4().hex[:8]}"
    genuine = value_to_type(GateSnapshot, real.snapshot)
    own = dataclasses.replace(
        genuine,
        gate_id=f"{forger_id}--g1",
        workflow_id=forger_id,
        status="approved",
        decided_by="officer",
        decision_id=waiting.action_id,
    )

    answer = forge(temporal, "loans", domain_of("loans").task_queue, own, workflow_id=forger_id)

    assert not answer.startswith("refused"), answer  # its own gate: published
    assert Gate.objects.filter(gate_id=own.gate_id, status="approved").exists()
    waiting.refresh_from_db()
    assert waiting.status == ActionAttempt.Status.UNDELIVERED
