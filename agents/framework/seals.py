"""Seals: what only a holder of the namespace's payload keys can make (the portal, the workers).

A Temporal credential that may poll a task queue can complete a workflow task as if it were a
worker. Without anything more it could start a run on a queue of its own and complete its first
task with a continue-as-new onto the agents' queue, carrying a gate "approved by" any officer;
start a run with eager execution and complete its first task itself, so the real worker only ever
replays it (and a replay checked nothing); or schedule the agents' activities (issue the offer,
publish the gate) from its own run, onto the agents' queue. So three things carry a seal, an HMAC
in a header under a key derived (HKDF) from the namespace's payload keys:

- a start (made by the portal's client, beside its Ed25519 signature): the workflow type and id
  and a digest of the input;
- a continue-as-new (made by the worker's interceptor): the workflow type and id and the run it
  continues. A run continues as new once, and its seal reaches history only with it, so a seal
  copied from history fits no other run. The input is not sealed: the SDK serialises it when the
  task completes, after handlers later in the same task may have added to it;
- an activity (made by the worker's interceptor when its run schedules it): the workflow id, the
  run that schedules it and the activity's type.

Workers check a run's start or continuation seal every time they execute it, replays included
(agents.framework.worker_keyring), and an activity's before running it. Seals verify across payload
key rotations: a seal names its key, and every key the codec still holds verifies.

Pure but for deriving the keys (`cryptography`), which each process does outside the sandbox.
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

START, CONTINUATION, ACTIVITY = "start", "continuation", "activity"
HEADERS = {
    START: "reviewer-portal-start-seal",
    CONTINUATION: "reviewer-portal-continuation",
    ACTIVITY: "reviewer-portal-activity-seal",
}
KEY_INFO = b"reviewer-portal/continuation-key/v1/"  # the first seal's: kept, so its seals still verify


class UnknownSealKey(RuntimeError):
    """A seal names a key this worker does not hold: a worker left out of a payload key rotation,
    most likely. Not the run's failure: raised in the workflow task, which is tried again (as a
    payload under a key the worker lacks is), so a worker given the key takes it up."""


@dataclass(frozen=True)
class SealKeys:
    """The keys seals are made with: `current` seals, every key verifies."""

    current: str
    keys: Mapping[str, bytes]

    @classmethod
    def derived_from(cls, payload_keys: NamespaceKeys, namespace: str) -> SealKeys:
        """One key for each of the namespace's payload keys, under the same id."""
        derived = {
            key_id: HKDF(SHA256(), 32, salt=None, info=KEY_INFO + f"{namespace}/{key_id}".encode()).derive(
                key
            )
            for key_id, key in payload_keys.keys.items()
        }
        return cls(payload_keys.current, derived)

    def tag(self, kind: str, claims: Mapping[str, str], key_id: str) -> str:
        """The HMAC of `claims` as a `kind`, under `key_id`, in hex."""
        return hmac.new(self.keys[key_id], _message(kind, claims, key_id), hashlib.sha256).hexdigest()

    def seal(self, kind: str, claims: Mapping[str, str]) -> Payload:
        """The header that vouches for `claims` as a `kind` (START, CONTINUATION, ACTIVITY)."""
        tag = self.tag(kind, claims, self.current)
        body = json.dumps({"key_id": self.current, "tag": tag}, sort_keys=True).encode()
        return Payload(metadata={"encoding": b"json/plain"}, data=body)

    def refusal(self, header: Payload | None, kind: str, claims: Mapping[str, str]) -> str | None:
        """Why `header` does not vouch for `claims` as a `kind`; None if it does. Raises
        UnknownSealKey for a key this process does not hold."""
        seal = _read(header)
        if seal is None:
            return f"It carries no {kind} seal: no holder of this namespace's keys made it."
        key_id, tag = seal
        if key_id not in self.keys:
            raise UnknownSealKey(
                f"A {kind} seal names payload key {key_id!r}, which this worker does not hold: give every "
                "worker the namespace's current payload keys. The task is tried again."
            )
        if not hmac.compare_digest(tag.encode(), self.tag(kind, claims, key_id).encode()):  # any text
            return f"Its {kind} seal does not match it: it was made for another run, or altered."
        return None


def _message(kind: str, claims: Mapping[str, str], key_id: str) -> bytes:
    fields = {**claims, "key_id": key_id}
    prefix = (
        b"reviewer-portal/continuation/v1\n"
        if kind == CONTINUATION
        else f"reviewer-portal/{kind}/v1\n".encode()
    )
    return prefix + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def _read(header: Payload | None) -> tuple[str, str] | None:
    if header is None:
        return None
    try:
        fields = json.loads(header.data)
        key_id, tag = fields["key_id"], fields["tag"]
    except (ValueError, TypeError, KeyError):
        return None
    return (key_id, tag) if isinstance(key_id, str) and isinstance(tag, str) else None
