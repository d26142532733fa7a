"""A fuzz of malformed and forged reviewer actions against one waiting run on the real dev server.

Every payload goes through a plain client, the way anyone holding a Temporal credential could
send it: shapes the payload converter cannot read, unsigned ones, signed ones tampered with
afterwards, and ones signed for another run, gate, Update, time or key. None may be applied, none
may fail a workflow task, and the run must answer a real decision at once afterwards.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from django.utils import timezone
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.converter import AdvancedJSONEncoder
from temporalio.service import RPCError

from agents.framework.reviewer_actions import AnnotateInput, AssignInput
from reviewer_portal.trust.keys import generate
from reviewer_portal.trust.signer import sign_action
from tests import actions
from tests.conftest import event_types, start_loan, wait_for_gate

CASES = 520
SEED = 20261126
ODD_VALUES: list[Any] = [
    None, 0, -1, 1.5, True, [], {}, [1, 2], {"a": 1}, "", " ", "x" * 3000, "\ud800", "\x00", "\u202e",
    "credit_officer", ["credit_officer"], ["admin"], {"credit_officer": True}, "approve", "🙂" * 50,
]  # fmt: skip


def test_hundreds_of_malformed_or_forged_updates_are_all_refused_and_harm_nothing(
    temporal, worker, raw_client
):
    handle = start_loan(temporal, worker)
    gate = wait_for_gate(temporal, handle)
    raw = raw_client.get_workflow_handle(handle.id)
    rng = random.Random(SEED)
    cases = [_case(rng, handle.id, gate.gate_id, n) for n in range(CASES)]

    outcomes = temporal.run(_send_all(raw, [case.sent for case in cases]), timeout=600)

    kinds = Counter(kind for kind, _ in outcomes)
    accepted = [case.about for (kind, _), case in zip(outcomes, cases, strict=True) if kind == "accepted"]
    assert accepted == [], f"{len(accepted)} accepted: {accepted}"
    assert kinds["refused"] >= CASES * 0.9, kinds  # a few shapes fail at the server, none pass
    events = event_types(temporal, handle)
    assert "EVENT_TYPE_WORKFLOW_TASK_FAILED" not in events
    assert "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED" not in events
    # The run answers at once: a real decision goes straight through.
    actions.decide(temporal, handle, gate.gate_id, reason="After the fuzz")
    assert temporal.run(handle.result()).outcome == "approved"


async def _send_all(raw, cases: list[tuple[str, object, str]]) -> list[tuple[str, str]]:
    # A run holds at most 10 Updates in flight: send 8 at a time.
    gate = asyncio.Semaphore(8)

    async def one(name: str, payload: object, update_id: str) -> tuple[str, str]:
        async with gate:
            try:
                await raw.execute_update(name, payload, id=update_id, rpc_timeout=timedelta(seconds=20))
            except WorkflowUpdateFailedError as err:
                return "refused", str(getattr(err.cause, "message", err))
            except RPCError as err:
                return "rpc-error", err.status.name
            return "accepted", ""

    return await asyncio.gather(*(one(*case) for case in cases))


@dataclasses.dataclass
class Case:
    sent: tuple[str, object, str]  # Update name, value, Update id
    about: str  # what was done to it, for a failure message


def _case(rng: random.Random, workflow_id: str, gate_id: str, n: int) -> Case:
    update_id = f"fuzz-{n}"
    name = rng.choice(["decide", "annotate", "assign"])
    kind = rng.choice(
        ["unsigned", "odd-field", "missing-field", "tampered", "wrong-context", "bad-key", "raw-bytes"]
    )
    valid = _valid_input(name, gate_id)
    about = f"{update_id} {name} {kind}"
    if kind == "raw-bytes":
        return Case((name, _raw_bytes(rng), update_id), about)
    if kind in ("unsigned", "odd-field", "missing-field"):
        data = _as_json(valid)
        if kind == "odd-field":
            field = rng.choice([f for f in sorted(data) if f != "signature"])
            data[field] = rng.choice([v for v in ODD_VALUES if v != data[field]])
            about += f" {field}={data[field]!r:.40}"
        elif kind == "missing-field":
            # Only fields whose absence changes the action (a default would just restore it).
            defaults = {f.name: f.default for f in dataclasses.fields(valid)}
            field = rng.choice([f for f in sorted(data) if f != "signature" and data[f] != defaults[f]])
            data.pop(field)
            about += f" without {field}"
        if kind != "unsigned" and rng.random() < 0.5:  # some carry the signature of the intact action
            data["signature"] = _as_json(
                sign_action(name, valid, workflow_id=workflow_id, update_id=update_id).signature
            )
            about += " with a stolen signature"
        return Case((name, _raw_json(data), update_id), about)
    if kind == "tampered":
        signed = _as_json(sign_action(name, valid, workflow_id=workflow_id, update_id=update_id))
        field = rng.choice(
            [f for f in sorted(signed) if f != "signature"] + ["signature.value", "signature.signed_at"]
        )
        if field.startswith("signature."):
            signed["signature"][field.split(".")[1]] = rng.choice(
                ["AAAA", "not base64!", "2020-01-01T00:00:00+00:00"]
            )
        else:
            signed[field] = _changed(rng, signed[field])
        return Case((name, _raw_json(signed), update_id), f"{about} {field}")
    if kind == "wrong-context":
        other = rng.choice(["workflow", "update", "gate"])
        signed = sign_action(
            name,
            dataclasses.replace(valid, gate_id=f"{gate_id}x") if other == "gate" else valid,
            workflow_id=f"{workflow_id}-other" if other == "workflow" else workflow_id,
            update_id=f"{update_id}-other" if other == "update" else update_id,
        )
        return Case((name, _raw_json(_as_json(signed)), update_id), f"{about} {other}")
    when = rng.choice([timedelta(minutes=-10), timedelta(hours=2), timedelta(0)])
    key = generate(key_id=f"stranger-{n}") if when == timedelta(0) else None
    signed = sign_action(
        name, valid, workflow_id=workflow_id, update_id=update_id, key=key, now=timezone.now() + when
    )
    return Case((name, _raw_json(_as_json(signed)), update_id), f"{about} {when} stranger={key is not None}")


def _valid_input(name: str, gate_id: str):
    action_id = f"{name}:{uuid.uuid4()}"
    if name == "decide":
        return dataclasses.replace(actions.decide_input(gate_id, reason="fuzz"), action_id=action_id)
    if name == "annotate":
        note = AnnotateInput(gate_id, "fuzz", "officer", ["credit_officer"])
        return dataclasses.replace(note, reviewer_id=actions.person_id("officer"), action_id=action_id)
    change = AssignInput(gate_id, "officer", ["credit_officer"], "officer", ["credit_officer"])
    officer = actions.person_id("officer")
    return dataclasses.replace(change, reviewer_id=officer, assignee_id=officer, action_id=action_id)


def _changed(rng: random.Random, value: Any) -> Any:
    if isinstance(value, str):
        return rng.choice(
            [f"{value}x", f"x{value}", "mallory" if value != "mallory" else "eve", ""] if value else ["x"]
        )
    if isinstance(value, list):
        return [*value, "admin"]
    if isinstance(value, dict):
        return {**value, "conditions": "none"}
    return rng.choice(ODD_VALUES)


def _raw_bytes(rng: random.Random) -> RawValue:
    data, encoding = rng.choice(
        [
            (b"{not json", b"json/plain"),
            (b"\xff\xfe\x00garbage", b"json/plain"),
            (b'"just a string"', b"json/plain"),
            (b"[1, 2, 3]", b"json/plain"),
            (b"\x08\x01", b"binary/protobuf"),
            (b"", b"binary/null"),
            (b'{"gate_id": "x"}', b"text/unknown"),
        ]
    )
    return RawValue(Payload(metadata={"encoding": encoding}, data=data))


def _raw_json(value: object) -> RawValue:
    return RawValue(Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode()))


def _as_json(value: object) -> Any:
    return json.loads(json.dumps(value, cls=AdvancedJSONEncoder))
