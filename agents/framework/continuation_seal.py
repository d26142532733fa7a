"""Sealed continuations: a run continued as new goes on only if a worker continued it.

A continued run skips the start check (agents.framework.start_claims) and takes its carry as its
own (agents.framework.carry_origin): the server made it from a run that was checked. But the server
makes a continued run from whatever continue-as-new a workflow task's completion asks for, and
anyone whose Temporal credential may poll a task queue can complete a task: start a run on a queue
of their own, complete its first task with a continue-as-new onto the agents' queue, and the new
run would begin with any carry, a gate "approved by" any officer among it.

So every worker seals the continue-as-new its runs make: an HMAC over the workflow type and id and
the run it continues, in a header, under a key derived from the namespace's payload keys (every
worker of the namespace holds them; a Temporal credential alone does not). The continued run's
first task checks the seal before it does anything. A run continues as new once, and its seal
reaches history only with that continue-as-new, so a seal copied from history fits no other run.
The input is not sealed: the SDK serialises it when the task completes, after handlers that ran
later in the same task may have added to it (an Update's id to the applied ones), and a seal over
what the worker itself sends would add nothing the run id does not. Keys rotate with the payload
keys: a seal names its key, and every key the codec still holds verifies.

Pure but for deriving the keys (`cryptography`), which the worker does outside the sandbox.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from temporalio.api.common.v1 import Payload

from agents.framework.codec import NamespaceKeys

CONTINUATION_HEADER = "reviewer-portal-continuation"
CONTINUATION_PREFIX = b"reviewer-portal/continuation/v1\n"
KEY_INFO = b"reviewer-portal/continuation-key/v1/"


class UnknownSealKey(RuntimeError):
    """A seal names a key this worker does not hold: a worker left out of a payload key rotation,
    most likely. Not the run's failure: raised in the workflow task, which is tried again (as a
    payload under a key the worker lacks is), so a worker given the key takes it up."""


@dataclass(frozen=True)
class ContinuationKeys:
    """The keys a worker seals continuations with: `current` seals, every key verifies."""

    current: str
    keys: Mapping[str, bytes]

    @classmethod
    def derived_from(cls, payload_keys: NamespaceKeys, namespace: str) -> ContinuationKeys:
        """One key for each of the namespace's payload keys, under the same id."""
        derived = {
            key_id: HKDF(SHA256(), 32, salt=None, info=KEY_INFO + f"{namespace}/{key_id}".encode()).derive(
                key
            )
            for key_id, key in payload_keys.keys.items()
        }
        return cls(payload_keys.current, derived)

    def seal(self, *, workflow_type: str, workflow_id: str, continued_run_id: str) -> Payload:
        """The header a continue-as-new carries."""
        claims = _claims(workflow_type, workflow_id, continued_run_id, self.current)
        tag = hmac.new(self.keys[self.current], claims, hashlib.sha256).hexdigest()
        body = json.dumps({"key_id": self.current, "tag": tag}, sort_keys=True).encode()
        return Payload(metadata={"encoding": b"json/plain"}, data=body)

    def refusal(
        self,
        header: Payload | None,
        *,
        workflow_type: str,
        workflow_id: str,
        continued_run_id: str,
    ) -> str | None:
        """Why a continued run with this header must not go on; None if a worker sealed it."""
        seal = _read(header)
        if seal is None:
            return (
                "This run continues another, but no worker of this namespace continued it: it was "
                "made by a client completing a task itself, and nothing was done."
            )
        key_id, tag = seal
        key = self.keys.get(key_id)
        if key is None:
            raise UnknownSealKey(
                f"This run's continuation is sealed with payload key {key_id!r}, which this worker does not "
                "hold: give every worker the namespace's current payload keys. The task is tried again."
            )
        claims = _claims(workflow_type, workflow_id, continued_run_id, key_id)
        expected = hmac.new(key, claims, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(tag.encode(), expected.encode()):  # any text a forger wrote
            return (
                "This run's continuation seal does not match it: a worker sealed the continuation of "
                "another run. Nothing was done."
            )
        return None


def _claims(workflow_type: str, workflow_id: str, continued_run_id: str, key_id: str) -> bytes:
    fields = {
        "workflow_type": workflow_type,
        "workflow_id": workflow_id,
        "continued_run_id": continued_run_id,
        "key_id": key_id,
    }
    return CONTINUATION_PREFIX + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def _read(header: Payload | None) -> tuple[str, str] | None:
    if header is None:
        return None
    try:
        fields = json.loads(header.data)
        key_id, tag = fields["key_id"], fields["tag"]
    except (ValueError, TypeError, KeyError):
        return None
    return (key_id, tag) if isinstance(key_id, str) and isinstance(tag, str) else None
