"""A run started outside the portal cannot trust a key of its starter's choosing.

Anyone holding a Temporal credential can start an agent run, and the run's input says which keys it
trusts. Before the worker's keyring, such a run pinned the starter's own key and then accepted
"approve" from any officer, signed with it: the inbox, the audit trail and "My decisions" showed it
as that officer's decision. Now each worker holds the portal's published public keys
(PORTAL_PUBLIC_KEYS, `signing_key keyring`) and refuses, in the Update's validator, a signed action
whose key is not among them: nothing reaches history.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from agents.framework.contract import ACTION_REFUSED, DECISION_REFUSED
from agents.framework.types import VerifyingKey
from agents.framework.workflow import AgentWorkflow
from agents.support import SUPPORT_AGENT
from agents.support.contract import REP_REPLY, SUPPORT_WORKFLOW, SupportInput, TurnReply
from reviewer_portal.conversations.tokens import new_conversation_id, token_for
from reviewer_portal.trust.keys import generate, rotate
from reviewer_portal.trust.public_keys import keyring_from_json, merged_keyring, worker_keyring
from tests import actions
from tests.actions import OFFICER
from tests.conftest import event_types, loan_input, start_loan, wait_for_gate
from tests.test_advice import ADVISER, advice_input, start_advice
from tests.test_signed_actions import UPDATE_EVENTS
from tests.test_support_conversation import say
from tests.test_support_rules import signed

pytestmark = pytest.mark.once  # Temporal and the worker, not the portal's database: one CI pass

STRANGER = generate(key_id="stranger")


def pinned_to(key) -> list[VerifyingKey]:
    return [VerifyingKey(key.key_id, key.public_key)]


def refused(send) -> WorkflowUpdateFailedError:
    with pytest.raises(WorkflowUpdateFailedError) as refusal:
        send()
    return refusal.value


@pytest.fixture
def own_run(temporal, worker):
    """A loan run a raw client started, pinning the stranger's key only."""
    handle = start_loan(temporal, worker, dataclasses.replace(loan_input(), trusted_keys=pinned_to(STRANGER)))
    yield handle, wait_for_gate(temporal, handle)
    with contextlib.suppress(RPCError):
        temporal.run(handle.terminate("test done"))


def test_a_run_that_pinned_its_starters_key_accepts_no_action_signed_with_it(temporal, own_run):
    handle, gate = own_run
    stranger = {"key": STRANGER}

    claim = refused(
        lambda: actions.assign(temporal, handle, gate.gate_id, "officer", OFFICER, "officer", **stranger)
    )
    note = refused(lambda: actions.annotate(temporal, handle, gate.gate_id, "looks fine", **stranger))
    # Unclaimed, the loan's decision is refused by the run's own rule first; refused all the same.
    decision = refused(
        lambda: actions.decide(temporal, handle, gate.gate_id, claim_first=False, reason="ok", **stranger)
    )

    for refusal in (claim, note):
        assert refusal.cause.type == ACTION_REFUSED
        assert "a key the portal never published (stranger)" in refusal.cause.message
    assert decision.cause.type == DECISION_REFUSED
    assert not UPDATE_EVENTS & set(event_types(temporal, handle))
    still = temporal.run(handle.query(AgentWorkflow.gate))
    assert (still.status, still.assignee, still.annotations) == ("pending", "", [])


def advice_run(temporal, queue, pinned: list[VerifyingKey] | None = None):
    """An advice run (its gate needs no claim), pinning `pinned` (default: the portal's keys)."""
    agent_input = advice_input()
    if pinned is not None:
        agent_input = dataclasses.replace(agent_input, trusted_keys=pinned)
    handle = start_advice(temporal, queue, agent_input)
    return handle, wait_for_gate(temporal, handle)


def advice_refusal(temporal, handle, gate, key) -> str:
    refusal = refused(
        lambda: actions.decide(temporal, handle, gate.gate_id, "approve", "ok", "adviser-b", ADVISER, key=key)
    )
    assert refusal.cause.type == ACTION_REFUSED
    assert not UPDATE_EVENTS & set(event_types(temporal, handle))
    assert temporal.run(handle.query(AgentWorkflow.gate)).status == "pending"
    temporal.run(handle.terminate("test done"))
    return refusal.cause.message


def test_a_decision_signed_with_the_starters_key_is_refused(temporal, worker):
    handle, gate = advice_run(temporal, worker, pinned_to(STRANGER))

    assert "a key the portal never published (stranger)" in advice_refusal(temporal, handle, gate, STRANGER)


def test_a_stranger_key_under_the_portal_keys_id_is_refused(temporal, worker, portal_signing_key):
    impostor = dataclasses.replace(generate(), key_id=portal_signing_key.key_id)
    handle, gate = advice_run(temporal, worker, pinned_to(impostor))

    message = advice_refusal(temporal, handle, gate, impostor)

    assert f"a key the portal never published ({portal_signing_key.key_id})" in message


def test_a_stranger_cannot_chain_a_key_named_like_the_portals_to_its_own(
    temporal, worker, portal_signing_key
):
    # The run pins the stranger, who endorses a key named like the portal's next one: the run's own
    # chain trusts it, the worker's keyring does not.
    impostor = rotate(STRANGER, key_id=portal_signing_key.key_id + "-next")
    handle, gate = advice_run(temporal, worker, pinned_to(STRANGER))

    assert "a key the portal never published" in advice_refusal(temporal, handle, gate, impostor)


def test_the_portals_own_run_still_takes_its_decisions(temporal, worker):
    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)

    decided = actions.decide(temporal, handle, gate.gate_id, reason="Within policy")

    assert decided.change.changes["status"] == "approved"
    assert temporal.run(handle.result()).outcome == "approved"


def test_a_key_the_workers_were_not_told_of_is_refused_even_by_a_run_that_trusts_it(
    temporal, worker, portal_signing_key
):
    handle, gate = advice_run(temporal, worker)  # pins the portal's key
    # Rotated without telling the workers: the run's chain trusts the new key, the worker does not.
    unannounced = rotate(portal_signing_key, key_id="unannounced")

    assert "a key the portal never published (unannounced)" in advice_refusal(
        temporal, handle, gate, unannounced
    )


def test_a_conversation_that_pinned_its_starters_key_takes_no_rep_reply_signed_with_it(
    temporal, portal, client, raw_client
):
    conversation_id = new_conversation_id()
    start_input = SupportInput(
        customer_id="CUST-2001", spec=SUPPORT_AGENT.pin(), trusted_keys=pinned_to(STRANGER)
    )
    temporal.run(
        temporal.client.start_workflow(SUPPORT_WORKFLOW, start_input, id=conversation_id, task_queue=portal)
    )
    conversation = (conversation_id, token_for(conversation_id))
    assert say(client, conversation, "Can I speak to a person, please?").json()["status"] == "handed_off"
    handle = raw_client.get_workflow_handle(conversation_id)
    action, update_id = signed(REP_REPLY, "Refund approved.", key=STRANGER, conversation_id=conversation_id)
    updates_before = event_types(temporal, handle).count("EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED")

    refusal = refused(
        lambda: temporal.run(handle.execute_update(REP_REPLY, action, id=update_id, result_type=TurnReply))
    )

    assert "a key the portal never published (stranger)" in refusal.cause.message
    updates = event_types(temporal, handle).count("EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED")
    assert updates == updates_before


def test_the_workers_keyring_is_what_signing_key_public_prints_and_a_rotation_adds_to_it(
    tmp_path, settings, portal_signing_key
):
    printed = StringIO()
    call_command("signing_key", "public", stdout=printed)
    workers = tmp_path / "workers.json"
    workers.write_text(printed.getvalue())
    settings.PORTAL_SIGNING_KEY = rotate(portal_signing_key, key_id="next").to_json()
    during = StringIO()
    call_command("signing_key", "public", "--merge", str(workers), stdout=during)
    after = StringIO()
    call_command("signing_key", "public", stdout=after)

    assert keyring_from_json(printed.getvalue()) == {portal_signing_key.key_id: portal_signing_key.public_key}
    assert set(keyring_from_json(during.getvalue())) == {portal_signing_key.key_id, "next"}
    assert set(keyring_from_json(after.getvalue())) == {
        "next"
    }  # the retired key signs nothing a worker takes


def test_a_worker_given_no_keyring_takes_the_key_it_signs_with_and_no_retired_one(
    settings, portal_signing_key
):
    settings.PORTAL_SIGNING_KEY = rotate(portal_signing_key, key_id="after-rotation").to_json()

    assert set(worker_keyring()) == {"after-rotation"}


def test_a_keyring_set_twice_is_refused(settings, portal_signing_key, tmp_path):
    settings.PORTAL_PUBLIC_KEYS = json.dumps([{"key_id": "a", "public_key": portal_signing_key.public_key}])
    settings.PORTAL_PUBLIC_KEYS_FILE = str(tmp_path / "keyring.json")

    with pytest.raises(ImproperlyConfigured, match="not both"):
        worker_keyring()


@pytest.mark.parametrize(
    "document, message",
    [
        ("", "not JSON"),
        ("{}", "a list"),
        ("[]", "at least one key"),
        ('[{"key_id": "a"}]', "key_id and public_key"),
        ('[{"key_id": "a", "public_key": "not base64!"}]', "not an Ed25519 public key"),
        ('[{"key_id": "a", "public_key": "AAAA"}]', "not an Ed25519 public key"),
    ],
)
def test_a_malformed_keyring_is_refused_by_name(document, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        keyring_from_json(document)


def test_merging_keyrings_keeps_every_key_and_refuses_one_id_with_two_keys(portal_signing_key):
    other = generate(key_id="other")
    mine = VerifyingKey(portal_signing_key.key_id, portal_signing_key.public_key)

    merged = merged_keyring([mine], [VerifyingKey(other.key_id, other.public_key), mine])

    assert merged == [mine, VerifyingKey(other.key_id, other.public_key)]
    with pytest.raises(ValueError, match=portal_signing_key.key_id):
        merged_keyring([mine], [VerifyingKey(mine.key_id, other.public_key)])
